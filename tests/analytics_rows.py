"""A handful of processed rows for the analytics tables: five orders over three days (one without
items, one day with no items at all), seven items, four products in two departments.

Shared by the analytics tests of `glue_scripts` (the queries) and of `lakehouse_assets` (the assets).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from glue_scripts.contracts import CONTRACTS
from glue_scripts.delta_tables import ensure_table
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


def write_processed(spark: SparkSession, store: LocalStore, dataset: str, frame: DataFrame) -> None:
    contract = CONTRACTS[dataset]
    path = store.spark_path(f"processed/{dataset}")
    ensure_table(spark, path, processed_schema(contract), contract.partition_column)
    frame.write.format("delta").mode("append").save(path)
