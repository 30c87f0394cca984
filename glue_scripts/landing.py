"""Reading landed CSV files: header preflight, then every row as text with its lineage.

Columns are matched by header name, never by position: the header of each file is read first
(a few kilobytes) and checked against the contract. A file that cannot be read as its data set
(empty, undecodable, missing required columns, ambiguous header) is refused with a reason before
Spark touches it. Spark then reads every value as a string, so casting and validation happen
later, where a bad value can be told apart from an empty one.
"""

from __future__ import annotations

import csv
import io
import zlib
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

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
DATA_SUFFIXES = (".csv", ".csv.gz")


@dataclass(frozen=True)
class LandedFile:
    """A landing file that passed the header preflight, with its header column names."""

    object: StoredObject
    header: tuple[str, ...]


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
    name = obj.name
    if name.startswith((".", "_")) or any(marker in name for marker in IN_PROGRESS_MARKERS):
        return False
    return name.lower().endswith(DATA_SUFFIXES)


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


def preflight(contract: DatasetContract, obj: StoredObject, header: list[str] | str) -> LandedFile | RefusedFile:
    if isinstance(header, str):
        return RefusedFile(obj, header)
    duplicates = sorted({name for name in header if header.count(name) > 1})
    if duplicates:
        return RefusedFile(obj, f"header repeats columns: {', '.join(duplicates)}")
    missing = [name for name in contract.column_names if name not in header]
    if missing:
        return RefusedFile(
            obj,
            f"missing required columns for {contract.name}: {', '.join(missing)} "
            f"(header was: {', '.join(header) or '<empty>'})",
        )
    return LandedFile(obj, tuple(header))


def inspect_files(
    store: Store, contract: DatasetContract, objects: list[StoredObject]
) -> list[LandedFile | RefusedFile]:
    checked: list[LandedFile | RefusedFile] = []
    for obj in objects:
        if obj.size == 0:
            checked.append(RefusedFile(obj, "empty file: 0 bytes"))
            continue
        head = store.read_bytes(obj.key, HEADER_PROBE_BYTES)
        checked.append(preflight(contract, obj, decode_header(head, obj.name.lower().endswith(".gz"))))
    return checked


def read_landed_file(
    spark: SparkSession, store: Store, contract: DatasetContract, landed: LandedFile, run_id: str, now: datetime
) -> DataFrame:
    """One file's rows as text, in the raw table's schema.

    The file is read with positional column names (its header line is skipped here, having been
    checked by `preflight`), and the columns are then picked by the names in its own header.
    `multiLine` keeps a file in one partition (and allows quoted newlines), which makes the row
    index within the partition the record's position in the file.
    """
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
        .csv(store.spark_path(landed.object.key))
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
) -> DataFrame:
    frames = [read_landed_file(spark, store, contract, landed, run_id, now) for landed in files]
    if not frames:
        return spark.createDataFrame([], raw_schema(contract))
    return reduce(DataFrame.unionAll, frames)
