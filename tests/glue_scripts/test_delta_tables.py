from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql.types import LongType, StructField, StructType

from glue_scripts.delta_tables import ensure_table, read_table, table_exists, table_version

SCHEMA = StructType([StructField("id", LongType())])


def test_a_table_is_created_once_and_then_recognised_by_its_log(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    assert not table_exists(spark, path)
    ensure_table(spark, path, SCHEMA)
    assert table_exists(spark, path)
    spark.range(3).write.format("delta").mode("append").save(path)
    ensure_table(spark, path, SCHEMA)  # no second creation: the rows stay
    assert read_table(spark, path).count() == 3
    assert table_version(spark, path) == 1
    assert table_version(spark, path) == DeltaTable.forPath(spark, path).history(1).first().version


def test_an_empty_log_folder_or_a_folder_inside_another_table_is_not_a_table(
    spark: SparkSession, tmp_path: Path
) -> None:
    crashed = tmp_path / "crashed"
    (crashed / "_delta_log").mkdir(parents=True)
    assert not table_exists(spark, str(crashed))
    ensure_table(spark, str(crashed), SCHEMA)
    assert table_exists(spark, str(crashed))
    assert table_version(spark, str(crashed)) == 0

    outer = str(tmp_path / "outer")
    ensure_table(spark, outer, SCHEMA)
    assert not table_exists(spark, f"{outer}/inner")
