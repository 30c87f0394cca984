"""The table measurements of `glue_scripts.quality` on a handful of rows."""

from __future__ import annotations

from datetime import date

from pyspark.sql import SparkSession

from glue_scripts.contracts import ORDERS, PRODUCTS
from glue_scripts.quality import KeyReport, primary_key_report

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
