from datetime import datetime
from decimal import Decimal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from glue_scripts.contracts import ORDER_ITEMS, ORDERS, PRODUCTS, DatasetContract
from glue_scripts.stages.process import candidate_columns
from glue_scripts.validation import (
    check_references,
    mark_duplicates,
    mark_stale,
    validate_rows,
)


def raw_rows(spark: SparkSession, contract: DatasetContract, rows: list[dict]) -> DataFrame:
    """Raw (text) rows; unspecified lineage gets file f.csv and consecutive lines."""
    filled = []
    for line, row in enumerate(rows, start=2):
        lineage = {"raw_record": None, "source_file": "f.csv", "source_file_digest": "d", "source_line": line}
        filled.append({**{c: None for c in contract.column_names}, **lineage, **row})
    schema = ", ".join(f"`{c}` string" for c in contract.column_names)
    schema += ", raw_record string, source_file string, source_file_digest string, source_line int"
    return spark.createDataFrame([tuple(r[c] for c in candidate_columns(contract)) for r in filled], schema)


def reasons(df: DataFrame, key: str = "source_line") -> dict:
    return {row[key]: row.reject_reasons for row in df.select(key, "reject_reasons").collect()}


ORDER = {
    "order_num": "1",
    "order_id": "10",
    "user_id": "7",
    "order_timestamp": "2025-04-01T10:00:00",
    "total_amount": "12.50",
    "date": "2025-04-01",
}


def test_a_good_order_is_cast_exactly(spark: SparkSession) -> None:
    checked = validate_rows(
        raw_rows(spark, ORDERS, [ORDER, {**ORDER, "order_timestamp": " 2025-04-01 10:00 "}]), ORDERS
    )
    rows = checked.select("typed.*", "reject_reasons").collect()
    assert [r.asDict() for r in rows] == [
        {
            "order_num": 1,
            "order_id": 10,
            "user_id": 7,
            "order_timestamp": datetime(2025, 4, 1, 10, 0),
            "total_amount": Decimal("12.50"),
            "date": datetime(2025, 4, 1).date(),
            "reject_reasons": [],
        }
    ] * 2


def test_each_row_rule_and_every_reason_that_applies(spark: SparkSession) -> None:
    rows = [
        {**ORDER, "order_id": ""},  # 2
        {**ORDER, "order_id": "1.5"},  # 3
        {**ORDER, "user_id": "", "total_amount": "-0.01"},  # 4
        {**ORDER, "order_timestamp": "2025-02-30T10:00:00", "date": "2025-02-30"},  # 5
        {**ORDER, "date": "2025-04-02"},  # 6
        {**ORDER, "total_amount": "1.234", "order_num": "99999999999"},  # 7
        {**ORDER, "order_timestamp": "2025-04-01T10:00:00+02:00"},  # 8
        {**ORDER, "raw_record": "10,1,7"},  # 9
        {**ORDER, "total_amount": "0"},  # 10
    ]
    assert reasons(validate_rows(raw_rows(spark, ORDERS, rows), ORDERS)) == {
        2: ["missing_primary_key"],
        3: ["invalid_order_id"],
        4: ["missing_user_id", "invalid_total_amount"],
        5: ["invalid_order_timestamp", "invalid_date"],
        6: ["date_mismatch"],
        7: ["invalid_order_num", "invalid_total_amount"],
        8: ["invalid_order_timestamp"],
        9: ["malformed_row"],
        10: [],
    }


ITEM = {
    "id": "1",
    "order_id": "10",
    "user_id": "7",
    "days_since_prior_order": "",
    "product_id": "5",
    "add_to_cart_order": "1",
    "reordered": "0",
    "order_timestamp": "2025-04-01T10:00:00",
    "date": "2025-04-01",
}


def test_item_ranges_and_nullable_column(spark: SparkSession) -> None:
    rows = [
        ITEM,
        {**ITEM, "days_since_prior_order": "-1", "add_to_cart_order": "0", "reordered": "2"},
        {**ITEM, "days_since_prior_order": "30", "reordered": "1"},
    ]
    assert reasons(validate_rows(raw_rows(spark, ORDER_ITEMS, rows), ORDER_ITEMS)) == {
        2: [],
        3: ["invalid_days_since_prior_order", "invalid_add_to_cart_order", "invalid_reordered"],
        4: [],
    }


def test_references_to_parents(spark: SparkSession) -> None:
    orders = spark.createDataFrame([(10, 7), (11, 8)], "order_id int, user_id int")
    products = spark.createDataFrame([(5,)], "product_id int")
    rows = [
        ITEM,
        {**ITEM, "order_id": "99"},
        {**ITEM, "product_id": "6"},
        {**ITEM, "user_id": "8"},
        {**ITEM, "order_id": "99", "product_id": "x", "user_id": "8"},
    ]
    checked = check_references(
        validate_rows(raw_rows(spark, ORDER_ITEMS, rows), ORDER_ITEMS),
        ORDER_ITEMS,
        {"orders": orders, "products": products},
    )
    assert reasons(checked) == {
        2: [],
        3: ["unknown_order_id"],
        4: ["unknown_product_id"],
        5: ["user_id_mismatch"],
        6: ["invalid_product_id", "unknown_order_id"],
    }


