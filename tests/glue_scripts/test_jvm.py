"""The JVM objects reached through Py4J, at the pinned Spark (3.5), Delta (3.3) and Java (17)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql.types import IntegerType, StringType, StructField, StructType

from glue_scripts import jvm
from glue_scripts.delta_tables import ensure_table


def test_the_jvm_is_java_17(spark: SparkSession) -> None:
    assert jvm.jvm(spark).java.lang.System.getProperty("java.specification.version") == "17"


def test_a_hadoop_path_and_its_file_system(spark: SparkSession, tmp_path: Path) -> None:
    path, fs = jvm.hadoop_path(spark, str(tmp_path / "x"))
    assert (path.getName(), fs.getScheme(), fs.exists(path)) == ("x", "file", False)
    assert jvm.hadoop_configuration(spark).get("fs.s3a.impl") == "org.apache.hadoop.fs.s3a.S3AFileSystem"


def test_the_delta_log_version_is_the_latest_commit(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "table")
    spark.range(2).write.format("delta").save(path)
    spark.range(1).write.format("delta").mode("append").save(path)
    assert jvm.delta_log_version(spark, path) == 1
    assert DeltaTable.forPath(spark, path).history(1).first()["version"] == 1


def test_the_delta_log_metadata_is_what_describe_detail_and_the_table_schema_say(
    spark: SparkSession, tmp_path: Path
) -> None:
    """The catalog's schema and partitioning from the log equal the public APIs' answers, after a schema change."""
    path = str(tmp_path / "table")
    schema = StructType(
        [StructField("id", IntegerType(), False, {"comment": "the key"}), StructField("day", StringType())]
    )
    ensure_table(spark, path, schema, "day")
    wider = spark.createDataFrame([(2, "b", "x")], "id INT, day STRING, extra STRING")
    wider.write.format("delta").mode("append").option("mergeSchema", "true").save(path)
    metadata = jvm.delta_log_metadata(spark, path)
    table = DeltaTable.forPath(spark, path)
    assert metadata["partitionColumns"] == list(table.detail().first()["partitionColumns"]) == ["day"]
    assert StructType.fromJson(json.loads(metadata["schemaString"])) == table.toDF().schema
    assert [(f.name, f.nullable, f.metadata) for f in table.toDF().schema.fields] == [
        ("id", False, {"comment": "the key"}),
        ("day", True, {}),
        ("extra", True, {}),
    ]


@pytest.mark.parametrize(
    ("sql", "node", "command"),
    [
        ("SELECT 1", "Project", False),
        ("DELETE FROM t WHERE a = 1", "DeleteFromTable", True),
        ("SET spark.sql.shuffle.partitions = 3", "SetCommand", True),
        ("VACUUM t", "VacuumTableCommand", True),
    ],
)
def test_statements_are_parsed_not_run(spark: SparkSession, sql: str, node: str, command: bool) -> None:
    plan = jvm.parsed_plan(spark, sql)
    assert (plan.getClass().getSimpleName(), jvm.is_command(spark, plan)) == (node, command)
    assert spark.conf.get("spark.sql.shuffle.partitions") != "3"


def test_json_lines_become_a_frame_of_the_schema_and_a_malformed_one_fails(spark: SparkSession) -> None:
    schema = StructType([StructField("id", IntegerType()), StructField("name", StringType())])
    frame = jvm.json_lines_frame(spark, ['{"id": 1, "name": "a"}', '{"id": 2}'], schema)
    assert (frame.schema, [tuple(row) for row in frame.collect()]) == (schema, [(1, "a"), (2, None)])
    with pytest.raises(Exception, match="Malformed records are detected"):
        jvm.json_lines_frame(spark, ["{not json"], schema).collect()


def test_system_properties_and_hadoop_settings_are_set_and_put_back(spark: SparkSession) -> None:
    system, hadoop = jvm.jvm(spark).java.lang.System, jvm.hadoop_configuration(spark)
    system.setProperty("lakehouse.test.kept", "before")
    hadoop.set("lakehouse.test.kept", "before")
    undo_properties = jvm.set_system_properties(spark, {"lakehouse.test.kept": "now", "lakehouse.test.new": "now"})
    undo_settings = jvm.set_hadoop_settings(spark, {"lakehouse.test.kept": "now", "lakehouse.test.new": "now"})
    now = [
        getter(name)
        for getter in (system.getProperty, hadoop.get)
        for name in ("lakehouse.test.kept", "lakehouse.test.new")
    ]
    assert now == ["now", "now", "now", "now"]
    undo_properties()
    undo_settings()
    after = [
        getter(name)
        for getter in (system.getProperty, hadoop.get)
        for name in ("lakehouse.test.kept", "lakehouse.test.new")
    ]
    assert after == ["before", None, "before", None]
    system.clearProperty("lakehouse.test.kept")
    hadoop.unset("lakehouse.test.kept")
