"""Event-driven operation end to end: `dagster dev` (webserver + daemon + code server) on a moto S3
root, the lab files uploaded, and nothing else: the landing sensor and the automation sensor must
bring every row to the processed tables and every file to the archive, with no manual launch.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from pyspark.sql import SparkSession

from glue_scripts.delta_tables import read_table
from glue_scripts.storage import open_store
from tests.conftest import LAB_DATA, REPO
from tests.processes import free_port, listening_addresses, start_group, stop_group
from tests.s3_fixtures import secret_leaks

TIMEOUT_SECONDS = 15 * 60
EXPECTED_ROWS = {"products": 1_000, "orders": 7_500, "order_items": 40_803}
LAB_FILES = 31


@pytest.fixture
def dagster_dev(s3_root: str, tmp_path: Path) -> Iterator[tuple[DagsterInstance, Path]]:
    """`lakehouse dev` (= `dagster dev` on this root) in its own process group, stopped afterwards."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_ROOT": s3_root,
        "LAKEHOUSE_SENSOR_INTERVAL_SECONDS": "5",
    }
    log = tmp_path / "dagster_dev.log"
    port = free_port()
    command = [str(REPO / ".venv" / "bin" / "lakehouse"), "dev", "--port", str(port)]
    process = start_group(command, environment, REPO, log)
    previous = os.environ.get("DAGSTER_HOME")
    try:
        os.environ["DAGSTER_HOME"] = str(home)
        # Opening the instance while `dagster dev` still creates its SQLite tables races with it
        # ("table ... already exists"): wait until its webserver answers, which is after that.
        wait_for(lambda: webserver_answers(port), 180, "the Dagster webserver")
        # `lakehouse dev` without --host serves this machine only.
        assert listening_addresses(port) == {"127.0.0.1"}
        with DagsterInstance.get() as instance:
            yield instance, log
    finally:
        if previous is None:
            os.environ.pop("DAGSTER_HOME", None)
        else:
            os.environ["DAGSTER_HOME"] = previous
        stop_group(process)


def webserver_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(2)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


@pytest.mark.slow
def test_dropped_files_flow_to_processed_and_archive_with_no_manual_launch(
    dagster_dev: tuple[DagsterInstance, Path], s3_root: str, s3_spark: SparkSession
) -> None:
    instance, log = dagster_dev
    store = open_store(s3_root)
    # The daemon is up and has ticked the landing sensor once before anything lands.
    wait_for(lambda: "landing_files_sensor skipped" in log.read_text(errors="replace"), 180, "a first sensor tick")
    started = time.monotonic()
    for dataset in EXPECTED_ROWS:
        files = sorted(LAB_DATA.glob(f"{dataset}.csv")) + sorted((LAB_DATA / dataset).glob("*.csv"))
        for file in files:
            store.write_bytes(f"landing/{dataset}/{file.name}", file.read_bytes())

    def settled() -> bool:
        unfinished = instance.get_runs(
            RunsFilter(
                statuses=[
                    DagsterRunStatus.QUEUED,
                    DagsterRunStatus.NOT_STARTED,
                    DagsterRunStatus.STARTING,
                    DagsterRunStatus.STARTED,
                ]
            )
        )
        return not unfinished and not store.list("landing") and len(store.list("archived")) == LAB_FILES

    wait_for(settled, TIMEOUT_SECONDS, "landing to drain into the archive")
    elapsed = time.monotonic() - started

    counts = {
        dataset: read_table(s3_spark, store.spark_path(f"processed/{dataset}")).count() for dataset in EXPECTED_ROWS
    }
    assert counts == EXPECTED_ROWS
    assert [o.key.split("/")[1] for o in store.list("archived")].count("order_items") == 15
    runs = instance.get_runs()
    assert runs, "no runs were launched"
    assert {run.tags.get("lakehouse/trigger") for run in runs} <= {"landing_files_sensor", "automation"}
    assert all(run.status == DagsterRunStatus.SUCCESS for run in runs), [(r.run_id, r.status) for r in runs]
    assert len(instance.get_dynamic_partitions("landed_files")) == LAB_FILES
    # The AWS credentials every process had never reached a log, the instance's storage (run tags,
    # config, events, captured output) or the lakehouse root.
    assert secret_leaks([log, Path(os.environ["DAGSTER_HOME"])], s3_root) == []
    print(f"landing -> processed + archived: {elapsed:.0f} s in {len(runs)} runs")
