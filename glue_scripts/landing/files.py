"""Which landing objects are data files, and whether a file's header fits its data set (the preflight)."""

from __future__ import annotations

import csv
import io
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyspark.sql.types import (
    IntegerType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from glue_scripts.contracts import (
    EXTRA_FIELDS,
    LINEAGE_FIELDS,
    RAW_RECORD,
    RUN_ID,
    SOURCE_FILE,
    SOURCE_FILE_DIGEST,
    SOURCE_LINE,
    DatasetContract,
)
from glue_scripts.storage import LANDING, Store, StoredObject

HEADER_PROBE_BYTES = 64 * 1024
CORRUPT_RECORD = "_corrupt_record"
INGESTED_AT = "ingested_at"
# Files that are still being written by an uploader, or that are not data files at all.
IN_PROGRESS_MARKERS = (".tmp", ".part", ".crdownload", "_COPYING_", ".filepart")
WORKBOOK_SUFFIX = ".xlsx"
DATA_SUFFIXES = (".csv", ".csv.gz", WORKBOOK_SUFFIX)
# A zero-byte file younger than this may be an upload that has not written its first byte yet
# (FTP/SFTP servers and S3 file-system mounts create the file first): the landing sensor waits for
# it. Older, it is an empty delivery, requested like any file and quarantined by the run.
PLACEHOLDER_GRACE = timedelta(minutes=5)
# Keys Spark (Hadoop's Path and its glob) reads as they are; any other is read from a staged copy.
SPARK_SAFE_KEY = re.compile(r"[\w .\-/=+,@~()]+")


@dataclass(frozen=True)
class LandedFile:
    """A landing file that passed the header preflight, with its header column names.

    For a workbook: the header of its first sheet, and the names of all the sheets that are read.
    """

    object: StoredObject
    header: tuple[str, ...]
    sheets: tuple[str, ...] = ()


@dataclass(frozen=True)
class RefusedFile:
    """A landing file that cannot be read as its data set, and why."""

    object: StoredObject
    reason: str


def raw_schema(contract: DatasetContract) -> StructType:
    """The bronze table: every contract column as text, plus what did not fit and the lineage."""
    return StructType(
        [StructField(name, StringType()) for name in contract.column_names]
        + [
            StructField(RAW_RECORD, StringType()),
            StructField(EXTRA_FIELDS, MapType(StringType(), StringType())),
            StructField(SOURCE_FILE, StringType(), nullable=False),
            StructField(SOURCE_FILE_DIGEST, StringType(), nullable=False),
            StructField(SOURCE_LINE, IntegerType(), nullable=False),
            StructField(RUN_ID, StringType(), nullable=False),
            StructField(INGESTED_AT, TimestampType(), nullable=False),
        ]
    )


def landing_files(store: Store, dataset: str) -> list[StoredObject]:
    """Complete data files waiting in `landing/<dataset>/` (hidden and partial uploads skipped)."""
    return [obj for obj in store.list(f"{LANDING}/{dataset}") if is_complete_data_file(obj)]


def is_complete_data_file(obj: StoredObject) -> bool:
    return not_a_data_file(obj.name) is None


def not_a_data_file(name: str) -> str | None:
    """Why a file of this name is not taken from landing (hidden, an upload in progress, another kind), or None."""
    if name.startswith((".", "_")):
        return "a hidden file (its name starts with . or _)"
    if marker := next((marker for marker in IN_PROGRESS_MARKERS if marker in name), None):
        return f"an upload in progress ({marker} in its name)"
    if not name.lower().endswith(DATA_SUFFIXES):
        return f"not a data file ({', '.join(DATA_SUFFIXES)})"
    return None


def is_upload_placeholder(obj: StoredObject, now: datetime | None = None) -> bool:
    """A zero-byte file modified less than `PLACEHOLDER_GRACE` before `now` (default: the wall clock).

    The age is measured against the clock the file's modification time comes from, not a run's
    logical time. The landing sensor does not request such a file; a run that takes every waiting
    file (`lakehouse run`, a raw materialization without `files`) takes it as it is: quarantined.
    """
    return obj.size == 0 and (now or datetime.now(UTC)) - obj.modified_at < PLACEHOLDER_GRACE


def is_workbook(obj: StoredObject) -> bool:
    return obj.name.lower().endswith(WORKBOOK_SUFFIX)


def decode_header(head: bytes, compressed: bool) -> list[str] | str:
    """The header columns of a file from its first bytes, or the reason it cannot be read."""
    if compressed:
        try:
            head = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16).decompress(head, HEADER_PROBE_BYTES)
        except zlib.error as error:
            return f"not a readable gzip file ({error})"
    if not head.strip():
        return "empty file: no header line"
    first_line = head.splitlines()[0]
    try:
        text = first_line.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        return f"header is not UTF-8 text ({error.reason} at byte {error.start})"
    return [name.strip() for name in next(csv.reader(io.StringIO(text)))]


def header_problem(contract: DatasetContract, header: Sequence[str]) -> str | None:
    """Why rows under this header cannot be read as the data set, or None."""
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        return f"header repeats columns: {', '.join(duplicates)}"
    reserved = [name for name in header if name in LINEAGE_FIELDS]
    if reserved:
        return f"header uses names reserved for lineage: {', '.join(reserved)}"
    missing = [name for name in contract.column_names if name not in header]
    if missing:
        return (
            f"missing required columns for {contract.name}: {', '.join(missing)} "
            f"(header was: {', '.join(header) or '<empty>'})"
        )
    return None


def preflight(contract: DatasetContract, obj: StoredObject, header: list[str] | str) -> LandedFile | RefusedFile:
    if isinstance(header, str):
        return RefusedFile(obj, header)
    problem = header_problem(contract, header)
    return RefusedFile(obj, problem) if problem else LandedFile(obj, tuple(header))
