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
    DATA_SUFFIXES,
    LandedFile,
    RefusedFile,
    is_complete_data_file,
    is_upload_placeholder,
    landing_files,
    not_a_data_file,
    raw_schema,
)
from glue_scripts.landing.reading import inspect_files, read_landed_files, staged_for_spark

__all__ = [
    "DATA_SUFFIXES",
    "LandedFile",
    "RefusedFile",
    "inspect_files",
    "is_complete_data_file",
    "is_upload_placeholder",
    "landing_files",
    "not_a_data_file",
    "raw_schema",
    "read_landed_files",
    "staged_for_spark",
]
