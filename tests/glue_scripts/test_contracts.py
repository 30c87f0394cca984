from glue_scripts.contracts import CONTRACTS, DATASETS, ORDER_ITEMS, ORDERS, PRODUCTS


def test_parents_come_before_children() -> None:
    assert DATASETS == ("products", "orders", "order_items")
    assert ORDER_ITEMS.parents == ("orders", "products")
    assert PRODUCTS.parents == () and ORDERS.parents == ()


def test_order_items_reason_codes() -> None:
    assert ORDER_ITEMS.reason_codes == [
        "malformed_row",
        "not_utf8",
        "field_too_long",
        "missing_primary_key",
        "missing_order_id",
        "missing_user_id",
        "missing_product_id",
        "missing_add_to_cart_order",
        "missing_reordered",
        "missing_order_timestamp",
        "missing_date",
        "invalid_id",
        "invalid_order_id",
        "invalid_user_id",
        "invalid_days_since_prior_order",
        "invalid_product_id",
        "invalid_add_to_cart_order",
        "invalid_reordered",
        "invalid_order_timestamp",
        "invalid_date",
        "date_mismatch",
        "unknown_order_id",
        "unknown_product_id",
        "user_id_mismatch",
        "duplicate_primary_key",
        "stale_record",
    ]


def test_products_have_no_stale_rule_and_no_partition() -> None:
    assert "stale_record" not in PRODUCTS.reason_codes
    assert PRODUCTS.partition_column is None
    assert {c.partition_column for c in CONTRACTS.values()} == {None, "date"}
