from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from glue_scripts.delta_tables import read_table
from glue_scripts.maintenance import maintain_table


def test_small_files_are_compacted_and_the_rows_stay(spark: SparkSession, tmp_path: Path) -> None:
    path = str(tmp_path / "t")
    for start in (0, 10, 20):
        frame = spark.range(start, start + 10).withColumn("day", F.lit("2025-04-01")).repartition(2)
        frame.write.format("delta").mode("append").partitionBy("day").save(path)
    outcome = maintain_table(spark, path)
    assert outcome is not None
    assert (outcome.files_before, outcome.files_after, outcome.files_compacted) == (6, 1, 6)
    assert sorted(row.id for row in read_table(spark, path).collect()) == list(range(30))
    again = maintain_table(spark, path)
    assert again is not None
    assert (again.files_before, again.files_after, again.files_compacted) == (1, 1, 0)


def test_a_table_not_created_yet_is_left_alone(spark: SparkSession, tmp_path: Path) -> None:
    assert maintain_table(spark, str(tmp_path / "nothing")) is None
    assert not (tmp_path / "nothing").exists()
