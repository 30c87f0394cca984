import hashlib
from datetime import UTC, date, datetime

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from glue_scripts import ledger
from glue_scripts.contracts import CONTRACTS, ORDER_ITEMS, ORDERS
from glue_scripts.delta_tables import read_table
from glue_scripts.quality import RejectionPolicy
from glue_scripts.stages import archive_landed, ingest_landing, process_batch, release_held, table_path
from glue_scripts.stages.ingest import append_counting_versions
from glue_scripts.storage import LocalStore
from tests.helpers import write_landing

NOW = datetime(2025, 4, 20, 8, 0, tzinfo=UTC)
ORDERS_HEADER = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
ITEMS_HEADER = (
    "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"
)
PRODUCTS_HEADER = "product_id,department_id,department,product_name\n"
ORDERS_ONLY = ("orders",)


def run_all(
    spark: SparkSession,
    store: LocalStore,
    run_id: str,
    limit: RejectionPolicy | None = None,
    datasets: tuple[str, ...] = tuple(CONTRACTS),
) -> dict:
    """Ingest, process and archive `datasets` (all, parents first); a test that lands orders alone runs orders alone."""
    contracts = [contract for contract in CONTRACTS.values() if contract.name in datasets]
    outcomes = {}
    for contract in contracts:
        ingest_landing(spark, store, contract, run_id, NOW)
    for contract in contracts:
        outcomes[contract.name] = process_batch(spark, store, contract, run_id, NOW, limit)
    for contract in contracts:
        archive_landed(spark, store, contract, run_id, NOW)
    return outcomes


def table(spark: SparkSession, store: LocalStore, zone: str, contract, columns: list[str]) -> list[tuple]:
    rows = read_table(spark, table_path(store, zone, contract)).select(*columns).orderBy(*columns).collect()
    return [tuple(row) for row in rows]


def operations(spark: SparkSession, path: str) -> list[str]:
    return [row.operation for row in DeltaTable.forPath(spark, path).history().orderBy("version").collect()]


def test_upsert_moves_partition_and_keeps_key_unique(spark: SparkSession, store: LocalStore) -> None:
    write_landing(
        store,
        "orders",
        "1.csv",
        ORDERS_HEADER + "1,10,7,2025-04-01T10:00:00,5.00,2025-04-01\n1,11,7,2025-04-01T11:00:00,6.00,2025-04-01\n",
    )
    run_all(spark, store, "r1", datasets=ORDERS_ONLY)
    write_landing(
        store,
        "orders",
        "2.csv",
        ORDERS_HEADER + "1,10,7,2025-04-02T10:00:00,9.00,2025-04-02\n"
        "1,11,7,2025-04-01T10:59:00,1.00,2025-04-01\n"
        "1,12,8,2025-04-01T12:00:00,2.00,2025-04-01\n",
    )
    outcome = run_all(spark, store, "r2", datasets=ORDERS_ONLY)["orders"]
    assert table(spark, store, "processed", ORDERS, ["order_id", "total_amount", "date", "source_file"]) == [
        (10, 9, date(2025, 4, 2), "landing/orders/2.csv"),
        (11, 6, date(2025, 4, 1), "landing/orders/1.csv"),
        (12, 2, date(2025, 4, 1), "landing/orders/2.csv"),
    ]
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (3, 2, 1)
    assert outcome.rejected_by_reason == {"stale_record": 1}
    assert outcome.partitions_touched == ["2025-04-01", "2025-04-02"]
    # The first batch had only new keys: appended; the second updates a stored key: merged.
    assert outcome.rows_updating_stored == 1
    assert operations(spark, table_path(store, "processed", ORDERS)) == ["CREATE TABLE", "WRITE", "MERGE"]
    assert outcome.partitions == 2
    assert table(spark, store, "rejected", ORDERS, ["order_id", "reject_reasons", "source_line"]) == [
        ("11", ["stale_record"], 3)
    ]


