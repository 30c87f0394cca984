"""Creating and reading the Delta tables of the lakehouse.

Tables are created explicitly (schema, partitioning, properties) before their first write, so the
first run and the hundredth take the same code path, and every table keeps the properties that
let Athena engine v3 read it: no deletion vectors, reader protocol 1.
"""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

ATHENA_READABLE_PROPERTIES = {
    "delta.enableDeletionVectors": "false",
    "delta.minReaderVersion": "1",
    "delta.minWriterVersion": "2",
}


def table_exists(spark: SparkSession, path: str) -> bool:
    return DeltaTable.isDeltaTable(spark, path)


def ensure_table(spark: SparkSession, path: str, schema: StructType, partition_column: str | None = None) -> DeltaTable:
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_column:
        builder = builder.partitionedBy(partition_column)
    for key, value in ATHENA_READABLE_PROPERTIES.items():
        builder = builder.property(key, value)
    return builder.execute()


def read_table(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def table_version(spark: SparkSession, path: str) -> int:
    return int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])
