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

from __future__ import annotations

import csv
import io
import re
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from typing import Any

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
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
    SHEET_FIELD,
    SHEET_ROW_FIELD,
    SOURCE_FILE,
    SOURCE_FILE_DIGEST,
    SOURCE_LINE,
    DatasetContract,
)
from glue_scripts.storage import LANDING, STAGING, Store, StoredObject

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


def inspect_files(
    store: Store, contract: DatasetContract, objects: list[StoredObject]
) -> list[LandedFile | RefusedFile]:
    checked: list[LandedFile | RefusedFile] = []
    for obj in objects:
        if obj.size == 0:
            checked.append(RefusedFile(obj, "empty file: 0 bytes"))
            continue
        if is_workbook(obj):
            checked.append(preflight_workbook(contract, obj, store.read_bytes(obj.key)))
            continue
        head = store.read_bytes(obj.key, HEADER_PROBE_BYTES)
        checked.append(preflight(contract, obj, decode_header(head, obj.name.lower().endswith(".gz"))))
    return checked


def needs_staging(landed: LandedFile) -> bool:
    """Whether Spark must read this file from a copy: a CSV whose key Hadoop's paths would misread.

    Hadoop picks the gzip codec by the suffix `.gz` in lower case only: `ORDERS.CSV.GZ` is read from a
    copy named `.csv.gz`, or its compressed bytes would be read as text.
    """
    if is_workbook(landed.object):
        return False
    name = landed.object.name
    return SPARK_SAFE_KEY.fullmatch(landed.object.key) is None or (
        name.lower().endswith(".gz") and not name.endswith(".gz")
    )


def staging_key(contract: DatasetContract, obj: StoredObject) -> str:
    suffix = ".csv.gz" if obj.name.lower().endswith(".gz") else ".csv"
    return f"{STAGING}/{contract.name}/{re.sub(r'[^0-9A-Za-z-]', '_', obj.digest)}{suffix}"


@contextmanager
def staged_for_spark(store: Store, contract: DatasetContract, files: Sequence[LandedFile]) -> Iterator[dict[str, str]]:
    """Copies of the files whose keys Spark cannot read as they are: {landing key: staged key}.

    The copies exist while the block runs (the reads are lazy: write inside it) and are removed
    after it, also when it fails; a copy left by a killed process is overwritten by the next one.
    """
    staged = {f.object.key: staging_key(contract, f.object) for f in files if needs_staging(f)}
    try:
        for key, copy in staged.items():
            store.copy(key, copy)
        yield staged
    finally:
        for copy in staged.values():
            store.delete(copy)


def read_landed_file(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    landed: LandedFile,
    run_id: str,
    now: datetime,
    staged: Mapping[str, str] | None = None,
) -> DataFrame:
    """One file's rows as text, in the raw table's schema.

    The file is read with positional column names (its header line is skipped here, having been
    checked by `preflight`), and the columns are then picked by the names in its own header.
    `multiLine` keeps a file in one partition (and allows quoted newlines), which makes the row
    index within the partition the record's position in the file. `staged` names the copy to read
    for a key Spark cannot read as it is (`staged_for_spark`).
    """
    if is_workbook(landed.object):
        return read_workbook(spark, store, contract, landed, run_id, now)
    positional = [f"_c{i}" for i in range(len(landed.header))]
    schema = StructType(
        [StructField(name, StringType()) for name in positional] + [StructField(CORRUPT_RECORD, StringType())]
    )
    frame = (
        spark.read.schema(schema)
        .options(
            header="false",
            multiLine="true",
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_RECORD,
            encoding="UTF-8",
            escape='"',
        )
        .csv(store.spark_path((staged or {}).get(landed.object.key, landed.object.key)))
    )
    by_name = dict(zip(landed.header, positional, strict=True))
    extras = [name for name in landed.header if name not in contract.column_names]
    extra_fields: SparkColumn = (
        F.create_map(*[item for name in extras for item in (F.lit(name), F.col(by_name[name]))])
        if extras
        else F.lit(None).cast(MapType(StringType(), StringType()))
    )
    # Row index within the file's single partition: 0 is the header line, already checked.
    row_index = F.monotonically_increasing_id().bitwiseAND(F.lit((1 << 33) - 1))
    return (
        frame.withColumn(SOURCE_LINE, (row_index + 1).cast("int"))
        .where(F.col(SOURCE_LINE) > 1)
        .select(
            *[F.col(by_name[name]).alias(name) for name in contract.column_names],
            F.col(CORRUPT_RECORD).alias(RAW_RECORD),
            extra_fields.alias(EXTRA_FIELDS),
            F.lit(landed.object.key).alias(SOURCE_FILE),
            F.lit(landed.object.digest).alias(SOURCE_FILE_DIGEST),
            F.col(SOURCE_LINE),
            F.lit(run_id).alias(RUN_ID),
            F.lit(now).cast("timestamp").alias(INGESTED_AT),
        )
    )


def read_landed_files(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    files: list[LandedFile],
    run_id: str,
    now: datetime,
    staged: Mapping[str, str] | None = None,
) -> DataFrame:
    frames = [read_landed_file(spark, store, contract, landed, run_id, now, staged) for landed in files]
    if not frames:
        return spark.createDataFrame([], raw_schema(contract))
    return reduce(DataFrame.unionAll, frames)


# ---------------------------------------------------------------------------------------------
# Excel workbooks


@dataclass(frozen=True)
class WorkbookSheet:
    """One non-blank sheet: its name, the Excel row of its header, the header names, its data rows."""

    name: str
    header_row: int
    header: tuple[str, ...]
    # (Excel row number, cell values) of every non-blank row below the header; None when only the
    # header was read (the preflight).
    rows: tuple[tuple[int, tuple[Any, ...]], ...] | None