def test_late_parents_wait_then_merge_and_resolve(spark: SparkSession, store: LocalStore) -> None:
    write_landing(store, "products", "p.csv", PRODUCTS_HEADER + "5,1,Books,A\n")
    write_landing(store, "orders", "1.csv", ORDERS_HEADER + "1,10,7,2025-04-01T10:00:00,5.00,2025-04-01\n")
    write_landing(
        store,
        "order_items",
        "1.csv",
        ITEMS_HEADER
        + "1,10,7,,5,1,0,2025-04-01T10:00:00,2025-04-01\n"
        + "2,20,7,,5,1,0,2025-04-02T10:00:00,2025-04-02\n"
        + "3,20,7,,6,2,0,2025-04-02T10:00:00,2025-04-02\n"
        + "4,10,8,,5,1,0,2025-04-01T10:00:00,2025-04-01\n",
    )
    # Rows 2 and 3 only wait for their order (and product): waiting, not rejected, so even a limit from
    # one row up holds nothing (1 of 2 decided rows rejected is not over half).
    first = run_all(spark, store, "r1", RejectionPolicy(max_share=0.5, min_rows=1))["order_items"]
    assert (first.rows_read, first.rows_accepted, first.rows_rejected, first.rows_waiting) == (4, 1, 1, 2)
    assert first.rejected_by_reason == {"user_id_mismatch": 1}
    assert first.waiting_by_reason == {"unknown_order_id": 2, "unknown_product_id": 1}
    assert first.held == {}
    assert table(spark, store, "processed", ORDER_ITEMS, ["id"]) == [(1,)]
    assert [
        (e.rows_read, e.rows_accepted, e.rows_rejected, e.rows_waiting)
        for e in ledger.batch_entries(spark, store, "order_items", ["r1"])
    ] == [(4, 1, 1, 2)]

    write_landing(store, "orders", "2.csv", ORDERS_HEADER + "1,20,7,2025-04-02T10:00:00,5.00,2025-04-02\n")
    second = run_all(spark, store, "r2")["order_items"]
    assert (second.rows_read, second.late_rows_resolved, second.late_rows_waiting) == (0, 1, 1)
    assert table(spark, store, "processed", ORDER_ITEMS, ["id", "run_id"]) == [(1, "r1"), (2, "r2")]
    assert table(spark, store, "rejected", ORDER_ITEMS, ["id", "reject_reasons", "resolved_run_id"]) == [
        ("2", ["unknown_order_id"], "r2"),
        ("3", ["unknown_product_id"], None),
        ("4", ["user_id_mismatch"], None),
    ]

    write_landing(store, "products", "p2.csv", PRODUCTS_HEADER + "6,1,Books,B\n")
    third = run_all(spark, store, "r3")["order_items"]
    assert (third.late_rows_resolved, third.late_rows_waiting) == (1, 0)
    assert table(spark, store, "processed", ORDER_ITEMS, ["id"]) == [(1,), (2,), (3,)]


def test_nothing_lost_and_a_second_delivery_changes_nothing(spark: SparkSession, store: LocalStore) -> None:
    text = ORDERS_HEADER + "1,10,7,2025-04-01T10:00:00,5.00,2025-04-01\n1,x,7,,,\n1,10,7\n"
    write_landing(store, "orders", "a.csv", text)
    write_landing(store, "orders", "header_only.csv", ORDERS_HEADER)
    write_landing(store, "orders", "bad.csv", "something else\n1\n")
    outcome = run_all(spark, store, "r1", datasets=ORDERS_ONLY)["orders"]
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (3, 1, 2)
    assert outcome.rejected_by_reason == {
        "invalid_order_id": 1,
        "malformed_row": 1,
        "missing_date": 1,
        "missing_order_timestamp": 1,
        "missing_total_amount": 1,
    }
    assert sorted(o.key for o in store.list("archived")) == [
        "archived/orders/2025/04/20/a.csv",
        "archived/orders/2025/04/20/header_only.csv",
    ]
    assert sorted(o.key for o in store.list("quarantine")) == [
        "quarantine/orders/bad.csv",
        "quarantine/orders/bad.csv.reason.txt",
    ]
    assert store.read_bytes("quarantine/orders/bad.csv.reason.txt").decode() == (
        "landing/orders/bad.csv: missing required columns for orders: order_num, order_id, user_id, "
        "order_timestamp, total_amount, date (header was: something else)\n"
    )
    entries = {
        (e.source_file, e.rows_read, e.rows_accepted, e.rows_rejected)
        for e in ledger.batch_entries(spark, store, "orders", ["r1"])
    }
    assert entries == {("landing/orders/a.csv", 3, 1, 2), ("landing/orders/header_only.csv", 0, 0, 0)}

    versions = {z: read_table(spark, table_path(store, z, ORDERS)).count() for z in ("raw", "processed", "rejected")}
    write_landing(store, "orders", "a.csv", text)  # the same delivery again
    again = run_all(spark, store, "r2", datasets=ORDERS_ONLY)["orders"]
    assert (again.files, again.rows_read) == ([], 0)
    # Nothing waited: no table was written, and the figures are those of the tables as they are.
    assert (again.processed_version, again.rejected_version) == (outcome.processed_version, outcome.rejected_version)
    assert (again.processed_rows, again.partitions) == (1, 1)
    assert {z: read_table(spark, table_path(store, z, ORDERS)).count() for z in versions} == versions
    assert store.list("landing/orders") == []


