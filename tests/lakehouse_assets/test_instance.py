"""The instance `lakehouse` expects: one slot per pool, and slots of killed CLI runs given back."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import DagsterInstance, DagsterRun, DagsterRunStatus

from lakehouse_assets.instance import cli_run_lock, cli_run_tags, ensure_dagster_home, release_dead_cli_runs


@pytest.fixture
def instance(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    ensure_dagster_home()
    with DagsterInstance.get() as dagster_instance:
        yield dagster_instance


def test_the_instance_gives_each_pool_one_slot(instance: DagsterInstance, tmp_path: Path) -> None:
    config = yaml.safe_load((tmp_path / "home" / "dagster.yaml").read_text())
    assert config["concurrency"] == {"pools": {"default_limit": 1, "granularity": "op"}}
    assert config["telemetry"] == {"enabled": False}


def started_run(instance: DagsterInstance, tags: dict[str, str]) -> str:
    """A run record as a `lakehouse run` leaves it while it runs (or after it was SIGKILLed)."""
    run = instance.add_run(DagsterRun(job_name="lakehouse_job", status=DagsterRunStatus.STARTED, tags=tags))
    return run.run_id


def test_a_killed_cli_run_is_marked_failed_and_its_pool_slots_freed(instance: DagsterInstance) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    dead_tags = {**cli_run_tags(), "lakehouse/pid": str(dead.pid)}
    dead_run = started_run(instance, dead_tags)
    live_run = started_run(instance, cli_run_tags())  # this very process: alive
    storage = instance.event_log_storage
    storage.set_concurrency_slots("lakehouse_processed_orders", 1)
    assert storage.claim_concurrency_slot("lakehouse_processed_orders", dead_run, "process_orders").is_claimed
    assert not storage.claim_concurrency_slot("lakehouse_processed_orders", "waiting", "process_orders").is_claimed

    assert release_dead_cli_runs(instance) == [dead_run]
    assert instance.get_run_by_id(dead_run).status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(live_run).status == DagsterRunStatus.STARTED
    info = storage.get_concurrency_info("lakehouse_processed_orders")
    assert [slot.run_id for slot in info.claimed_slots] == []
    assert release_dead_cli_runs(instance) == []


@pytest.mark.e2e
def test_a_second_lakehouse_run_waits_for_the_first(tmp_path: Path) -> None:
    """While one `lakehouse run` holds the instance's lock, another waits, says so, then goes on."""
    home = tmp_path / "home"
    home.mkdir()
    environment = {**os.environ, "DAGSTER_HOME": str(home)}
    command = [sys.executable, "-m", "lakehouse_assets.cli", "run", "--root", str(tmp_path / "lakehouse")]
    with cli_run_lock(home):
        second = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            second.wait(timeout=10)  # blocked on the lock (an empty root would take ~3 s otherwise)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0
    assert err == f"lakehouse run: another `lakehouse run` on {home} is running; waiting for it\n"
    assert out.endswith("nothing to do, no run started\n")
