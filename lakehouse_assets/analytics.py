"""Analytics assets for Athena users: `analytics/daily_sales` and `analytics/top_products`.

The Spark code is `glue_scripts/analytics.py` (plain DataFrame functions, also runnable on Glue);
here each table becomes an asset that follows its processed inputs the way processed follows raw
(`FOLLOW_UPSTREAM`: after an input changed, and only once the inputs' blocking checks passed), holds
a concurrency pool named after its table (one writer at a time), and carries a blocking check,
`totals_match_processed`, tying its totals back to processed/.

The check reads the processed snapshots the build recorded in its Delta commit, not processed/ as it
is when the check runs, so a batch merged in between by another run cannot make it fail or pass by
accident. It therefore depends on its asset only (no `additional_deps` on processed/).
"""

import json

from dagster import (
    AssetCheckResult,
    AssetChecksDefinition,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
)
from dagster_pyspark import LazyPySparkResource

from glue_scripts import analytics
from glue_scripts.analytics import ANALYTICS, ANALYTICS_TABLES, AnalyticsTable
from glue_scripts.delta_tables import read_table
from glue_scripts.jobs import PREVIEW_ROWS, markdown_table
from lakehouse_assets.assets import FOLLOW_UPSTREAM, pool, processed_key, table_schema
from lakehouse_assets.checks import AFTER_ITS_ASSET
from lakehouse_assets.resources import LakehouseResource
from lakehouse_assets.table_locks import held_by_step, table_lock

CHECK_NAME = "totals_match_processed"

# What each column means, for the column schema in the UI.
COLUMN_DESCRIPTIONS = {
    "date": "Order date (items count on their own date).",
    "orders": "Processed orders that day.",
    "items": "Processed order items that day.",
    "revenue": "Sum of total_amount (top_products: the product's share of its orders' totals).",
    "distinct_users": "Distinct user_id among that day's orders.",
    "reordered_items": "Items with reordered = 1.",
    "reorder_rate": "reordered_items / items (null without items).",
    "department": "Department name.",
    "rank": "1 = most items sold that day in the department (ties: revenue, then product_id).",
    "product_id": "The product.",
    "product_name": "Its name.",
    "items_sold": "Order items of the product that day.",
    "department_items_sold": "All order items of the department that day.",
    "department_revenue": "The department's attributed revenue that day.",
}

RECONCILED = {
    analytics.DAILY_SALES: "orders, revenue (= sum of total_amount), items and items reordered",
    analytics.TOP_PRODUCTS: "items sold (= processed order_items) and revenue (= total_amount of orders with items)",
}


def analytics_key(name: str) -> AssetKey:
    return AssetKey([ANALYTICS, name])


def build_analytics_asset(table: AnalyticsTable) -> AssetsDefinition:
    @asset(
        key=analytics_key(table.name),
        deps=[processed_key(dataset) for dataset in table.sources],
        group_name=ANALYTICS,
        kinds={"spark", "delta"},
        description=f"{table.description} Rebuilt in full from processed/ when it changed.",
        automation_condition=FOLLOW_UPSTREAM,
        pool=pool(ANALYTICS, table.name),
    )
    def analytics_table(
        context: AssetExecutionContext, lakehouse: LakehouseResource, pyspark: LazyPySparkResource
    ) -> MaterializeResult:
        spark, store = pyspark.spark_session, lakehouse.store()
        with held_by_step(context, [table_lock(ANALYTICS, table.name)]):
            outcome = analytics.build_table(spark, store, table.name)
        context.log.info(
            f"{table.key}: {'rebuilt' if outcome.rebuilt else 'already built'} from processed versions "
            f"{outcome.source_versions}, {outcome.rows} rows"
        )
        frame = read_table(spark, store.spark_path(table.key))
        return MaterializeResult(
            metadata={
                "dagster/row_count": outcome.rows,
                "dagster/column_schema": table_schema(frame.schema, COLUMN_DESCRIPTIONS),
                "table_version": outcome.version,
                "rebuilt": outcome.rebuilt,
                "source_versions": MetadataValue.json(outcome.source_versions),
                "preview": MetadataValue.md(markdown_table(frame.limit(PREVIEW_ROWS).collect())),
            }
        )

    return analytics_table


def build_analytics_check(table: AnalyticsTable) -> AssetChecksDefinition:
    @asset_check(
        asset=analytics_key(table.name),
        name=CHECK_NAME,
        blocking=True,
        automation_condition=AFTER_ITS_ASSET,
        description=f"The table's {RECONCILED[table.name]} equal processed/ at the versions it was built from.",
    )
    def totals_match_processed(lakehouse: LakehouseResource, pyspark: LazyPySparkResource) -> AssetCheckResult:
        result, versions = analytics.reconcile_table(pyspark.spark_session, lakehouse.store(), table.name)
        return AssetCheckResult(
            passed=result.passed,
            metadata={
                "expected_from_processed": MetadataValue.json(result.expected),
                "actual": MetadataValue.json(result.actual),
                "mismatches": MetadataValue.json(result.mismatches),
                "source_versions": MetadataValue.text(json.dumps(versions, sort_keys=True)),
            },
        )

    return totals_match_processed


analytics_assets = [build_analytics_asset(table) for table in ANALYTICS_TABLES.values()]
analytics_checks = [build_analytics_check(table) for table in ANALYTICS_TABLES.values()]