def snapshot(spark: SparkSession, store: LocalStore) -> dict[str, list[tuple]]:
    """Every row of every table of orders, lineage included (so a reload under a new name would show)."""
    tables = {zone: read_table(spark, table_path(store, zone, ORDERS)) for zone in ("raw", "processed", "rejected")}
    return {zone: sorted(tuple(row) for row in frame.collect()) for zone, frame in tables.items()}


def test_replays_under_the_same_or_new_names_and_a_retried_run_change_nothing(
    spark: SparkSession, store: LocalStore
) -> None:
    text = ORDERS_HEADER + "1,10,7,2025-04-01T10:00:00,5.00,2025-04-01\n1,11,7,2025-04-01T11:00:00,bad,2025-04-01\n"
    write_landing(store, "orders", "a.csv", text)
    run_all(spark, store, "r1", datasets=ORDERS_ONLY)
    once = snapshot(spark, store)
    assert [len(rows) for rows in once.values()] == [2, 1, 1]

    write_landing(store, "orders", "a.csv", text)  # the same name again
    write_landing(store, "orders", "a_resent.csv", text)  # new names, same bytes, in one batch
    write_landing(store, "orders", "a_copy.csv", text)
    # The batch, and the run retried.
    outcomes = [run_all(spark, store, "r2", datasets=ORDERS_ONLY) for _attempt in range(2)]
    assert snapshot(spark, store) == once
    digest = hashlib.md5(text.encode()).hexdigest()
    assert [(o["orders"].files, o["orders"].rows_read) for o in outcomes] == [
        ([f"landing/orders/a_copy.csv#{digest}", f"landing/orders/a_resent.csv#{digest}"], 0),
        ([], 0),
    ]
    replays = {
        (e.source_file, e.rows_read, e.detail)
        for e in ledger.read_ledger(spark, store, "orders").where("stage = 'raw' AND run_id = 'r2'").collect()
    }
    assert replays == {
        ("landing/orders/a_copy.csv", 0, "replay: same content as landing/orders/a.csv"),
        ("landing/orders/a_resent.csv", 0, "replay: same content as landing/orders/a.csv"),
    }
    assert sorted(o.key for o in store.list("archived")) == [
        "archived/orders/2025/04/20/a.csv",
        "archived/orders/2025/04/20/a_copy.csv",
        "archived/orders/2025/04/20/a_resent.csv",
    ]
    assert store.list("landing/orders") == []


def test_a_rerun_after_a_crash_before_the_ledger_does_not_duplicate_raw(spark: SparkSession, store: LocalStore) -> None:
    write_landing(store, "orders", "a.csv", ORDERS_HEADER + "1,10,7,2025-04-01T10:00:00,5.00,2025-04-01\n")
    ingest_landing(spark, store, ORDERS, "r1", NOW)
    # Simulate a crash after the raw append, before its ledger entry: drop the ledger.
    import shutil

    shutil.rmtree(store.path / "audit")
    outcome = ingest_landing(spark, store, ORDERS, "r2", NOW)
    assert outcome.rows_by_file == {"landing/orders/a.csv": 1}
    assert read_table(spark, table_path(store, "raw", ORDERS)).count() == 1


@pytest.mark.parametrize("observed_limit", [64, 1], ids=["observed", "read back"])
def test_an_append_counts_its_rows_per_file_version(
    spark: SparkSession, store: LocalStore, observed_limit: int
) -> None:
    path = str(store.path / "counted")
    rows = spark.createDataFrame(
        [("a.csv", "d1", 1), ("a.csv", "d1", 2), ("b.csv", "d2", 1), ("a.csv", "d9", 1)],
        "source_file string, source_file_digest string, source_line int",
    )
    # c.csv#d3 has no row: a version without rows is left out, as `ledger.rows_by_version` leaves it.
    versions = ["a.csv#d1", "b.csv#d2", "c.csv#d3"]
    counts = append_counting_versions(spark, rows, path, versions, observed_limit=observed_limit)
    assert counts == {"a.csv#d1": 2, "b.csv#d2": 1}
    assert read_table(spark, path).count() == 4


def files_by_partition(spark: SparkSession, path: str) -> dict[str, int]:
    files = [name.split("/")[-2] for name in read_table(spark, path).inputFiles()]
    return {partition: files.count(partition) for partition in sorted(set(files))}


