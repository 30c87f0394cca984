"""Fault injection: the pipeline stopped at chosen points, then run again, ends as a clean run.

On each root (a folder, and an S3 root on the moto server) the crashes come in turn, each run
recovering from the previous crash on its way to the next one (a crash during recovery, as a flaky
machine would cause):
- first a real crash: a process of its own (`fault_driver`, its own Spark JVM in its own process
  group) is SIGKILLed while the raw append runs (a timer armed at the point); no cleanup of any kind
  runs, and on S3 its s3a and boto3 requests stop mid-flight;
- then named failpoints (`glue_scripts.failpoints`) in pipeline order, injected in this process on
  the shared Spark session: the hook raises there (`InjectedCrash`, which no stage catches), leaving
  the tables, the ledger and the files as a crash at that moment would. On S3 only the points where
  the storage itself differs: a merge's rewrite and the archive's copy + delete.
The last rerun (the shared session, as any later run) must leave every table row for row as one
uninterrupted run does (`CLEAN_RUN`), each file version with exactly one entry per stage in the
ledger, each file archived once and nothing left in landing.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from glue_scripts import ledger
from glue_scripts.contracts import DATASETS
from glue_scripts.delta_tables import read_table
from glue_scripts.failpoints import install_hook
from glue_scripts.storage import LocalStore, S3Store, Store
from tests.glue_scripts.fault_driver import run_pipeline
from tests.helpers import REPO, InjectedCrash, raise_at

PRODUCTS = "product_id,department_id,department,product_name\n1,1,Books,A\n2,1,Books,B\n"
ORDERS = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
ITEMS = "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"
FILES = {
    ("products", "products.csv"): PRODUCTS,
    ("orders", "2025-04-01.csv"): ORDERS + "1,11,5,2025-04-01T10:00:00,2.50,2025-04-01\n",
    ("orders", "2025-04-02.csv"): ORDERS + "1,12,5,2025-04-02T10:00:00,3.50,2025-04-02\n2,13,5,,x,2025-04-02\n",
    ("order_items", "2025-04-01.csv"): ITEMS + "101,11,5,,1,1,0,2025-04-01T10:00:00,2025-04-01\n",
    ("order_items", "2025-04-02.csv"): ITEMS + "102,12,5,,2,1,0,2025-04-02T10:00:00,2025-04-02\n",
}
ZONES = ("raw", "processed", "rejected")
VOLATILE = ("ingested_at", "processed_at", "rejected_at", "run_id", "resolved_at", "resolved_run_id")


def digest(dataset: str, name: str) -> str:
    return hashlib.md5(FILES[(dataset, name)].encode()).hexdigest()


def raw_rows(dataset: str, name: str) -> list[tuple]:
    """Raw keeps each landed line as text (empty fields null) with its file, digest and line number."""
    lines = FILES[(dataset, name)].splitlines()[1:]
    return [
        (
            *(field or None for field in line.split(",")),
            None,
            None,
            f"landing/{dataset}/{name}",
            digest(dataset, name),
            number,
        )
        for number, line in enumerate(lines, start=2)
    ]


def source(dataset: str, name: str, line: int) -> tuple[str, int]:
    return f"landing/{dataset}/{name}", line


# What one uninterrupted run leaves in the tables, volatile columns (times, run ids) left out: the
# order without a timestamp and with a total of `x` is rejected for both, every other row accepted.
ORDER_13 = raw_rows("orders", "2025-04-02.csv")[1]
DAY_1, DAY_2 = date(2025, 4, 1), date(2025, 4, 2)
TEN_1, TEN_2 = datetime(2025, 4, 1, 10), datetime(2025, 4, 2, 10)
CLEAN_RUN: dict[str, list[tuple]] = {
    **{
        f"raw/{dataset}": [row for (d, name) in FILES if d == dataset for row in raw_rows(d, name)]
        for dataset in DATASETS
    },
    "processed/products": [
        (1, 1, "Books", "A", *source("products", "products.csv", 2)),
        (2, 1, "Books", "B", *source("products", "products.csv", 3)),
    ],
    "processed/orders": [
        (1, 11, 5, TEN_1, Decimal("2.50"), DAY_1, *source("orders", "2025-04-01.csv", 2)),
        (1, 12, 5, TEN_2, Decimal("3.50"), DAY_2, *source("orders", "2025-04-02.csv", 2)),
    ],
    "processed/order_items": [
        (101, 11, 5, None, 1, 1, 0, TEN_1, DAY_1, *source("order_items", "2025-04-01.csv", 2)),
        (102, 12, 5, None, 2, 1, 0, TEN_2, DAY_2, *source("order_items", "2025-04-02.csv", 2)),
    ],
    "rejected/products": [],
    "rejected/orders": [
        (*ORDER_13[:6], None, ["missing_order_timestamp", "invalid_total_amount"], *ORDER_13[8:]),
    ],
    "rejected/order_items": [],
}


def tables(spark: SparkSession, store: Store) -> dict[str, list[tuple]]:
    found = {}
    for zone in ZONES:
        for dataset in DATASETS:
            frame = read_table(spark, store.spark_path(f"{zone}/{dataset}"))
            frame = frame.drop(*[c for c in VOLATILE if c in frame.columns])
            found[f"{zone}/{dataset}"] = sorted(map(tuple, frame.collect()), key=repr)
    return found


def land_all(store: Store) -> None:
    for (dataset, name), text in FILES.items():
        store.write_bytes(f"landing/{dataset}/{name}", text.encode())


def spark_and_store(
    request: pytest.FixtureRequest, spark: SparkSession, root: str, tmp_path: Path
) -> tuple[SparkSession, Store]:
    if root == "local":
        return spark, LocalStore(tmp_path / "lakehouse")
    store = S3Store(request.getfixturevalue("s3_root"), request.getfixturevalue("s3_client"))
    return request.getfixturevalue("s3_spark"), store


# In pipeline order: each crashed run gets past the point before it, so every rerun first recovers
# from the previous crash and then crashes at the next point.
IN_PROCESS_POINTS = {
    "raw_appended": "rows in raw, no ledger entry",
    "processed_merged_orders": "processed merged, rejected rows and ledger not written",
    "process_recorded_order_items": "between the last merge and the archive",
    "archive_moved": "one file archived, the others still in landing",
}
# On S3 the in-process points where the storage itself differs: a merge's rewrite, and the archive's
# copy + delete. The others differ from their neighbours only in the ledger, the same Delta table on
# either root.
S3_IN_PROCESS_POINTS = ("processed_merged_orders", "archive_moved")
# The real crash: a timer armed where the raw append starts, so the kill lands while it runs (or just after).
KILLED_DURING_RAW_WRITE = "raw_write+1.5"


def assert_rerun_ends_as_a_clean_run(spark: SparkSession, store: Store) -> None:
    run_pipeline(spark, store.root, "rerun")

    assert tables(spark, store) == {table: sorted(rows, key=repr) for table, rows in CLEAN_RUN.items()}
    entries = ledger.read_ledger(spark, store).collect()
    per_stage = Counter((e.source_file, e.stage) for e in entries)
    assert per_stage == Counter(
        {(f"landing/{d}/{n}", stage): 1 for (d, n) in FILES for stage in ("raw", "processed", "archived")}
    )
    archived = sorted(o.key for o in store.list("archived"))
    assert archived == sorted(f"archived/{d}/2025/04/20/{n}" for (d, n) in FILES)
    assert store.list("landing") == []


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("root", "points"), [("local", tuple(IN_PROCESS_POINTS)), ("s3", S3_IN_PROCESS_POINTS)], ids=["local", "s3"]
)
def test_a_process_killed_during_the_raw_write_then_a_crash_at_each_point_then_a_rerun_ends_as_a_clean_run(
    request: pytest.FixtureRequest,
    spark: SparkSession,
    root: str,
    points: tuple[str, ...],
    tmp_path: Path,
) -> None:
    spark, store = spark_and_store(request, spark, root, tmp_path)
    land_all(store)
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.glue_scripts.fault_driver", store.root, "crashed", KILLED_DURING_RAW_WRITE],
        cwd=REPO,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,  # the kill takes the driver's process group: Python and its JVM
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr
    for number, point in enumerate(points):
        with install_hook(raise_at(point)), pytest.raises(InjectedCrash, match=point):
            run_pipeline(spark, store.root, f"crashed-{number}")

    assert_rerun_ends_as_a_clean_run(spark, store)
