"""The JVM objects PySpark does not expose, in one place: Hadoop's file system, Delta's log, Spark's
SQL parser and JSON reader, and Java system properties.

Everything else in the project uses public PySpark and delta-spark APIs. What is here reaches into
the JVM through Py4J and is tested at the pinned versions (tests/glue_scripts/test_jvm.py); only
`delta_log_version` is Delta-internal, and its caller falls back to public API on another release.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType


def jvm(spark: SparkSession) -> Any:
    """The session's Py4J view of the JVM (`jvm.java.lang.System`, ...)."""
    view = spark.sparkContext._jvm
    assert view is not None  # set once a SparkContext has started
    return view


def hadoop_configuration(spark: SparkSession) -> Any:
    """The live Hadoop configuration file systems are created from."""
    return spark.sparkContext._jsc.hadoopConfiguration()


def hadoop_path(spark: SparkSession, path: str) -> tuple[Any, Any]:
    """`path` as a Hadoop path, and its file system (local, s3a, ...)."""
    hadoop = jvm(spark).org.apache.hadoop.fs.Path(path)
    return hadoop, hadoop.getFileSystem(hadoop_configuration(spark))


def delta_log_version(spark: SparkSession, path: str) -> int:
    """The table's latest version from Delta's log cache (`DeltaLog.update`: it lists only the commits
    newer than the cached snapshot). Delta-internal: raises `Py4JError` on a release without it."""
    view = jvm(spark)
    log = view.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = view.scala.Option.empty()
    return int(log.update(False, none, none).version())


def parsed_plan(spark: SparkSession, sql: str) -> Any:
    """`sql` parsed (Spark's parser with the session's extensions, Delta's among them), not analysed or run."""
    return spark._jsparkSession.sessionState().sqlParser().parsePlan(sql)


def is_command(spark: SparkSession, plan: Any) -> bool:
    """The plan node is a Spark `Command` (it runs when the statement is, without an action)."""
    command = jvm(spark).java.lang.Class.forName("org.apache.spark.sql.catalyst.plans.logical.Command")
    return bool(command.isInstance(plan))


def json_lines_frame(spark: SparkSession, lines: Sequence[str], schema: StructType) -> DataFrame:
    """JSON lines parsed in the JVM against `schema`, failing on a malformed one: one Py4J call, no Python worker."""
    session = spark._jsparkSession
    dataset = session.createDataset(list(lines), jvm(spark).org.apache.spark.sql.Encoders.STRING())
    reader = session.read().schema(session.parseDataType(schema.json())).option("mode", "FAILFAST")
    return DataFrame(reader.json(dataset), spark)
