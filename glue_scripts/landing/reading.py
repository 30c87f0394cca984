"""Reading landed CSV files (and, through `workbook`, workbooks) into the raw schema, every value as text.

A key Hadoop's paths cannot take is read from a copy under `_staging/` (`staged_for_spark`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import reduce

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    MapType,
    StringType,
    StructField,
    StructType,
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
from glue_scripts.landing.files import (
    CORRUPT_RECORD,
    HEADER_PROBE_BYTES,
    INGESTED_AT,
    SPARK_SAFE_KEY,
    LandedFile,
    RefusedFile,
    decode_header,
    is_workbook,
    preflight,
    raw_schema,
)
from glue_scripts.landing.workbook import preflight_workbook, read_workbook
from glue_scripts.storage import STAGING, Store, StoredObject


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
