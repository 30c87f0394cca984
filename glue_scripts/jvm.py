"""The JVM objects PySpark does not expose, in one place: Hadoop's file system, Delta's log, Spark's
SQL parser and JSON reader, and Java system properties.

Everything else in the project uses public PySpark and delta-spark APIs. What is here reaches into
the JVM through Py4J and is tested at the pinned versions (tests/glue_scripts/test_jvm.py); only
`delta_log_version` and `delta_log_metadata` are Delta-internal, and their callers fall back to
public API on another release.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
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


def set_system_properties(spark: SparkSession, properties: Mapping[str, str]) -> Callable[[], None]:
    """Set Java system properties in the session's JVM; returns the undo (each back as it was, or cleared)."""
    system = jvm(spark).java.lang.System
    return _set_with_undo(properties, system.getProperty, system.setProperty, system.clearProperty)


def set_hadoop_settings(spark: SparkSession, settings: Mapping[str, str]) -> Callable[[], None]:
    """Set keys of the live Hadoop configuration (file systems created from now on see them); returns the undo."""
    hadoop = hadoop_configuration(spark)
    return _set_with_undo(settings, hadoop.get, hadoop.set, hadoop.unset)


def _set_with_undo(
    values: Mapping[str, str],
    get: Callable[[str], str | None],
    put: Callable[[str, str], Any],
    remove: Callable[[str], Any],
) -> Callable[[], None]:
    previous = {name: get(name) for name in values}
    for name, value in values.items():
        put(name, value)

    def undo() -> None:
        for name, value in previous.items():
            if value is None:
                remove(name)
            else:
                put(name, value)

    return undo


def _latest_snapshot(spark: SparkSession, path: str) -> Any:
    """The table's latest snapshot from Delta's log cache (`DeltaLog.update`: it lists only the commits
    newer than the cached snapshot). Delta-internal: raises `Py4JError` on a release without it."""
    view = jvm(spark)
    log = view.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
    none = view.scala.Option.empty()
    return log.update(False, none, none)


def delta_log_version(spark: SparkSession, path: str) -> int:
    """The table's latest version, from Delta's log cache."""
    return int(_latest_snapshot(spark, path).version())


def delta_log_metadata(spark: SparkSession, path: str) -> dict[str, Any]:
    """The table's latest `metaData` action (`schemaString`, `partitionColumns`, ...) as its log holds
    it, from Delta's log cache: no Spark job, where `DESCRIBE DETAIL` runs two."""
    return json.loads(_latest_snapshot(spark, path).metadata().json())["metaData"]


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
