"""Two `lakehouse run`s started at once on one root and one Dagster instance.

The two processes take turns (`instance.cli_run_lock`): the second waits for the first, then finds
landing empty and starts no run. The pools alone (one slot per table) did not exclude them: on
SQLite storage two processes can both win a slot claim, and both runs once appended the same files
to raw. The tables must end exactly as after one run, every file archived once.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from pyspark.sql import SparkSession

from glue_scripts.delta_tables import read_table
from lakehouse_assets import cli
from tests.spark_settings import subprocess_environment

pytestmark = pytest.mark.e2e

PRODUCTS = "product_id,department_id,department,product_name\n1,1,Books,A\n2,1,Books,B\n"
ORDERS = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
ITEMS = "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"


def test_two_runs_at_once_end_as_one_run(spark: SparkSession, tmp_path: Path, dagster_home: Path) -> None:
    source, root = tmp_path / "source", tmp_path / "lakehouse"
    for dataset in ("orders", "order_items"):
        (source / dataset).mkdir(parents=True)
    (source / "products.csv").write_text(PRODUCTS)
    for day in (1, 2):
        (source / "orders" / f"2025-04-0{day}.csv").write_text(
            ORDERS + f"1,{10 + day},5,2025-04-0{day}T10:00:00,2.50,2025-04-0{day}\n"
        )
        (source / "order_items" / f"2025-04-0{day}.csv").write_text(
            ITEMS + f"{100 + day},{10 + day},5,,{day},1,0,2025-04-0{day}T10:00:00,2025-04-0{day}\n"
        )
    assert cli.main(["land", str(source), "--root", str(root)]) == 0

    environment = {**subprocess_environment(dict(os.environ)), "DAGSTER_HOME": str(dagster_home)}
    command = [sys.executable, "-m", "lakehouse_assets.cli", "run", "--root", str(root)]
    runs = [
        subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=900)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], "\n\n".join(outputs)

    def rows(zone: str, dataset: str) -> list[tuple]:
        frame = read_table(spark, str(root / zone / dataset)).drop("ingested_at", "processed_at", "run_id")
        return sorted(tuple(row) for row in frame.collect())

    assert [len(rows("raw", d)) for d in ("products", "orders", "order_items")] == [2, 2, 2]
    assert [r[:2] for r in rows("processed", "orders")] == [(1, 11), (1, 12)]
    assert [r[:2] for r in rows("processed", "order_items")] == [(101, 11), (102, 12)]
    assert [len(rows("rejected", d)) for d in ("products", "orders", "order_items")] == [0, 0, 0]
    archive = root / "archived"
    archived = sorted(f"{p.relative_to(archive).parts[0]}/{p.name}" for p in archive.rglob("*.csv"))
    assert archived == [
        "order_items/2025-04-01.csv",
        "order_items/2025-04-02.csv",
        "orders/2025-04-01.csv",
        "orders/2025-04-02.csv",
        "products/products.csv",
    ]
    assert not list((root / "landing").rglob("*.csv"))
    # One process ran the job; the other waited for it and then found landing empty: no second run.
    with DagsterInstance.get() as instance:
        statuses = [run.status for run in instance.get_runs()]
    assert statuses == [DagsterRunStatus.SUCCESS]
    assert sorted("nothing to do, no run started" in output for output in outputs) == [False, True]
