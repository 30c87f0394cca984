"""The stages' file handling on both kinds of root (a folder, and S3 on a moto server): the moves of
archive and quarantine surviving a crash between their copy and their delete, and odd landing keys.
The whole way from landing to archive on S3 is the job scripts' test (tests/glue_scripts/test_jobs.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from glue_scripts import ledger
from glue_scripts.contracts import ORDERS, PRODUCTS
from glue_scripts.delta_tables import read_table
from glue_scripts.stages import archive_landed, ingest_landing, process_batch, table_path
from glue_scripts.stages.ingest import quarantine_file
from glue_scripts.storage import LocalStore, S3Store, Store

NOW = datetime(2025, 4, 20, 8, 0, tzinfo=UTC)
DAY = "2025/04/20"
PRODUCTS_HEADER = "product_id,department_id,department,product_name\n"
ORDERS_HEADER = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
ITEMS_HEADER = (
    "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"
)


@pytest.fixture(params=["local", "s3"])
def spark_and_store(request: pytest.FixtureRequest, spark: SparkSession, tmp_path: Path) -> tuple[SparkSession, Store]:
    if request.param == "local":
        return spark, LocalStore(tmp_path / "lakehouse")
    store = S3Store(request.getfixturevalue("s3_root"), request.getfixturevalue("s3_client"))
    return request.getfixturevalue("s3_spark"), store


@pytest.fixture(params=["local", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "lakehouse")
    return S3Store(request.getfixturevalue("s3_root"), request.getfixturevalue("s3_client"))


def keys(store: Store, prefix: str) -> list[str]:
    return [o.key for o in store.list(prefix)]


def archived_entries(spark: SparkSession, store: Store, dataset: str) -> list[tuple[str, str, str]]:
    rows = (
        ledger.read_ledger(spark, store)
        .where(f"dataset = '{dataset}' AND stage = '{ledger.STAGE_ARCHIVED}'")
        .select("source_file", "run_id", "detail")
        .collect()
    )
    return sorted(tuple(row) for row in rows)


def test_archive_after_a_crash_between_copy_and_delete(spark_and_store: tuple[SparkSession, Store]) -> None:
    spark, store = spark_and_store
    a = (ORDERS_HEADER + "1,10,7,2025-04-01T10:00:00,5.00,2025-04-01\n").encode()
    b = (ORDERS_HEADER + "1,11,7,2025-04-01T11:00:00,6.00,2025-04-01\n").encode()
    store.write_bytes("landing/orders/a.csv", a)
    store.write_bytes("landing/orders/b.csv", b)
    store.write_bytes(f"archived/orders/{DAY}/b.csv", b"an earlier delivery named b.csv\n")
    ingest_landing(spark, store, ORDERS, "r1", NOW)
    assert process_batch(spark, store, ORDERS, "r1", NOW).rows_accepted == 2
    # The run died inside its move of a.csv: the copy is in the archive, the source still in landing.
    store.write_bytes(f"archived/orders/{DAY}/a.csv", store.read_bytes("landing/orders/a.csv"))
    b_digest = store.list("landing/orders")[1].digest

    outcome = archive_landed(spark, store, ORDERS, "r2", NOW)

    assert outcome.archived == {
        "landing/orders/a.csv": f"archived/orders/{DAY}/a.csv",
        "landing/orders/b.csv": f"archived/orders/{DAY}/b.{b_digest[:12]}.csv",
    }
    assert keys(store, "landing") == []
    assert keys(store, "archived") == [
        f"archived/orders/{DAY}/a.csv",
        f"archived/orders/{DAY}/b.{b_digest[:12]}.csv",
        f"archived/orders/{DAY}/b.csv",
    ]
    assert store.read_bytes(f"archived/orders/{DAY}/a.csv") == a
    assert store.read_bytes(f"archived/orders/{DAY}/b.{b_digest[:12]}.csv") == b
    assert store.read_bytes(f"archived/orders/{DAY}/b.csv") == b"an earlier delivery named b.csv\n"
    assert archived_entries(spark, store, "orders") == [
        ("landing/orders/a.csv", "r2", f"archived/orders/{DAY}/a.csv"),
        ("landing/orders/b.csv", "r2", f"archived/orders/{DAY}/b.{b_digest[:12]}.csv"),
    ]
    assert archive_landed(spark, store, ORDERS, "r3", NOW).archived == {}
    assert len(archived_entries(spark, store, "orders")) == 2


def test_quarantine_after_a_crash_between_copy_and_delete(any_store: Store) -> None:
    any_store.write_bytes("landing/orders/bad.csv", b"not,the,header\n")
    any_store.write_bytes("landing/orders/worse.csv", b"\xff\xfe\n")
    any_store.write_bytes("quarantine/orders/worse.csv", b"an earlier worse.csv\n")
    bad, worse = any_store.list("landing/orders")
    # The crashed run had copied bad.csv (and written its reason) but not deleted it from landing.
    any_store.write_bytes("quarantine/orders/bad.csv", b"not,the,header\n")
    any_store.write_bytes("quarantine/orders/bad.csv.reason.txt", b"landing/orders/bad.csv: missing columns\n")

    assert quarantine_file(any_store, "orders", bad, "missing columns") == "quarantine/orders/bad.csv"
    assert quarantine_file(any_store, "orders", worse, "not UTF-8") == (
        f"quarantine/orders/worse.{worse.digest[:12]}.csv"
    )
    assert keys(any_store, "landing") == []
    assert keys(any_store, "quarantine") == [
        "quarantine/orders/bad.csv",
        "quarantine/orders/bad.csv.reason.txt",
        f"quarantine/orders/worse.{worse.digest[:12]}.csv",
        f"quarantine/orders/worse.{worse.digest[:12]}.csv.reason.txt",
        "quarantine/orders/worse.csv",
    ]
    assert any_store.read_bytes("quarantine/orders/bad.csv") == b"not,the,header\n"
    assert any_store.read_bytes(f"quarantine/orders/worse.{worse.digest[:12]}.csv.reason.txt") == (
        b"landing/orders/worse.csv: not UTF-8\n"
    )
    assert any_store.read_bytes("quarantine/orders/worse.csv") == b"an earlier worse.csv\n"


# Names an uploader may choose that Hadoop's paths cannot take as they are (`:`, glob patterns,
# `%`, `\`) next to ones they can (space, accents, `+`).
ODD_NAMES = [
    "colon 10:00.csv",
    "glob[1].csv",
    "star*.csv",
    "question?.csv",
    "brace{a,b}.csv",
    "percent%20.csv",
    "back\\slash.csv",
    "hash#1.csv",
    "quote's;semi.csv",
    "with space é+1.csv",
]


def test_odd_landing_keys_are_read_and_archived_under_their_own_names(
    spark_and_store: tuple[SparkSession, Store],
) -> None:
    spark, store = spark_and_store
    for number, name in enumerate(ODD_NAMES, start=1):
        store.write_bytes(f"landing/products/{name}", f"{PRODUCTS_HEADER}{number},1,Books,N{number}\n".encode())

    ingested = ingest_landing(spark, store, PRODUCTS, "r1", NOW)
    processed = process_batch(spark, store, PRODUCTS, "r1", NOW)
    archive_landed(spark, store, PRODUCTS, "r1", NOW)

    assert ingested.quarantined == {}
    assert ingested.rows_by_file == {f"landing/products/{name}": 1 for name in ODD_NAMES}
    assert (processed.rows_read, processed.rows_accepted) == (10, 10)
    raw = read_table(spark, table_path(store, "raw", PRODUCTS)).select("source_file", "product_id")
    assert sorted(tuple(row) for row in raw.collect()) == sorted(
        (f"landing/products/{name}", str(number)) for number, name in enumerate(ODD_NAMES, start=1)
    )
    assert keys(store, "landing") == []
    assert keys(store, "_staging") == []  # the copies Spark read are gone
    assert sorted(keys(store, "archived")) == sorted(f"archived/products/{DAY}/{name}" for name in ODD_NAMES)
