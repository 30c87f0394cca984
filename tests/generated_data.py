"""What the generated data's manifest promises, and what the tables hold, per landed file (shared by tests)."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from glue_scripts.contracts import CONTRACTS
from glue_scripts.delta_tables import read_table
from glue_scripts.stages import table_path
from glue_scripts.storage import Store
from lakehouse_assets.tooling.generator import one_run_reason


def per_file(spark: SparkSession, store: Store) -> dict[str, dict[str, Any]]:
    """From the tables: clean rows and rejections per reason, per landed file."""
    figures: dict[str, dict[str, Any]] = {}
    for contract in CONTRACTS.values():
        processed = read_table(spark, table_path(store, "processed", contract))
        for row in processed.groupBy("source_file").count().collect():
            figures.setdefault(row.source_file.removeprefix("landing/"), {})["clean"] = row["count"]
        rejected = read_table(spark, table_path(store, "rejected", contract))
        assert rejected.where(F.size("reject_reasons") != 1).count() == 0  # one reason per dirty row
        reasons = rejected.groupBy("source_file", F.col("reject_reasons")[0].alias("reason")).count().collect()
        for row in reasons:
            dirty = figures.setdefault(row.source_file.removeprefix("landing/"), {}).setdefault("dirty", {})
            dirty[row.reason] = row["count"]
    return figures


def expected_per_file(manifest: dict[str, Any], one_run: bool) -> dict[str, dict[str, Any]]:
    expected = {}
    for dataset in manifest["datasets"].values():
        for relative, figures in dataset["files"].items():
            dirty: Counter[str] = Counter()
            for kind, count in figures["dirty"].items():
                dirty[one_run_reason(kind) if one_run else kind] += count
            expected[relative] = {"clean": figures["clean"], "dirty": dict(dirty)}
    return expected
