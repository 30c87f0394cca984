"""The pipeline's stages for every data set, in one process: what a fault-injection test kills.

Run as `python -m tests.glue_scripts.fault_driver ROOT RUN_ID` with `LAKEHOUSE_FAILPOINT` set
(`glue_scripts.failpoints`); the same order as `lakehouse run`: raw for all, processed parents
first, then the archive.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from glue_scripts.contracts import CONTRACTS
from glue_scripts.stages import archive_landed, ingest_landing, process_batch
from glue_scripts.storage import open_store
from lakehouse_assets.spark_config import local_spark_conf

NOW = datetime(2025, 4, 20, 8, 0, tzinfo=UTC)


def run_pipeline(spark: SparkSession, root: str, run_id: str) -> None:
    store = open_store(root)
    for contract in CONTRACTS.values():
        ingest_landing(spark, store, contract, run_id, NOW)
    for contract in CONTRACTS.values():
        process_batch(spark, store, contract, run_id, NOW)
    for contract in CONTRACTS.values():
        archive_landed(spark, store, contract, run_id, NOW)


def main(root: str, run_id: str) -> int:
    builder = SparkSession.builder
    for key, value in local_spark_conf(cores=2, driver_memory="1g").items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    run_pipeline(spark, root, run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
