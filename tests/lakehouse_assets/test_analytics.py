"""The analytics assets on a handful of processed rows: their tables and their blocking checks."""

from __future__ import annotations

from pathlib import Path

from dagster import materialize
from pyspark.sql import SparkSession

from glue_scripts.storage import LocalStore
from lakehouse_assets.analytics import analytics_assets
from lakehouse_assets.execution import LocalExecution
from lakehouse_assets.resources import LakehouseResource
from tests.analytics_rows import items_frame, orders_frame, products_frame, write_processed


def test_assets_and_their_blocking_checks(spark: SparkSession, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lakehouse")
    write_processed(spark, store, "orders", orders_frame(spark))
    write_processed(spark, store, "order_items", items_frame(spark))
    write_processed(spark, store, "products", products_frame(spark))
    result = materialize(
        analytics_assets,
        resources={
            "lakehouse": LakehouseResource(root=store.root),
            "execution": LocalExecution(),
        },
    )
    assert result.success
    checks = {(e.asset_key.to_user_string(), e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        ("analytics/daily_sales", "totals_match_processed"): True,
        ("analytics/top_products", "totals_match_processed"): True,
    }
    metadata = {
        e.event_specific_data.materialization.asset_key.to_user_string(): e.event_specific_data.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert metadata["analytics/daily_sales"]["dagster/row_count"].value == 3
    assert metadata["analytics/top_products"]["dagster/row_count"].value == 6
    assert metadata["analytics/top_products"]["source_versions"].value == {"orders": 1, "order_items": 1, "products": 1}