def test_duplicates_latest_timestamp_then_later_file_then_later_line(spark: SparkSession) -> None:
    rows = [
        {**ORDER, "order_timestamp": "2025-04-01T12:00:00", "source_file": "a.csv"},  # wins on time
        {**ORDER, "order_timestamp": "2025-04-01T09:00:00", "source_file": "b.csv"},
        {**ORDER, "order_id": "11", "source_file": "b.csv"},  # wins on file
        {**ORDER, "order_id": "11", "source_file": "a.csv"},
        {**ORDER, "order_id": "12"},
        {**ORDER, "order_id": "12"},  # wins on line
        {**ORDER, "order_id": "13", "total_amount": "bad", "order_timestamp": "2025-04-01T23:00:00"},
        {**ORDER, "order_id": "13"},  # the only clean row wins
    ]
    checked = mark_duplicates(validate_rows(raw_rows(spark, ORDERS, rows), ORDERS), ORDERS)
    assert reasons(checked) == {
        2: [],
        3: ["duplicate_primary_key"],
        4: [],
        5: ["duplicate_primary_key"],
        6: ["duplicate_primary_key"],
        7: [],
        8: ["invalid_total_amount"],
        9: [],
    }


def test_products_duplicates_later_line_wins(spark: SparkSession) -> None:
    product = {"product_id": "1", "department_id": "2", "department": "Books", "product_name": "A"}
    rows = [product, {**product, "product_name": "B"}]
    checked = mark_duplicates(validate_rows(raw_rows(spark, PRODUCTS, rows), PRODUCTS), PRODUCTS)
    assert reasons(checked) == {2: ["duplicate_primary_key"], 3: []}


def test_stale_updates_are_rejected_equal_and_newer_are_not(spark: SparkSession) -> None:
    stored = spark.createDataFrame(
        [(10, datetime(2025, 4, 1, 10, 0), datetime(2025, 4, 1).date())],
        "order_id int, order_timestamp timestamp, date date",
    )
    rows = [
        {**ORDER, "order_timestamp": "2025-04-01T09:59:59"},
        {**ORDER, "order_id": "11"},
    ]
    equal = [{**ORDER}]
    newer = [{**ORDER, "order_timestamp": "2025-04-02T00:00:00", "date": "2025-04-02"}]
    checked = mark_stale(validate_rows(raw_rows(spark, ORDERS, rows), ORDERS), ORDERS, stored)
    assert {r.source_line: (r.reject_reasons, r.stored_partition) for r in checked.collect()} == {
        2: (["stale_record"], "2025-04-01"),
        3: ([], None),
    }
    for batch in (equal, newer):
        checked = mark_stale(validate_rows(raw_rows(spark, ORDERS, batch), ORDERS), ORDERS, stored)
        assert checked.select("reject_reasons", F.col("stored_partition")).collect()[0] == ([], "2025-04-01")


def test_text_that_was_not_utf8_or_is_too_long_is_rejected(spark: SparkSession) -> None:
    product = {"product_id": "1", "department_id": "2", "department": "Books", "product_name": "Atlas"}
    limit = PRODUCTS.max_field_chars
    checked = validate_rows(
        raw_rows(
            spark,
            PRODUCTS,
            [
                {**product, "product_name": "Cr\ufffdme"},
                {**product, "product_name": "x" * limit},
                {**product, "product_name": "x" * (limit + 1)},
                {**product, "department_id": "2" * (limit + 1)},
                {"product_id": "1", "raw_record": "1,\ufffd" + "y" * limit},
            ],
        ),
        PRODUCTS,
    )
    assert reasons(checked) == {
        2: ["not_utf8"],
        3: [],
        4: ["field_too_long"],
        5: ["field_too_long", "invalid_department_id"],
        6: ["malformed_row", "not_utf8", "field_too_long"],
    }


def join_strategies(df: DataFrame) -> list[str]:
    plan = df._jdf.queryExecution().executedPlan().toString()
    return [name for name in ("BroadcastHashJoin", "SortMergeJoin") for _ in range(plan.count(f" {name} "))]


def test_the_small_parent_is_broadcast_whatever_spark_estimates(spark: SparkSession) -> None:
    orders = spark.createDataFrame([(10, 7)], "order_id int, user_id int")
    products = spark.createDataFrame([(5,)], "product_id int")
    items = validate_rows(raw_rows(spark, ORDER_ITEMS, [ITEM]), ORDER_ITEMS)
    threshold = spark.conf.get("spark.sql.autoBroadcastJoinThreshold")
    spark.conf.set("spark.sql.autoBroadcastJoinThreshold", "-1")  # Spark alone would broadcast nothing
    try:
        checked = check_references(items, ORDER_ITEMS, {"orders": orders, "products": products})
        # orders (no hint) is sort-merged; products (`broadcast_parent`) is broadcast.
        assert sorted(join_strategies(checked)) == ["BroadcastHashJoin", "SortMergeJoin"]
    finally:
        spark.conf.set("spark.sql.autoBroadcastJoinThreshold", threshold)
