"""daily_sales and top_products on a handful of rows, exact; their build and reconciliation on Delta tables.

The rows are tests/analytics_rows.py's: five orders over three days, seven items, four products in two
departments. Revenue attribution splits each order's total over its items in
cents: order 1 (10.00, 3 items) gives 3.34 / 3.33 / 3.33 by cart position, order 4 (0.10, 3 items)
0.04 / 0.03 / 0.03.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from glue_scripts import analytics
from glue_scripts.delta_tables import read_table
from glue_scripts.storage import LocalStore
from tests.analytics_rows import (
    D1,
    D2,
    D3,
    items_frame,
    orders_frame,
    products_frame,
    rows,
    write_processed,
)


def test_daily_sales(spark: SparkSession) -> None:
    daily = analytics.daily_sales(orders_frame(spark), items_frame(spark))
    assert daily.columns == [
        "date",
        "orders",
        "items",
        "revenue",
        "distinct_users",
        "reordered_items",
        "reorder_rate",
    ]
    assert rows(daily) == [
        (D1, 2, 4, Decimal("15.01"), 2, 3, 0.75),
        (D2, 2, 3, Decimal("7.10"), 2, 1, 1 / 3),
        (D3, 1, 0, Decimal("3.00"), 1, 0, None),
    ]
    assert dict((f.name, f.dataType.simpleString()) for f in daily.schema.fields) == {
        "date": "date",
        "orders": "bigint",
        "items": "bigint",
        "revenue": "decimal(18,2)",
        "distinct_users": "bigint",
        "reordered_items": "bigint",
        "reorder_rate": "double",
    }


def test_revenue_attribution_adds_up_to_each_order_total(spark: SparkSession) -> None:
    shares = analytics.item_revenue_cents(orders_frame(spark), items_frame(spark))
    assert sorted(rows(shares.select("id", "revenue_cents"))) == [
        (1, 334),
        (2, 333),
        (3, 333),
        (4, 501),
        (5, 3),
        (6, 4),  # first in the cart gets the spare cent
        (7, 3),
    ]


def test_top_products_ranks_and_keeps_department_totals(spark: SparkSession) -> None:
    top = analytics.top_products(orders_frame(spark), items_frame(spark), products_frame(spark), top_n=1)
    assert top.columns == [
        "date",
        "department",
        "rank",
        "product_id",
        "product_name",
        "items_sold",
        "revenue",
        "department_items_sold",
        "department_revenue",
    ]
    assert rows(top) == [
        (D1, "Books", 1, 100, "A", 2, Decimal("8.35"), 3, Decimal("11.68")),
        (D1, "Toys", 1, 102, "C", 1, Decimal("3.33"), 1, Decimal("3.33")),
        # 100 and 101 sold one item each on D2: the higher revenue (0.04) ranks first.
        (D2, "Books", 1, 100, "A", 1, Decimal("0.04"), 2, Decimal("0.07")),
        (D2, "Toys", 1, 103, "D", 1, Decimal("0.03"), 1, Decimal("0.03")),
    ]
    everything = analytics.top_products(orders_frame(spark), items_frame(spark), products_frame(spark))
    assert rows(everything.where("department = 'Books'").select("date", "rank", "product_id", "revenue")) == [
        (D1, 1, 100, Decimal("8.35")),
        (D1, 2, 101, Decimal("3.33")),
        (D2, 1, 100, Decimal("0.04")),
        (D2, 2, 101, Decimal("0.03")),
    ]


def test_reconciliation_with_processed(spark: SparkSession) -> None:
    orders, items, products = orders_frame(spark), items_frame(spark), products_frame(spark)
    daily = analytics.reconcile_daily_sales(analytics.daily_sales(orders, items), orders, items)
    assert daily.passed
    assert daily.expected == {"orders": 5, "revenue": "25.11", "items": 7, "reordered_items": 4}
    assert daily.table_rows == 3  # one row per date
    top = analytics.reconcile_top_products(analytics.top_products(orders, items, products, top_n=1), orders, items)
    assert top.passed
    # Order 3 and order 5 have no items: their 10.00 cannot be attributed to a product.
    assert top.expected == {"items": 7, "revenue": "15.11"}
    assert top.table_rows == 4  # the top product of each date and department

    short = analytics.daily_sales(orders, items).where(F.col("date") != D3)
    broken = analytics.reconcile_daily_sales(short, orders, items)
    assert not broken.passed
    assert broken.mismatches == ["orders", "revenue"]
    assert broken.actual == {"orders": 4, "revenue": "22.11", "items": 7, "reordered_items": 4}
    assert broken.table_rows == 2


def test_build_records_its_sources_skips_when_unchanged_and_reconciles_with_them(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "lakehouse")
    write_processed(spark, store, "orders", orders_frame(spark))
    write_processed(spark, store, "order_items", items_frame(spark))

    first = analytics.build_table(spark, store, analytics.DAILY_SALES)
    assert (first.rebuilt, first.source_versions) == (True, {"orders": 1, "order_items": 1})
    path = store.spark_path("analytics/daily_sales")
    properties = DeltaTable.forPath(spark, path).detail().select("properties").first()[0]
    assert properties["delta.enableDeletionVectors"] == "false"
    assert analytics.built_from(spark, path) == {"orders": 1, "order_items": 1}

    again = analytics.build_table(spark, store, analytics.DAILY_SALES)
    assert (again.rebuilt, again.version) == (False, first.version)

    # processed/ moves on after the build: the check still compares with the snapshots it was built from.
    write_processed(spark, store, "orders", orders_frame(spark, [(6, 14, D3, "1.00")]))
    result, versions = analytics.reconcile_table(spark, store, analytics.DAILY_SALES)
    assert (result.passed, result.table_rows, versions) == (True, 3, {"orders": 1, "order_items": 1})
    given = analytics.reconcile_table(spark, store, analytics.DAILY_SALES, versions)
    assert given == (result, versions)

    rebuilt = analytics.build_table(spark, store, analytics.DAILY_SALES)
    assert (rebuilt.rebuilt, rebuilt.source_versions) == (True, {"orders": 2, "order_items": 1})
    assert rows(read_table(spark, path).where(F.col("date") == D3).select("orders", "revenue")) == [
        (2, Decimal("4.00"))
    ]