def open_workbook(data: bytes) -> Any:
    """openpyxl, imported here so CSV-only runs (and Glue jobs without the module) never need it."""
    try:
        import openpyxl
    except ImportError as error:  # a deployment problem, not a data problem: the run fails, the file waits
        raise ImportError(
            "reading .xlsx needs openpyxl (pip install openpyxl; on Glue: --additional-python-modules openpyxl==3.1.5)"
        ) from error
    return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)


def is_blank(values: Sequence[Any]) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in values)


def workbook_sheets(data: bytes, with_rows: bool = True) -> list[WorkbookSheet] | str:
    """Every worksheet with a header (blank sheets skipped), in workbook order; or why it cannot be read.

    A sheet's header is its first non-blank row. Hidden sheets are read like the others.
    """
    try:
        workbook = open_workbook(data)
    except ImportError:
        raise
    except Exception as error:
        return f"not a readable xlsx workbook ({type(error).__name__}: {error})"
    try:
        sheets = []
        for sheet in workbook.worksheets:
            rows = ((number, tuple(values)) for number, values in enumerate(sheet.iter_rows(values_only=True), 1))
            found = next(((number, values) for number, values in rows if not is_blank(values)), None)
            if found is None:
                continue
            header_row, header_values = found
            header = [cell_text(value) or "" for value in header_values]
            while header and not header[-1].strip():
                header.pop()
            body = tuple((n, values) for n, values in rows if not is_blank(values)) if with_rows else None
            sheets.append(WorkbookSheet(sheet.title, header_row, tuple(name.strip() for name in header), body))
        return sheets
    except Exception as error:
        return f"not a readable xlsx workbook ({type(error).__name__}: {error})"
    finally:
        workbook.close()


def preflight_workbook(contract: DatasetContract, obj: StoredObject, data: bytes) -> LandedFile | RefusedFile:
    """A workbook is read only if every non-blank sheet has the data set's columns (else: which sheet, why)."""
    sheets = workbook_sheets(data, with_rows=False)
    if isinstance(sheets, str):
        return RefusedFile(obj, sheets)
    if not sheets:
        return RefusedFile(obj, "empty workbook: no sheet has a header line")
    for sheet in sheets:
        problem = header_problem(contract, sheet.header)
        if problem:
            return RefusedFile(obj, f"sheet {sheet.name!r}: {problem}")
    return LandedFile(obj, sheets[0].header, tuple(sheet.name for sheet in sheets))


def cell_text(value: Any, column_type: str | None = None) -> str | None:
    """A cell as the text a CSV export would hold: ISO dates and times, integral numbers without `.0`.

    Excel has no date-only values: a date cell comes back as midnight, written as a date for a
    `date` column of the contract and as a timestamp otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        if column_type == "date" and value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep="T", timespec="seconds" if not value.microsecond else "microseconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def workbook_records(contract: DatasetContract, sheets: list[WorkbookSheet]) -> Iterator[tuple[Any, ...]]:
    """Raw records of every sheet: contract values, raw_record, extra_fields, source_line.

    A row with a value beyond its sheet's header is malformed (`raw_record`: its cells as a CSV line),
    as a CSV line with too many fields is.
    """
    types = {column.name: column.type for column in contract.columns}
    line = 0
    for sheet in sheets:
        line += 1  # the sheet's header
        width = len(sheet.header)
        position = {name: index for index, name in enumerate(sheet.header)}
        extras = [name for name in sheet.header if name not in types]
        for row_number, values in sheet.rows or ():
            line += 1
            cells = [*values[:width], *[None] * (width - len(values))]
            texts = {name: cell_text(cells[index], types.get(name)) for name, index in position.items()}
            raw_record = None
            if not is_blank(values[width:]):
                last = max(i for i, value in enumerate(values) if not is_blank([value]))
                buffer = io.StringIO()
                csv.writer(buffer, lineterminator="").writerow([cell_text(v) or "" for v in values[: last + 1]])
                raw_record = buffer.getvalue()
            extra_fields = {name: texts[name] for name in extras}
            extra_fields.update({SHEET_FIELD: sheet.name, SHEET_ROW_FIELD: str(row_number)})
            yield (*[texts[name] for name in contract.column_names], raw_record, extra_fields, line)


def read_workbook(
    spark: SparkSession, store: Store, contract: DatasetContract, landed: LandedFile, run_id: str, now: datetime
) -> DataFrame:
    """A workbook's rows, every sheet, as text in the raw table's schema (read on the driver)."""
    sheets = workbook_sheets(store.read_bytes(landed.object.key))
    if isinstance(sheets, str):
        raise ValueError(f"{landed.object.key} passed its preflight but cannot be read now: {sheets}")
    schema = StructType(
        [StructField(name, StringType()) for name in contract.column_names]
        + [
            StructField(RAW_RECORD, StringType()),
            StructField(EXTRA_FIELDS, MapType(StringType(), StringType())),
            StructField(SOURCE_LINE, IntegerType()),
        ]
    )
    frame = spark.createDataFrame(list(workbook_records(contract, sheets)), schema)
    return frame.select(
        *contract.column_names,
        RAW_RECORD,
        EXTRA_FIELDS,
        F.lit(landed.object.key).alias(SOURCE_FILE),
        F.lit(landed.object.digest).alias(SOURCE_FILE_DIGEST),
        F.col(SOURCE_LINE),
        F.lit(run_id).alias(RUN_ID),
        F.lit(now).cast("timestamp").alias(INGESTED_AT),
    )
