"""The table measurements of `glue_scripts.quality` on a handful of rows."""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession

from glue_scripts.contracts import ORDER_ITEMS, ORDERS, PRODUCTS
from glue_scripts.quality import KeyReport, OrphanReport, orphan_report, orphan_reports, primary_key_report

DAY_1, DAY_2, DAY_3 = date(2025, 4, 1), date(2025, 4, 2), date(2025, 4, 3)


def test_the_key_report_counts_rows_partitions_null_and_repeated_keys_in_one_pass(spark: SparkSession) -> None:
    """Order 11 twice in one date, order 12 in two dates (still one key, twice), two null keys; three
    dates, the null date not counted as a partition."""
    rows = [(10, DAY_1), (11, DAY_1), (11, DAY_1), (12, DAY_1), (12, DAY_2), (None, DAY_3), (None, DAY_3), (13, None)]
    orders = spark.createDataFrame(rows, "order_id BIGINT, date DATE")
    assert primary_key_report(orders, ORDERS) == KeyReport(8, 2, 2, [11, 12], partitions=3)
    clean = orders.where("order_id IN (10, 13)")
    assert primary_key_report(clean, ORDERS) == KeyReport(2, 0, 0, [], partitions=1)
    assert primary_key_report(orders.limit(0), ORDERS) == KeyReport(0, 0, 0, [], partitions=0)


def test_an_unpartitioned_table_has_no_partition_count(spark: SparkSession) -> None:
    products = spark.createDataFrame([(1,), (2,), (2,), (None,)], "product_id BIGINT")
    assert primary_key_report(products, PRODUCTS) == KeyReport(4, 1, 1, [2], partitions=None)


def test_every_foreign_key_counts_its_orphans_in_one_pass(spark: SparkSession) -> None:
    """Item 3's order is missing, items 4 and 5 share a missing product, item 6 misses both; a null key is an orphan."""
    items = spark.createDataFrame(
        [(1, 10, 100), (2, 10, 100), (3, 99, 100), (4, 11, 999), (5, 11, 999), (6, 98, 998), (7, None, 100)],
        "id BIGINT, order_id BIGINT, product_id BIGINT",
    )
    parents = {
        "orders": spark.createDataFrame([(10,), (11,), (11,)], "order_id BIGINT"),
        "products": spark.createDataFrame([(100,)], "product_id BIGINT"),
    }
    by_order, by_product = ORDER_ITEMS.foreign_keys
    assert (by_order.parent, by_product.parent) == ("orders", "products")
    assert orphan_reports(items, parents, ORDER_ITEMS.foreign_keys) == [
        OrphanReport(7, 3, [98, 99]),
        OrphanReport(7, 3, [998, 999]),
    ]
    assert orphan_report(items, parents["products"], by_product) == OrphanReport(7, 3, [998, 999])
    clean = items.where("id <= 2")
    assert orphan_reports(clean, parents, ORDER_ITEMS.foreign_keys) == [OrphanReport(2, 0, []), OrphanReport(2, 0, [])]
