"""Fault injection: the pipeline SIGKILLed at chosen points, then run again, ends as a clean run.

The crashing run is a real process (`fault_driver`, its own Spark JVM in its process group), killed
by `glue_scripts.failpoints` at the named point: no cleanup of any kind runs. The rerun (the shared
test session, as any later run) must leave every table row for row as one uninterrupted run does,
each file version with exactly one entry per stage in the ledger, each file archived once and
nothing left in landing. Every point is tried on a local root, and those where the storage differs
on an S3 root too (moto server: the killed process's s3a and boto3 requests stop mid-flight; the
server lives in the test process).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from glue_scripts import ledger
from glue_scripts.delta_tables import read_table
from glue_scripts.failpoints import FAILPOINT_ENV
from glue_scripts.storage import LocalStore, S3Store, Store
from tests.conftest import REPO
from tests.glue_scripts.fault_driver import run_pipeline

pytestmark = pytest.mark.slow

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


def tables(spark: SparkSession, store: Store) -> dict[str, list[tuple]]:
    found = {}
    for zone in ZONES:
        for dataset in ("products", "orders", "order_items"):
            frame = read_table(spark, store.spark_path(f"{zone}/{dataset}"))
            frame = frame.drop(*[c for c in VOLATILE if c in frame.columns])
            found[f"{zone}/{dataset}"] = sorted(map(repr, frame.collect()))
    return found


def land_all(store: Store) -> None:
    for (dataset, name), text in FILES.items():
        store.write_bytes(f"landing/{dataset}/{name}", text.encode())


@pytest.fixture(scope="module")
def clean_run(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple]]:
    store = LocalStore(tmp_path_factory.mktemp("clean") / "lakehouse")
    land_all(store)
    run_pipeline(spark, store.root, "clean")
    return tables(spark, store)


def spark_and_store(request: pytest.FixtureRequest, root: str, tmp_path: Path) -> tuple[SparkSession, Store]:
    if root == "local":
        return request.getfixturevalue("spark"), LocalStore(tmp_path / "lakehouse")
    store = S3Store(request.getfixturevalue("s3_root"), request.getfixturevalue("s3_client"))
    return request.getfixturevalue("s3_spark"), store


POINTS = {
    "raw_write+1.5": "a timer: the kill lands while the raw append runs (or just after it)",
    "raw_appended": "rows in raw, no ledger entry",
    "processed_merged_orders": "processed merged, rejected rows and ledger not written",
    "process_recorded_order_items": "between the last merge and the archive",
    "archive_moved": "one file archived, the others still in landing",
}
# On S3 the points where the storage itself differs: a Delta commit (data files, then the log entry
# over s3a), a merge's rewrite, and the archive's copy + delete. The other two differ from their
# neighbours only in the ledger, which is the same Delta table on either root. (Each case is a cold
# Spark process: about 1.5 minutes of the suite.)
S3_POINTS = ("raw_write+1.5", "processed_merged_orders", "archive_moved")


@pytest.mark.parametrize(
    ("root", "point"),
    [("local", point) for point in POINTS] + [("s3", point) for point in S3_POINTS],
)
def test_a_kill_at_any_point_then_a_rerun_ends_as_a_clean_run(
    request: pytest.FixtureRequest, root: str, point: str, tmp_path: Path, clean_run: dict[str, list[tuple]]
) -> None:
    spark, store = spark_and_store(request, root, tmp_path)
    land_all(store)
    crashed = subprocess.run(
        [sys.executable, "-m", "tests.glue_scripts.fault_driver", store.root, "crashed"],
        cwd=REPO,
        env={**os.environ, FAILPOINT_ENV: point},
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,  # the kill takes the driver's process group: Python and its JVM
    )
    assert crashed.returncode == -signal.SIGKILL, crashed.stdout + crashed.stderr

    run_pipeline(spark, store.root, "rerun")

    assert tables(spark, store) == clean_run
    entries = ledger.read_ledger(spark, store).collect()
    per_stage = Counter((e.source_file, e.stage) for e in entries)
    assert per_stage == Counter(
        {(f"landing/{d}/{n}", stage): 1 for (d, n) in FILES for stage in ("raw", "processed", "archived")}
    )
    archived = sorted(o.key for o in store.list("archived"))
    assert archived == sorted(f"archived/{d}/2025/04/20/{n}" for (d, n) in FILES)
    assert store.list("landing") == []
