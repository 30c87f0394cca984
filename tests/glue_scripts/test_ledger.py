from datetime import UTC, datetime

from pyspark.sql import SparkSession

from glue_scripts import ledger
from glue_scripts.storage import LocalStore

NOW = datetime(2025, 4, 2, 8, 0, tzinfo=UTC)


def test_each_data_set_has_its_own_ledger_table(spark: SparkSession, store: LocalStore) -> None:
    ledger.record(
        spark,
        store,
        [
            ledger.LedgerEntry("orders", "landing/orders/a.csv", "d1", ledger.STAGE_RAW, "r1", rows_read=2),
            ledger.LedgerEntry("products", "landing/products/p.csv", "d2", ledger.STAGE_RAW, "r1", rows_read=5),
            ledger.LedgerEntry("orders", "landing/orders/a.csv", "d1", ledger.STAGE_PROCESSED, "r1", 2, 1, 1),
        ],
        NOW,
    )
    assert store.list_children("audit/file_loads") == ["orders/", "products/"]
    orders = ledger.read_ledger(spark, store, "orders").orderBy("stage").collect()
    assert [(r.source_file, r.stage, r.rows_read, r.rows_accepted, r.rows_rejected) for r in orders] == [
        ("landing/orders/a.csv", "processed", 2, 1, 1),
        ("landing/orders/a.csv", "raw", 2, None, None),
    ]
    assert ledger.read_ledger(spark, store).count() == 3


def test_stages_by_version_reads_what_each_file_version_reached(spark: SparkSession, store: LocalStore) -> None:
    a, b = ("landing/orders/a.csv", "d1"), ("landing/orders/b.csv", "d2")
    ledger.record(
        spark,
        store,
        [
            ledger.LedgerEntry("orders", *a, ledger.STAGE_RAW, "r1"),
            ledger.LedgerEntry("orders", *a, ledger.STAGE_PROCESSED, "r1"),
            ledger.LedgerEntry("orders", *b, ledger.STAGE_RAW, "r1"),
            ledger.LedgerEntry("orders", *b, ledger.STAGE_RAW, "r2"),
        ],
        NOW,
    )
    ids = ["landing/orders/a.csv#d1", "landing/orders/b.csv#d2", "landing/orders/c.csv#d3"]
    assert ledger.stages_by_version(spark, store, "orders", ids) == {
        "landing/orders/a.csv#d1": {"raw", "processed"},
        "landing/orders/b.csv#d2": {"raw"},
    }
    assert ledger.versions_at_stage(spark, store, "orders", ledger.STAGE_PROCESSED, ids) == {"landing/orders/a.csv#d1"}
    assert ledger.stages_by_version(spark, store, "products", ids) == {}
