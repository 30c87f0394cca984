"""Runs the daemon launches: never two writers of one table, and a killed `lakehouse dev` that leaves
nothing stuck.

A real `lakehouse dev` (webserver, daemon, code server) on a folder root and a SQLite instance of its
own (the local default, where a concurrency-slot claim can be won twice), with a tiny delivery
landed: the landing sensor starts a run for it, and a run of the whole job is launched as the UI's
button does, at the same moment. The `lakehouse dev` is killed while the sensor's run writes, in the
middle of the race, and restarted: the interrupted runs are failed and retried once, and the
retries race each other. At most two runs at once (`LAKEHOUSE_MAX_CONCURRENT_RUNS`), as the machine
has two cores. `lakehouse dev` on a PostgreSQL instance, its runs holding the same locks, is the lab
group's (`test_event_driven.py`); the locks themselves are tested on both storages in
`test_table_locks.py`, the release of a killed run (failed for its retry, its pool slots freed) in
`test_instance.py`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from pyspark.sql import SparkSession

from glue_scripts import ledger
from glue_scripts.delta_tables import read_table
from glue_scripts.storage import LocalStore
from lakehouse_assets import cli
from lakehouse_assets.instance import POSTGRES_URL_VARIABLE
from lakehouse_assets.table_locks import LOCK_ACQUIRED
from tests.dagster_runs import LAUNCH_JOB, UNFINISHED, assert_one_holder_at_a_time, failures, lock_holds
from tests.helpers import REPO
from tests.lab_fixtures import code_location_loaded, graphql, wait_for, warning_lines
from tests.processes import free_port, start_group, stop_group
from tests.spark_settings import subprocess_environment

pytestmark = pytest.mark.e2e

PRODUCTS = "product_id,department_id,department,product_name\n1,1,Books,A\n2,1,Books,B\n"
ORDERS = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
ITEMS = "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"
DAYS = (1, 2)
TIMEOUT_SECONDS = 600


def land_delivery(root: Path) -> None:
    """Products, then one order and one order item per day."""
    source = root.parent / "source"
    for dataset in ("orders", "order_items"):
        (source / dataset).mkdir(parents=True)
    (source / "products.csv").write_text(PRODUCTS)
    for day in DAYS:
        (source / "orders" / f"2025-04-0{day}.csv").write_text(
            ORDERS + f"1,{10 + day},5,2025-04-0{day}T10:00:00,2.50,2025-04-0{day}\n"
        )
        (source / "order_items" / f"2025-04-0{day}.csv").write_text(
            ITEMS + f"{100 + day},{10 + day},5,,{(day - 1) % 2 + 1},1,0,2025-04-0{day}T10:00:00,2025-04-0{day}\n"
        )
    assert cli.main(["land", str(source), "--root", str(root)]) == 0


@dataclass
class Deployment:
    """A root, a Dagster instance (SQLite or PostgreSQL) and the environment of every process on them."""

    root: Path
    home: Path
    environment: dict[str, str]
    log: Path

    def instance(self) -> DagsterInstance:
        with pytest.MonkeyPatch.context() as patch:
            patch.delenv(POSTGRES_URL_VARIABLE, raising=False)
            return DagsterInstance.from_config(str(self.home))

    def start_dev(self) -> tuple[subprocess.Popen[bytes], str]:
        port = free_port()
        command = [str(REPO / ".venv" / "bin" / "lakehouse"), "dev", "--port", str(port)]
        process = start_group(command, self.environment, REPO, self.log)
        base_url = f"http://127.0.0.1:{port}"
        wait_for(lambda: code_location_loaded(base_url, process, self.log), 300, "the lakehouse code location")
        return process, base_url


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    root, home = tmp_path / "lakehouse", tmp_path / "dagster_home"
    home.mkdir()
    land_delivery(root)
    environment = {
        **subprocess_environment(dict(os.environ)),
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_ROOT": str(root),
        "LAKEHOUSE_MAX_CONCURRENT_RUNS": "2",
        # The landing sensor's first tick, at the daemon's start, requests the delivery; the interval
        # stays the shipped 30 s. Automation is not part of these races: its ticks (each evaluates every
        # asset's condition) would only take CPU from the runs.
        "LAKEHOUSE_AUTOMATION_INTERVAL_SECONDS": "600",
    }
    environment.pop(POSTGRES_URL_VARIABLE, None)
    return Deployment(root, home, environment, tmp_path / "lakehouse_dev.log")


def settled(instance: DagsterInstance, root: Path) -> bool:
    return not instance.get_runs(RunsFilter(statuses=UNFINISHED)) and not list((root / "landing").rglob("*.csv"))


def assert_delivered(spark: SparkSession, root: Path) -> None:
    """The tables and the archive exactly as one run of the delivery leaves them."""

    def rows(zone: str, dataset: str) -> list[tuple]:
        frame = read_table(spark, str(root / zone / dataset)).drop("ingested_at", "processed_at", "run_id")
        return sorted(tuple(row) for row in frame.collect())

    assert [len(rows("raw", d)) for d in ("products", "orders", "order_items")] == [2, len(DAYS), len(DAYS)]
    assert [r[:2] for r in rows("processed", "orders")] == [(1, 10 + day) for day in DAYS]
    assert [r[:2] for r in rows("processed", "order_items")] == [(100 + day, 10 + day) for day in DAYS]
    assert [len(rows("rejected", d)) for d in ("products", "orders", "order_items")] == [0, 0, 0]
    archive = root / "archived"
    archived = sorted(f"{p.relative_to(archive).parts[0]}/{p.name}" for p in archive.rglob("*.csv"))
    files = [f"{dataset}/2025-04-0{day}.csv" for dataset in ("order_items", "orders") for day in DAYS]
    assert archived == [*files, "products/products.csv"]
    entries = ledger.read_ledger(spark, LocalStore(root)).groupBy("source_file", "stage").count().collect()
    # Every file once at each stage: raw, processed, archived.
    assert sorted(row["count"] for row in entries) == [1] * 3 * (1 + 2 * len(DAYS))


def start_race(base_url: str) -> None:
    """The landing sensor's first tick requests the delivery; at the same moment a run of the whole
    job is launched as the UI's Materialize button does."""
    launched = graphql(base_url, LAUNCH_JOB)["data"]["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched


def test_runs_from_the_sensor_and_the_ui_at_once_killed_with_lakehouse_dev_are_retried_once_and_never_write_together(
    deployment: Deployment, spark: SparkSession
) -> None:
    started = time.monotonic()
    process, base_url = deployment.start_dev()
    with deployment.instance() as instance:
        try:
            print(f"lakehouse dev up: {time.monotonic() - started:.0f} s")
            start_race(base_url)

            def sensor_run_writing() -> bool:
                """The sensor's run holds a table lock."""
                runs = instance.get_runs(
                    RunsFilter(statuses=[DagsterRunStatus.STARTED], tags={"lakehouse/trigger": "landing_files_sensor"})
                )
                return any(
                    (entry.user_message or "").startswith(LOCK_ACQUIRED)
                    for run in runs
                    for entry in instance.all_logs(run.run_id)
                )

            wait_for(sensor_run_writing, TIMEOUT_SECONDS, "the sensor's run to write a table", every=0.5)
        finally:
            # Everything at once, as a crashed machine: webserver, daemon, code server and the run workers.
            killed_at = time.time()
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
        print(f"killed while writing: {time.monotonic() - started:.0f} s")
        # The sensor's run, and the UI's if it had started.
        interrupted = [
            run.run_id
            for run in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED]))
        ]

        process, _ = deployment.start_dev()
        try:
            wait_for(lambda: settled(instance, deployment.root), TIMEOUT_SECONDS, "the retried runs to end")
            print(f"retried runs settled: {time.monotonic() - started:.0f} s")
            runs = instance.get_runs()
            errors = failures(instance, [run for run in runs if run.run_id not in interrupted])
            holds = lock_holds(instance, [run.run_id for run in runs], dict.fromkeys(interrupted, killed_at))
            storage = instance.event_log_storage
            slots = {pool: storage.get_concurrency_info(pool).claimed_slots for pool in storage.get_concurrency_keys()}
            failures_by_run = {
                run_id: [
                    entry.dagster_event.message
                    for entry in instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)
                    if entry.dagster_event
                ]
                for run_id in interrupted
            }
        finally:
            stop_group(process)

    triggers = {run.run_id: run.tags.get("lakehouse/trigger", "ui") for run in runs}
    assert {"landing_files_sensor", "ui"} <= set(triggers.values()), triggers
    assert "landing_files_sensor" in {triggers[run_id] for run_id in interrupted}, triggers
    log = deployment.log.read_text(errors="replace")
    statuses = {run.run_id: run.status for run in runs}
    for run_id, failure in failures_by_run.items():
        assert f"run {run_id} had died without ending" in log
        assert len(failure) == 1 and failure[0].startswith(f"the process of run {run_id} (pid "), failure
        assert statuses[run_id] == DagsterRunStatus.FAILURE
        retries = [run for run in runs if run.tags.get("dagster/parent_run_id") == run_id]
        assert [run.status for run in retries] == [DagsterRunStatus.SUCCESS]
    assert all(
        status == DagsterRunStatus.SUCCESS for run_id, status in statuses.items() if run_id not in interrupted
    ), errors
    assert all(claimed == [] for claimed in slots.values()), slots
    # Before the kill, after it (the retries race each other) and across it, one writer at a time.
    assert {"dataset_products", "dataset_orders", "dataset_order_items"} <= set(holds)
    assert_one_holder_at_a_time(holds)
    assert_delivered(spark, deployment.root)
    assert warning_lines(log) == []
