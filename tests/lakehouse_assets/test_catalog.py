"""The catalog asset: what it records locally, and what it registers in (moto's) Glue when enabled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from dagster import materialize
from pyspark.sql import SparkSession

from glue_scripts.contracts import ORDERS, PRODUCTS
from glue_scripts.delta_tables import ensure_table
from glue_scripts.stages import processed_schema
from glue_scripts.storage import LocalStore
from lakehouse_assets.catalog import glue_tables
from lakehouse_assets.execution import LocalExecution
from lakehouse_assets.resources import GlueCatalogResource, LakehouseResource


def test_the_catalog_asset_records_locally_and_registers_with_glue(
    spark: SparkSession, tmp_path: Path, glue: Any, database: str
) -> None:
    store = LocalStore(tmp_path / "lakehouse")
    ensure_table(spark, store.spark_path("processed/orders"), processed_schema(ORDERS), "date")
    ensure_table(spark, store.spark_path("processed/products"), processed_schema(PRODUCTS))
    resources = {
        "lakehouse": LakehouseResource(root=store.root),
        "execution": LocalExecution(),
    }

    def run(catalog_resource: GlueCatalogResource) -> dict[str, Any]:
        result = materialize([glue_tables], resources={**resources, "catalog": catalog_resource})
        assert result.success
        (event,) = result.get_asset_materialization_events()
        return {k: v.value for k, v in event.event_specific_data.materialization.metadata.items()}

    local = run(GlueCatalogResource(database=database))
    assert local["catalog"] == "none"
    assert local["tables"] == ["orders", "products"]
    columns = local["table_inputs"]["orders"]["StorageDescriptor"]["Columns"]
    assert [f"{column['Name']} {column['Type']}" for column in columns] == [
        "order_num int",
        "order_id int",
        "user_id int",
        "order_timestamp timestamp",
        "total_amount decimal(12,2)",
        "source_file string",
        "source_line int",
        "run_id string",
        "processed_at timestamp",
    ]
    assert local["tables_not_there_yet"] == [
        "order_items",
        "rejected_products",
        "rejected_orders",
        "rejected_order_items",
        "daily_sales",
        "top_products",
    ]
    with pytest.raises(Exception, match="EntityNotFoundException"):
        glue.get_database(Name=database)  # nothing was sent to Glue

    registered = run(GlueCatalogResource(database=database, enabled=True))
    assert (registered["tables_created"], registered["tables_unchanged"]) == (["products", "orders"], [])
    assert glue.get_table(DatabaseName=database, Name="orders")["Table"]["Parameters"]["table_type"] == "DELTA"
    rerun = run(GlueCatalogResource(database=database, enabled=True))
    assert (rerun["tables_created"], rerun["tables_updated"]) == ([], [])
    assert rerun["tables_unchanged"] == ["products", "orders"]
