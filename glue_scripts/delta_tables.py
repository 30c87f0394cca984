"""Creating and reading the Delta tables of the lakehouse.

Tables are created explicitly (schema, partitioning, properties) before their first write, so the
first run and the hundredth take the same code path, and every table keeps the properties that
let Athena engine v3 read it: no deletion vectors, reader protocol 1.

Every stage makes sure its tables exist and reports their versions, so both are on the hot path of
every run: an existing table is recognised by its log files alone (one or two file-system lookups
instead of a `CREATE TABLE IF NOT EXISTS` transaction), and a version is read from the table's
cached Delta log instead of a history query.
"""

from __future__ import annotations

import re
from typing import Any

from delta.tables import DeltaTable
from py4j.protocol import Py4JError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from glue_scripts.jvm import delta_log_version, hadoop_path, jvm

ATHENA_READABLE_PROPERTIES = {
    "delta.enableDeletionVectors": "false",
    "delta.minReaderVersion": "1",
    "delta.minWriterVersion": "2",
}
FIRST_COMMIT = "00000000000000000000.json"
COMMIT_OR_CHECKPOINT = re.compile(r"^\d{20}\.(json|checkpoint\..*parquet)$|^_last_checkpoint$")
LAST_CHECKPOINT = "_last_checkpoint"


def _log_folder(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """The table's `_delta_log` as a Hadoop path, and its file system (local, s3a, ...)."""
    return hadoop_path(spark, f"{path.rstrip('/')}/_delta_log")


def table_exists(spark: SparkSession, path: str) -> bool:
    """A Delta table (with at least one commit) is at exactly `path`, not merely under a table above it.

    Its first commit file is there, or, once old commits have been cleaned up after checkpoints, the
    `_last_checkpoint` pointer is. A `_delta_log` folder left without a commit by a crash during
    creation does not count.
    """
    log, fs = _log_folder(spark, path)
    path_class = jvm(spark).org.apache.hadoop.fs.Path
    return any(fs.exists(path_class(log, name)) for name in (FIRST_COMMIT, LAST_CHECKPOINT))


def _remove_log_without_commits(spark: SparkSession, path: str) -> None:
    """Delete a `_delta_log` folder holding no commit and no checkpoint (a crash during creation).

    Delta itself takes such a folder for an existing table and then fails to find it, forever. It
    holds at most an unfinished temporary file of the first commit, nothing any reader has seen.
    """
    log, fs = _log_folder(spark, path)
    if not fs.exists(log):
        return
    names = [status.getPath().getName() for status in fs.listStatus(log)]
    if not any(COMMIT_OR_CHECKPOINT.match(name) for name in names):
        fs.delete(log, True)


def ensure_table(spark: SparkSession, path: str, schema: StructType, partition_column: str | None = None) -> bool:
    """Create the table unless it exists; True when this call created it (it is empty)."""
    if table_exists(spark, path):
        return False
    _remove_log_without_commits(spark, path)
    builder = DeltaTable.createIfNotExists(spark).location(path).addColumns(schema)
    if partition_column:
        builder = builder.partitionedBy(partition_column)
    for key, value in ATHENA_READABLE_PROPERTIES.items():
        builder = builder.property(key, value)
    builder.execute()
    return True


def read_table(spark: SparkSession, path: str) -> DataFrame:
    return spark.read.format("delta").load(path)


def table_version(spark: SparkSession, path: str) -> int:
    """The table's latest version.

    Read from Delta's log cache (`DeltaLog.update`, which lists only the commits newer than the
    cached snapshot); that is Delta-internal API, so any other Delta release falls back to the
    public history query, which is correct but costs a Spark job.
    """
    try:
        return delta_log_version(spark, path)
    except Py4JError:
        latest = DeltaTable.forPath(spark, path).history(1).select("version").first()
        assert latest is not None  # a table's history holds at least its latest commit
        return int(latest[0])
