"""Reading landed files: header preflight, then every row as text with its lineage.

Columns are matched by header name: each file's header is read and checked against the contract
before Spark touches it, and a file that cannot be read as its data set is refused with a reason.
Spark then reads every value as a string, so validation can tell a bad value from an empty one.
Excel workbooks are read sheet by sheet, and a key Hadoop's paths cannot take is read from a copy
under `_staging/` (docs/ARCHITECTURE.md, "Reading landed files").
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
