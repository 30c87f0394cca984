"""`maintenance/<dataset>` through the local execution, and its Glue job's entry point, on a table of small files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from dagster import materialize
from pyspark.sql import SparkSession

from glue_scripts.contracts import ORDERS
from glue_scripts.jobs import catalog, maintenance
from glue_scripts.storage import LocalStore
from lakehouse_assets.execution import LocalExecution
from lakehouse_assets.maintenance import build_maintenance_asset
from lakehouse_assets.resources import LakehouseResource

COMPACTED_ORDERS = {
    "processed_files_before": 3,
    "processed_files_after": 1,
    "processed_files_compacted": 3,
    "processed_table_version": 5,
}


def small_files(spark: SparkSession, store: LocalStore, table: str, files: int = 3) -> None:
    """`files` appends of one file each: what many small batches leave."""
    for start in range(0, 10 * files, 10):
        spark.range(start, start + 10).coalesce(1).write.format("delta").mode("append").save(store.spark_path(table))


def test_the_asset_compacts_processed_and_skips_a_rejected_table_not_there_yet(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "lakehouse")
    small_files(spark, store, "processed/orders")
    result = materialize(
        [build_maintenance_asset(ORDERS)],
        resources={"lakehouse": LakehouseResource(root=store.root), "execution": LocalExecution()},
    )
    assert result.success
    (event,) = result.get_asset_materialization_events()
    materialization = event.step_materialization_data.materialization
    assert materialization.asset_key.to_user_string() == "maintenance/orders"
    # Three appends, OPTIMIZE, then VACUUM's start and end: version 5.
    assert {key: value.value for key, value in materialization.metadata.items()} == COMPACTED_ORDERS


def test_the_maintenance_and_catalog_jobs_without_dagster(
    spark: SparkSession, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    store = LocalStore(tmp_path / "lakehouse")
    small_files(spark, store, "processed/orders")
    common = ["--run_id", "r1", "--lakehouse_root", store.root]
    maintenance.main(["maintenance.py", *common, "--datasets", "orders"])
    catalog.main(["catalog.py", *common, "--register_tables", "false"])
    reports = {
        key: json.loads(value)
        for key, _, value in (line.partition(": ") for line in capsys.readouterr().out.splitlines())
        if key in ("maintenance/orders", "catalog/glue_tables")
    }
    assert reports["maintenance/orders"] == COMPACTED_ORDERS
    # Reported, not registered: no Glue client, so no `tables_created` and the like.
    registered = reports["catalog/glue_tables"]
    assert sorted(registered) == ["catalog", "database", "table_inputs", "tables", "tables_not_there_yet"]
    assert (registered["catalog"], registered["database"], registered["tables"]) == ("none", "lakehouse", ["orders"])
    assert registered["tables_not_there_yet"] == [
        "products",
        "order_items",
        "rejected_products",
        "rejected_orders",
        "rejected_order_items",
        "daily_sales",
        "top_products",
    ]
    assert registered["table_inputs"]["orders"]["StorageDescriptor"]["Columns"] == [{"Name": "id", "Type": "bigint"}]
