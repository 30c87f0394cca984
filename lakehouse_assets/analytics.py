"""Analytics assets for Athena users: `analytics/daily_sales` and `analytics/top_products`.

The Spark code is `glue_scripts/analytics.py` (plain DataFrame functions); here each table becomes
an asset that follows its processed inputs the way processed follows raw (`FOLLOW_UPSTREAM`: after
an input changed, and only once the inputs' blocking checks passed), holds a concurrency pool named
after its table (one writer at a time), and carries a blocking check, `totals_match_processed`,
tying its totals back to processed/. The step that builds the table measures the check, wherever
the `execution` resource runs it.

The check reads the processed snapshots the build recorded in its Delta commit, not processed/ as it
is when the check runs, so a batch merged in between by another run cannot make it fail or pass by
accident.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    asset,
)

from glue_scripts.analytics import (
    ANALYTICS,
    ANALYTICS_TABLES,
    DAILY_SALES,
    RECONCILIATION_CHECK,
    TOP_PRODUCTS,
    AnalyticsTable,
)
from lakehouse_assets.assets import FOLLOW_UPSTREAM
from lakehouse_assets.checks import AFTER_ITS_ASSET
from lakehouse_assets.execution import Execution
from lakehouse_assets.keys import analytics_key, pool, processed_key
from lakehouse_assets.resources import LakehouseResource
from lakehouse_assets.table_locks import held_by_step, table_lock

RECONCILED = {
    DAILY_SALES: "orders, revenue (= sum of total_amount), items and items reordered",
    TOP_PRODUCTS: "items sold (= processed order_items) and revenue (= total_amount of orders with items)",
}


def build_analytics_asset(table: AnalyticsTable) -> AssetsDefinition:
    key = analytics_key(table.name)

    @asset(
        key=key,
        deps=[processed_key(dataset) for dataset in table.sources],
        group_name=ANALYTICS,
        kinds={"spark", "delta"},
        description=f"{table.description} Rebuilt in full from processed/ when it changed.",
        automation_condition=FOLLOW_UPSTREAM,
        pool=pool(ANALYTICS, table.name),
        check_specs=[
            AssetCheckSpec(
                RECONCILIATION_CHECK,
                asset=key,
                blocking=True,
                automation_condition=AFTER_ITS_ASSET,
                description=(
                    f"The table's {RECONCILED[table.name]} equal processed/ at the versions it was built from. "
                    "On failure the table does not add up to its sources: `mismatches` names the totals; "
                    "rebuild it (materialize it again) and report it if it persists."
                ),
            )
        ],
    )
    def analytics_table(
        context: AssetExecutionContext, lakehouse: LakehouseResource, execution: Execution
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        with held_by_step(context, [table_lock(ANALYTICS, table.name)]):
            step = execution.analytics(context, lakehouse, table.name)
        built = step.metadata(key.to_user_string())
        context.log.info(
            f"{table.key}: {'rebuilt' if built.get('rebuilt') else 'already built'} from processed versions "
            f"{built.get('source_versions')}, {built.get('dagster/row_count')} rows"
        )
        yield from step.results

    return analytics_table


analytics_assets = [build_analytics_asset(table) for table in ANALYTICS_TABLES.values()]
