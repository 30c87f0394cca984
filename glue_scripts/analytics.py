"""Analytics tables for Athena users: `analytics/daily_sales` and `analytics/top_products`.

Each table is a DataFrame -> DataFrame function of processed snapshots (testable on a handful of rows,
runnable on Glue), written as a Delta table under `<root>/analytics/<name>`. A table is rebuilt in
full, and only when the processed versions it reads (recorded in its Delta commit) changed. The data
has no item prices, so a product's revenue is its share of each order's total, split to the cent.
Why a full rebuild, and how the cents are split: docs/ARCHITECTURE.md, "The analytics tables".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DecimalType

from glue_scripts.storage import PROCESSED, Store, table_key

ANALYTICS = "analytics"
DAILY_SALES = "daily_sales"
TOP_PRODUCTS = "top_products"
# The blocking check of each analytics table: its totals equal processed/ at the versions it was built from.
RECONCILIATION_CHECK = "totals_match_processed"
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
# Products kept per date and department in top_products.
TOP_N = 10
# Sums of decimal(12,2) amounts; 16 integer digits is far beyond any plausible total.
REVENUE_TYPE = DecimalType(18, 2)


def _cents_to_amount(cents: Column) -> Column:
    return (cents.cast(DecimalType(18, 0)) * F.lit(Decimal("0.01"))).cast(REVENUE_TYPE)


def daily_sales(orders: DataFrame, order_items: DataFrame) -> DataFrame:
    """Per order date: orders, items, revenue (sum of `total_amount`), distinct users (of the orders),
    items reordered and the reorder rate (share of items with `reordered = 1`; null on a day without
    items). Orders count on their own `date`, items on theirs."""
    per_order_date = orders.groupBy("date").agg(
        F.count(F.lit(1)).alias("orders"),
        F.sum("total_amount").cast(REVENUE_TYPE).alias("revenue"),
        F.countDistinct("user_id").alias("distinct_users"),
    )
    per_item_date = order_items.groupBy("date").agg(
        F.count(F.lit(1)).alias("items"),
        F.sum("reordered").cast("bigint").alias("reordered_items"),
    )
    joined = per_order_date.join(per_item_date, "date", "full_outer")
    items = F.coalesce(F.col("items"), F.lit(0).cast("bigint"))
    reordered = F.coalesce(F.col("reordered_items"), F.lit(0).cast("bigint"))
    return joined.select(
        "date",
        F.coalesce(F.col("orders"), F.lit(0).cast("bigint")).alias("orders"),
        items.alias("items"),
        F.coalesce(F.col("revenue"), F.lit(Decimal("0.00")).cast(REVENUE_TYPE)).alias("revenue"),
        F.coalesce(F.col("distinct_users"), F.lit(0).cast("bigint")).alias("distinct_users"),
        reordered.alias("reordered_items"),
        F.when(items > 0, reordered / items).cast("double").alias("reorder_rate"),
    ).orderBy("date")


def item_revenue_cents(orders: DataFrame, order_items: DataFrame) -> DataFrame:
    """Each order item with its share of its order's total, in cents (`revenue_cents`).

    The total is split evenly over the order's items, the remaining cents one each to the first items by
    cart position, so the shares add up to the total. Items whose order is not in `orders` are left out
    (processed/ never has them)."""
    totals = orders.select("order_id", (F.col("total_amount") * 100).cast("bigint").alias("order_cents"))
    in_order = Window.partitionBy("order_id")
    by_position = in_order.orderBy("add_to_cart_order", "id")
    items = order_items.select("id", "order_id", "product_id", "date", "add_to_cart_order").join(totals, "order_id")
    items = items.withColumn("items_in_order", F.count(F.lit(1)).over(in_order)).withColumn(
        "position", F.row_number().over(by_position)
    )
    share = F.expr("order_cents div items_in_order")  # integral division: exact
    extra = F.when(F.col("position") <= F.col("order_cents") % F.col("items_in_order"), 1).otherwise(0)
    return items.select("id", "order_id", "product_id", "date", (share + extra).alias("revenue_cents"))


def top_products(orders: DataFrame, order_items: DataFrame, products: DataFrame, top_n: int = TOP_N) -> DataFrame:
    """Per item date and department: the `top_n` products by items sold (then attributed revenue, then
    product id), with their rank, items sold and revenue, and the department's totals that day
    (`department_items_sold`, `department_revenue`: for shares, and so the totals tie back to
    processed/ though only the top products are kept)."""
    items = item_revenue_cents(orders, order_items).join(
        products.select("product_id", "department", "product_name"), "product_id"
    )
    per_product = items.groupBy("date", "department", "product_id", "product_name").agg(
        F.count(F.lit(1)).alias("items_sold"), F.sum("revenue_cents").alias("revenue_cents")
    )
    department = Window.partitionBy("date", "department")
    ranking = department.orderBy(F.desc("items_sold"), F.desc("revenue_cents"), F.asc("product_id"))
    ranked = (
        per_product.withColumn("rank", F.row_number().over(ranking))
        .withColumn("department_items_sold", F.sum("items_sold").over(department))
        .withColumn("department_revenue_cents", F.sum("revenue_cents").over(department))
        .where(F.col("rank") <= top_n)
    )
    return ranked.select(
        "date",
        "department",
        "rank",
        "product_id",
        "product_name",
        "items_sold",
        _cents_to_amount(F.col("revenue_cents")).alias("revenue"),
        F.col("department_items_sold").cast("bigint").alias("department_items_sold"),
        _cents_to_amount(F.col("department_revenue_cents")).alias("department_revenue"),
    ).orderBy("date", "department", "rank")


# ---------------------------------------------------------------------------------------------
# reconciliation: the totals each table must share with processed/


def _sum(column: str, zero: Any) -> Column:
    return F.coalesce(F.sum(column), F.lit(zero))


def _totals(*aggregates: DataFrame) -> dict[str, Any]:
    """Single-row aggregations computed in one Spark job (each as a JSON row of a union), as plain values.

    One job, where cross-joining them costs one per broadcast and more for `first()`'s partial scans.
    """
    as_json = [aggregate.select(F.to_json(F.struct(*aggregate.columns)).alias("totals")) for aggregate in aggregates]
    values: dict[str, Any] = {}
    for row in reduce(DataFrame.unionAll, as_json).collect():
        values.update(json.loads(row.totals, parse_float=Decimal))
    return {key: _plain(values.get(key)) for aggregate in aggregates for key in aggregate.columns}


def _plain(value: Any) -> Any:
    """Comparable and JSON-friendly: Decimals normalised to two places, as strings; counts as ints."""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    return int(value) if value is not None else 0


@dataclass(frozen=True)
class Reconciliation:
    passed: bool
    expected: dict[str, Any]
    actual: dict[str, Any]
    table_rows: int  # the analytics table's rows, counted in the same job

    @property
    def mismatches(self) -> list[str]:
        return [key for key in self.expected if self.expected[key] != self.actual.get(key)]


def _reconciliation(totals: dict[str, Any], keys: tuple[str, ...]) -> Reconciliation:
    expected = {key: totals[f"processed_{key}"] for key in keys}
    actual = {key: totals[f"table_{key}"] for key in keys}
    return Reconciliation(expected == actual, expected, actual, totals["table_rows"])


def _table_rows() -> Column:
    return F.count(F.lit(1)).alias("table_rows")


def reconcile_daily_sales(daily: DataFrame, orders: DataFrame, order_items: DataFrame) -> Reconciliation:
    """Orders, revenue (= sum of `total_amount`), items and items reordered add up to processed/."""
    totals = _totals(
        orders.agg(
            F.count(F.lit(1)).alias("processed_orders"), _sum("total_amount", Decimal("0")).alias("processed_revenue")
        ),
        order_items.agg(
            F.count(F.lit(1)).alias("processed_items"), _sum("reordered", 0).alias("processed_reordered_items")
        ),
        daily.agg(
            _table_rows(),
            _sum("orders", 0).alias("table_orders"),
            _sum("revenue", Decimal("0")).alias("table_revenue"),
            _sum("items", 0).alias("table_items"),
            _sum("reordered_items", 0).alias("table_reordered_items"),
        ),
    )
    return _reconciliation(totals, ("orders", "revenue", "items", "reordered_items"))


def reconcile_top_products(top: DataFrame, orders: DataFrame, order_items: DataFrame) -> Reconciliation:
    """The department totals (summed once per date and department: they repeat on every product row)
    add up to every processed item and to the revenue of the orders that have items."""
    with_items = orders.join(order_items.select("order_id").distinct(), "order_id", "left_semi")
    departments = top.select("date", "department", "department_items_sold", "department_revenue").distinct()
    totals = _totals(
        order_items.agg(F.count(F.lit(1)).alias("processed_items")),
        with_items.agg(_sum("total_amount", Decimal("0")).alias("processed_revenue")),
        departments.agg(
            _sum("department_items_sold", 0).alias("table_items"),
            _sum("department_revenue", Decimal("0")).alias("table_revenue"),
        ),
        top.agg(_table_rows()),
    )
    return _reconciliation(totals, ("items", "revenue"))


# ---------------------------------------------------------------------------------------------
# building the tables


@dataclass(frozen=True)
class AnalyticsTable:
    name: str
    sources: tuple[str, ...]  # processed data sets, in the order `build` takes them
    build: Callable[..., DataFrame]
    description: str

    @property
    def key(self) -> str:
        return table_key(ANALYTICS, self.name)


ANALYTICS_TABLES: dict[str, AnalyticsTable] = {
    DAILY_SALES: AnalyticsTable(
        DAILY_SALES,
        ("orders", "order_items"),
        daily_sales,
        "Per order date: orders, items, revenue (sum of total_amount), distinct users, items reordered, "
        "reorder rate (share of items with reordered = 1).",
    ),
    TOP_PRODUCTS: AnalyticsTable(
        TOP_PRODUCTS,
        ("orders", "order_items", "products"),
        top_products,
        f"Per date and department: the top {TOP_N} products by items sold, with rank and revenue (order totals "
        "split evenly over their items), and the department's totals that day.",
    ),
}


@dataclass
class BuildOutcome:
    name: str
    rebuilt: bool
    version: int
    source_versions: dict[str, int] = field(default_factory=dict)


def read_snapshot(spark: SparkSession, path: str, version: int) -> DataFrame:
    return spark.read.format("delta").option("versionAsOf", version).load(path)


def source_versions(spark: SparkSession, store: Store, table: AnalyticsTable) -> dict[str, int]:
    from glue_scripts.delta_tables import table_exists, table_version

    versions = {}
    for dataset in table.sources:
        path = store.spark_path(table_key(PROCESSED, dataset))
        if not table_exists(spark, path):
            raise FileNotFoundError(f"{table.key} needs processed/{dataset}, which does not exist under {store.root}")
        versions[dataset] = table_version(spark, path)
    return versions


def source_snapshots(spark: SparkSession, store: Store, versions: dict[str, int]) -> dict[str, DataFrame]:
    """The processed tables at exactly these versions."""
    return {
        dataset: read_snapshot(spark, store.spark_path(table_key(PROCESSED, dataset)), version)
        for dataset, version in versions.items()
    }


def built_from(spark: SparkSession, path: str) -> dict[str, int] | None:
    """The source versions the analytics table's last commit recorded (None: none recorded, or no table)."""
    from delta.tables import DeltaTable

    from glue_scripts.delta_tables import table_exists

    if not table_exists(spark, path):
        return None
    latest = DeltaTable.forPath(spark, path).history(1).select("userMetadata").first()
    assert latest is not None  # a table's history holds at least its latest commit
    metadata = latest[0]
    try:
        recorded = json.loads(metadata) if metadata else None
    except ValueError:
        return None
    return recorded.get("source_versions") if isinstance(recorded, dict) else None


