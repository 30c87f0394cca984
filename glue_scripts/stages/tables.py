"""The tables the stages write: their paths, the processed and rejected schemas, their extra columns."""

from __future__ import annotations

from pyspark.sql.types import ArrayType, IntegerType, StringType, StructField, StructType, TimestampType

from glue_scripts.contracts import (
    RAW_RECORD,
    REJECT_REASONS,
    RUN_ID,
    SOURCE_FILE,
    SOURCE_FILE_DIGEST,
    SOURCE_LINE,
    DatasetContract,
)
from glue_scripts.storage import Store, table_key

PROCESSED_AT = "processed_at"
REJECTED_AT = "rejected_at"
RESOLVED_AT = "resolved_at"
RESOLVED_RUN_ID = "resolved_run_id"
FROM_REJECTED = "__from_rejected"


def table_path(store: Store, zone: str, contract: DatasetContract) -> str:
    return store.spark_path(table_key(zone, contract.name))


def processed_schema(contract: DatasetContract) -> StructType:
    return StructType(
        [StructField(c.name, c.data_type, nullable=c.name != contract.primary_key) for c in contract.columns]
        + [
            StructField(SOURCE_FILE, StringType()),
            StructField(SOURCE_LINE, IntegerType()),
            StructField(RUN_ID, StringType()),
            StructField(PROCESSED_AT, TimestampType()),
        ]
    )


def rejected_schema(contract: DatasetContract) -> StructType:
    return StructType(
        [StructField(name, StringType()) for name in contract.column_names]
        + [
            StructField(RAW_RECORD, StringType()),
            StructField(REJECT_REASONS, ArrayType(StringType())),
            StructField(SOURCE_FILE, StringType()),
            StructField(SOURCE_FILE_DIGEST, StringType()),
            StructField(SOURCE_LINE, IntegerType()),
            StructField(RUN_ID, StringType()),
            StructField(REJECTED_AT, TimestampType()),
            StructField(RESOLVED_AT, TimestampType()),
            StructField(RESOLVED_RUN_ID, StringType()),
        ]
    )
