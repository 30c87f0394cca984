"""Two plain Spark jobs over the same landed CSVs, to set the pipeline's throughput against.

Run by `bench_throughput.py`, each in a fresh process with `lakehouse run`'s Spark settings
(`local_spark_session`: the same jars, Delta settings, driver memory and class archive):

- `peer`: what most public implementations of this pipeline do. Each data set's CSVs read with
  `inferSchema`, `dropDuplicates` on the primary key, order items kept only where their order and
  product are in this batch's (a join against the batch for referential integrity), then an
  unpartitioned Delta MERGE on the key (the table created empty first, so every run merges). No
  rejected rows kept, no lineage, no ledger, no checks.
- `spark_floor`: each data set's CSVs read with the contract's schema and written to Delta, partitioned
  by the contract's partition column. Nothing else: what Spark and Delta cost for these files at best.

Usage: `python benchmarks/spark_baselines.py peer|spark_floor DATA OUT`; prints one JSON line of figures.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructField, StructType

from glue_scripts.contracts import CONTRACTS, DATASETS, DatasetContract


def contract_schema(contract: DatasetContract) -> StructType:
    """The contract's columns and types, in the order the generator writes them."""
    return StructType([StructField(column.name, column.data_type, True) for column in contract.columns])


def peer_frame(spark: SparkSession, data: Path, contract: DatasetContract) -> DataFrame:
    rows = spark.read.option("header", True).option("inferSchema", True).csv(str(data / contract.name / "*.csv"))
    return rows.dropDuplicates([contract.primary_key])


def merge_unpartitioned(spark: SparkSession, batch: DataFrame, path: str, key: str) -> None:
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        batch.limit(0).write.format("delta").save(path)
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(batch.alias("s"), f"t.{key} = s.{key}")
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def run_peer(spark: SparkSession, data: Path, out: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    batches: dict[str, DataFrame] = {}
    for name in DATASETS:
        started = time.perf_counter()
        contract = CONTRACTS[name]
        batch = peer_frame(spark, data, contract)
        for foreign_key in contract.foreign_keys:
            parent = batches[foreign_key.parent].select(foreign_key.parent_column)
            parent = parent.withColumnRenamed(foreign_key.parent_column, foreign_key.column)
            batch = batch.join(parent, foreign_key.column, "left_semi")
        merge_unpartitioned(spark, batch, str(out / name), contract.primary_key)
        batches[name] = batch
        seconds[name] = time.perf_counter() - started
    return seconds


def run_floor(spark: SparkSession, data: Path, out: Path) -> dict[str, float]:
    seconds: dict[str, float] = {}
    for name in DATASETS:
        started = time.perf_counter()
        contract = CONTRACTS[name]
        rows = spark.read.option("header", True).schema(contract_schema(contract)).csv(str(data / name / "*.csv"))
        writer = rows.write.format("delta").mode("append")
        if contract.partition_column:
            writer = writer.partitionBy(contract.partition_column)
        writer.save(str(out / name))
        seconds[name] = time.perf_counter() - started
    return seconds


def main() -> None:
    job, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    started = time.perf_counter()
    from lakehouse_assets.spark.config import local_spark_session

    spark = local_spark_session()
    session = time.perf_counter() - started
    per_dataset = {"peer": run_peer, "spark_floor": run_floor}[job](spark, data, out)
    counting = time.perf_counter()
    rows = {name: spark.read.format("delta").load(str(out / name)).count() for name in DATASETS}
    figures = {
        "session": session,
        "per_dataset": per_dataset,
        "work": sum(per_dataset.values()),
        "count_seconds": time.perf_counter() - counting,  # the rows counted afterwards: not the job's time
        "rows": rows,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