def build_table(spark: SparkSession, store: Store, name: str) -> BuildOutcome:
    """Rebuild `analytics/<name>` from the current processed snapshots, unless it already is built from them."""
    from glue_scripts.delta_tables import ensure_table, table_version

    table = ANALYTICS_TABLES[name]
    path = store.spark_path(table.key)
    versions = source_versions(spark, store, table)
    rebuilt = built_from(spark, path) != versions
    if rebuilt:
        snapshots = source_snapshots(spark, store, versions)
        frame = table.build(*(snapshots[dataset] for dataset in table.sources))
        ensure_table(spark, path, frame.schema)
        (
            frame.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .option("userMetadata", json.dumps({"source_versions": versions}, sort_keys=True))
            .save(path)
        )
    return BuildOutcome(name, rebuilt, table_version(spark, path), versions)


RECONCILERS: dict[str, Callable[[DataFrame, DataFrame, DataFrame], Reconciliation]] = {
    DAILY_SALES: reconcile_daily_sales,
    TOP_PRODUCTS: reconcile_top_products,
}


def reconcile_table(
    spark: SparkSession, store: Store, name: str, versions: dict[str, int] | None = None
) -> tuple[Reconciliation, dict[str, int]]:
    """Reconcile `analytics/<name>` with the processed snapshots its last build recorded.

    `versions`: those snapshots' versions when the caller has them (the build just recorded or found
    them), which spares reading the table's history again.
    """
    from glue_scripts.delta_tables import read_table

    table = ANALYTICS_TABLES[name]
    path = store.spark_path(table.key)
    versions = versions or built_from(spark, path)
    if versions is None:
        raise FileNotFoundError(f"{table.key} has no build recorded under {store.root}")
    snapshots = source_snapshots(spark, store, {"orders": versions["orders"], "order_items": versions["order_items"]})
    result = RECONCILERS[name](read_table(spark, path), snapshots["orders"], snapshots["order_items"])
    return result, versions
