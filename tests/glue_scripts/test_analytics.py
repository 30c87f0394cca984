"""daily_sales and top_products on a handful of rows, exact; their build and reconciliation on Delta tables.

The rows: five orders over three days (one without items, one day with no items at all), seven items,
four products in two departments. Revenue attribution splits each order's total over its items in
cents: order 1 (10.00, 3 items) gives 3.34 / 3.33 / 3.33 by cart position, order 4 (0.10, 3 items)
0.04 / 0.03 / 0.03.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from dagster import materialize
from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from glue_scripts import analytics
from glue_scripts.contracts import CONTRACTS
from glue_scripts.delta_tables import ensure_table, read_table
from glue_scripts.stages import processed_schema
from glue_scripts.storage import LocalStore

D1, D2, D3 = date(2025, 4, 1), date(2025, 4, 2), date(2025, 4, 3)
ORDERS = [  # order_id, user_id, date, total_amount
    (1, 10, D1, "10.00"),
    (2, 11, D1, "5.01"),
    (3, 10, D2, "7.00"),
    (4, 12, D2, "0.10"),
    (5, 13, D3, "3.00"),
]
ITEMS = [  # id, order_id, product_id, add_to_cart_order, reordered, date
    (1, 1, 100, 1, 0, D1),
    (2, 1, 101, 2, 1, D1),
    (3, 1, 102, 3, 1, D1),
    (4, 2, 100, 1, 1, D1),
    (5, 4, 101, 2, 0, D2),
    (6, 4, 100, 1, 0, D2),
    (7, 4, 103, 3, 1, D2),
]
PRODUCTS = [(100, "Books", "A"), (101, "Books", "B"), (102, "Toys", "C"), (103, "Toys", "D")]


def processed_frame(spark: SparkSession, dataset: str, rows: list[dict[str, Any]]) -> DataFrame:
    """Rows in the processed table's exact schema (lineage columns filled in)."""
    schema = processed_schema(CONTRACTS[dataset])
    lineage = {"source_file": "f.csv", "source_line": 2, "run_id": "r1", "processed_at": datetime(2025, 4, 20)}
    full = [tuple({**lineage, **row}.get(f.name) for f in schema.fields) for row in rows]
    return spark.createDataFrame(full, schema)


def orders_frame(spark: SparkSession, rows: list[tuple] = ORDERS) -> DataFrame:
    return processed_frame(
        spark,
        "orders",
        [
            {
                "order_num": 1,
                "order_id": order_id,
                "user_id": user,
                "order_timestamp": datetime(day.year, day.month, day.day, 10),
                "total_amount": Decimal(total),
                "date": day,
            }
            for order_id, user, day, total in rows
        ],
    )


def items_frame(spark: SparkSession) -> DataFrame:
    users = {order_id: user for order_id, user, _, _ in ORDERS}
    return processed_frame(
        spark,
        "order_items",
        [
            {
                "id": item_id,
                "order_id": order_id,
                "user_id": users[order_id],
                "product_id": product,
                "add_to_cart_order": position,
                "reordered": reordered,
                "order_timestamp": datetime(day.year, day.month, day.day, 10),
                "date": day,
            }
            for item_id, order_id, product, position, reordered, day in ITEMS
        ],
    )


def products_frame(spark: SparkSession) -> DataFrame:
    return processed_frame(
        spark,
        "products",
        [
            {"product_id": product, "department_id": 1, "department": department, "product_name": name}
            for product, department, name in PRODUCTS
        ],
    )


def rows(frame: DataFrame) -> list[tuple]:
    return [tuple(row) for row in frame.collect()]


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
    top = analytics.reconcile_top_products(analytics.top_products(orders, items, products, top_n=1), orders, items)
    assert top.passed
    # Order 3 and order 5 have no items: their 10.00 cannot be attributed to a product.
    assert top.expected == {"items": 7, "revenue": "15.11"}

    short = analytics.daily_sales(orders, items).where(F.col("date") != D3)
    broken = analytics.reconcile_daily_sales(short, orders, items)
    assert not broken.passed
    assert broken.mismatches == ["orders", "revenue"]
    assert broken.actual == {"orders": 4, "revenue": "22.11", "items": 7, "reordered_items": 4}


def write_processed(spark: SparkSession, store: LocalStore, dataset: str, frame: DataFrame) -> None:
    contract = CONTRACTS[dataset]
    path = store.spark_path(f"processed/{dataset}")
    ensure_table(spark, path, processed_schema(contract), contract.partition_column)
    frame.write.format("delta").mode("append").save(path)


def test_build_records_its_sources_skips_when_unchanged_and_reconciles_with_them(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "lakehouse")
    write_processed(spark, store, "orders", orders_frame(spark))
    write_processed(spark, store, "order_items", items_frame(spark))

    first = analytics.build_table(spark, store, analytics.DAILY_SALES)
    assert (first.rebuilt, first.rows, first.source_versions) == (True, 3, {"orders": 1, "order_items": 1})
    path = store.spark_path("analytics/daily_sales")
    properties = DeltaTable.forPath(spark, path).detail().select("properties").first()[0]
    assert properties["delta.enableDeletionVectors"] == "false"
    assert analytics.built_from(spark, path) == {"orders": 1, "order_items": 1}

    again = analytics.build_table(spark, store, analytics.DAILY_SALES)
    assert (again.rebuilt, again.version) == (False, first.version)

    # processed/ moves on after the build: the check still compares with the snapshots it was built from.
    write_processed(spark, store, "orders", orders_frame(spark, [(6, 14, D3, "1.00")]))
    result, versions = analytics.reconcile_table(spark, store, analytics.DAILY_SALES)
    assert (result.passed, versions) == (True, {"orders": 1, "order_items": 1})

    rebuilt = analytics.build_table(spark, store, analytics.DAILY_SALES)
    assert (rebuilt.rebuilt, rebuilt.source_versions) == (True, {"orders": 2, "order_items": 1})
    assert rows(read_table(spark, path).where(F.col("date") == D3).select("orders", "revenue")) == [
        (2, Decimal("4.00"))
    ]


def test_assets_and_their_blocking_checks(spark: SparkSession, tmp_path: Path) -> None:
    from lakehouse_assets.analytics import analytics_assets
    from lakehouse_assets.execution import LocalExecution
    from lakehouse_assets.resources import LakehouseResource

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
