"""Reading landed files: header preflight, then every row as text with its lineage.

Columns are matched by header name, never by position: the header of each file is read first
(a few kilobytes) and checked against the contract. A file that cannot be read as its data set
(empty, undecodable, missing required columns, ambiguous header) is refused with a reason before
Spark touches it. Spark then reads every value as a string, so casting and validation happen
later, where a bad value can be told apart from an empty one.

Excel workbooks (`.xlsx`) are read too, because the lab ships its data that way: every sheet, not
only the first (the classic mistake, which silently keeps 1 day of 15). openpyxl reads them on the
driver in read-only mode into text rows like a CSV's, each sheet checked against the contract by
its own header. A workbook stays one landed file (one `source_file`, one ledger entry, one archive
move); its rows are numbered through the workbook (`source_line`: sheet after sheet, each sheet's
header counting as one line, so a row's identity stays file + line) and carry their sheet name and
row number in that sheet in `extra_fields` (`#sheet`, `#row`).

Landing keys come from whoever uploads, and Hadoop's paths cannot take all of them: a `:` in a
name fails the read ("Relative path in absolute URI"), `[`, `{`, `*`, `?` and `\\` are glob
patterns that match other files or none. A file whose key has anything but letters, digits and
` ._-/=+,@~()` is therefore read by Spark from a copy named by its digest under `_staging/`
(`staged_for_spark`), removed after the raw write; its rows keep the real key as lineage.
"""

from glue_scripts.landing.files import (
    CORRUPT_RECORD,
    DATA_SUFFIXES,
    HEADER_PROBE_BYTES,
    IN_PROGRESS_MARKERS,
    INGESTED_AT,
    PLACEHOLDER_GRACE,
    SPARK_SAFE_KEY,
    WORKBOOK_SUFFIX,
    LandedFile,
    RefusedFile,
    decode_header,
    header_problem,
    is_complete_data_file,
    is_upload_placeholder,
    is_workbook,
    landing_files,
    not_a_data_file,
    preflight,
    raw_schema,
)
from glue_scripts.landing.reading import (
    inspect_files,
    needs_staging,
    read_landed_file,
    read_landed_files,
    staged_for_spark,
    staging_key,
)
from glue_scripts.landing.workbook import (
    WorkbookSheet,
    cell_text,
    is_blank,
    open_workbook,
    preflight_workbook,
    read_workbook,
    workbook_records,
    workbook_sheets,
)

__all__ = [
    "CORRUPT_RECORD",
    "DATA_SUFFIXES",
    "HEADER_PROBE_BYTES",
    "INGESTED_AT",
    "IN_PROGRESS_MARKERS",
    "PLACEHOLDER_GRACE",
    "SPARK_SAFE_KEY",
    "WORKBOOK_SUFFIX",
    "LandedFile",
    "RefusedFile",
    "WorkbookSheet",
    "cell_text",
    "decode_header",
    "header_problem",
    "inspect_files",
    "is_blank",
    "is_complete_data_file",
    "is_upload_placeholder",
    "is_workbook",
    "landing_files",
    "needs_staging",
    "not_a_data_file",
    "open_workbook",
    "preflight",
    "preflight_workbook",
    "raw_schema",
    "read_landed_file",
    "read_landed_files",
    "read_workbook",
    "staged_for_spark",
    "staging_key",
    "workbook_records",
    "workbook_sheets",
]