def test_a_batch_writes_one_file_per_date_partition(spark: SparkSession, store: LocalStore) -> None:
    rows = "".join(f"1,{10 + i},7,2025-04-0{1 + i % 2}T10:00:00,5.00,2025-04-0{1 + i % 2}\n" for i in range(8))
    write_landing(store, "orders", "1.csv", ORDERS_HEADER + rows)
    run_all(spark, store, "r1", datasets=ORDERS_ONLY)  # new keys only: appended
    path = table_path(store, "processed", ORDERS)
    assert files_by_partition(spark, path) == {"date=2025-04-01": 1, "date=2025-04-02": 1}
    # An update of a key of 04-01 and a new key on 04-02: merged; each touched date gets one file.
    write_landing(
        store,
        "orders",
        "2.csv",
        ORDERS_HEADER + "1,10,7,2025-04-01T11:00:00,6.00,2025-04-01\n1,30,7,2025-04-02T11:00:00,6.00,2025-04-02\n",
    )
    run_all(spark, store, "r2", datasets=ORDERS_ONLY)
    assert files_by_partition(spark, path) == {"date=2025-04-01": 1, "date=2025-04-02": 2}


def test_a_batch_over_the_rejection_limit_is_held_in_landing_until_released(
    spark: SparkSession, store: LocalStore
) -> None:
    limit = RejectionPolicy(max_share=0.5, min_rows=4)
    good = [f"1,{10 + i},7,2025-04-01T10:00:00,5.00,2025-04-01" for i in range(2)]
    bad = [f"1,{20 + i},7,2025-04-01T10:00:00,-1,2025-04-01" for i in range(3)]
    write_landing(store, "orders", "mostly_bad.csv", ORDERS_HEADER + "\n".join(good + bad) + "\n")
    first = run_all(spark, store, "r1", limit, datasets=ORDERS_ONLY)["orders"]
    reason = (
        "rejected 3 of 5 rows (60.0%), over the rejection limit of 50.0% "
        "(LAKEHOUSE_REJECTION_MAX_SHARE; applied from 4 rows, LAKEHOUSE_REJECTION_MIN_ROWS)"
    )
    version = first.files[0]
    assert (first.held, first.rows_read, first.rows_accepted, first.rows_rejected, first.rows_held) == (
        {version: reason},
        5,
        0,
        3,
        2,
    )
    # Nothing merged, the rejected rows recorded, the file still in landing, the ledger says why.
    assert table(spark, store, "processed", ORDERS, ["order_id"]) == []
    assert table(spark, store, "rejected", ORDERS, ["order_id"]) == [("20",), ("21",), ("22",)]
    assert [o.key for o in store.list("landing/orders")] == ["landing/orders/mostly_bad.csv"]
    held_entries = ledger.batch_entries(spark, store, "orders", ["r1"])
    assert [(e.stage, e.rows_read, e.rows_accepted, e.rows_rejected, e.detail) for e in held_entries] == [
        ("held", 5, 2, 3, reason)
    ]

    # A later run takes a new file and leaves the held one alone (no rejection counted twice).
    write_landing(store, "orders", "good.csv", ORDERS_HEADER + "1,30,7,2025-04-01T10:00:00,5.00,2025-04-01\n")
    second = run_all(spark, store, "r2", limit, datasets=ORDERS_ONLY)["orders"]
    assert (second.rows_read, second.rows_accepted, second.held, second.still_held) == (1, 1, {}, [version])
    assert [o.key for o in store.list("landing/orders")] == ["landing/orders/mostly_bad.csv"]

    with pytest.raises(LookupError, match=r"not held in landing/orders: landing/orders/good.csv \(held there: "):
        release_held(spark, store, ORDERS, ["landing/orders/good.csv"], "release-1", NOW)
    assert release_held(spark, store, ORDERS, ["landing/orders/mostly_bad.csv"], "release-1", NOW) == [version]
    third = run_all(spark, store, "r3", limit, datasets=ORDERS_ONLY)["orders"]
    assert (third.rows_read, third.rows_accepted, third.rows_rejected, third.held) == (5, 2, 3, {})
    assert table(spark, store, "processed", ORDERS, ["order_id"]) == [(10,), (11,), (30,)]
    assert table(spark, store, "rejected", ORDERS, ["order_id", "run_id"]) == [("20", "r1"), ("21", "r1"), ("22", "r1")]
    assert store.list("landing/orders") == []
