"""The instance `lakehouse` expects: its dagster.yaml from the settings, and runs of dead processes released
(on SQLite and on PostgreSQL: the storage is what differs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus
from dagster._core.events import EngineEventData  # what Dagster's run worker reports: replayed below

from lakehouse_assets.instance import (
    LEGACY_INSTANCE_YAML,
    POSTGRES_URL_VARIABLE,
    RUN_HOST_TAG,
    RUN_PID_TAG,
    assign_stranded_steps,
    cli_run_lock,
    cli_run_tags,
    ensure_dagster_home,
    release_dead_runs,
    run_host_tags,
)


@pytest.fixture
def instance(instance_on_each_storage: DagsterInstance) -> DagsterInstance:
    return instance_on_each_storage


EXPECTED_CONFIG = {
    "telemetry": {"enabled": False},
    "concurrency": {"runs": {"max_concurrent_runs": 4}, "pools": {"default_limit": 1, "granularity": "op"}},
    "run_monitoring": {
        "enabled": True,
        "poll_interval_seconds": 30,
        "start_timeout_seconds": 300,
        "free_slots_after_run_end_seconds": 60,
    },
    "run_retries": {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False},
}


@pytest.mark.parametrize("instance_on_each_storage", ["sqlite"], indirect=True)  # the local default
def test_the_instance_queues_runs_gives_each_pool_one_slot_and_retries_dead_runs_once(
    instance: DagsterInstance, tmp_path: Path
) -> None:
    assert yaml.safe_load((tmp_path / "home" / "dagster.yaml").read_text()) == EXPECTED_CONFIG
    assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"
    assert instance.run_retries_max_retries == 1


def test_a_postgres_url_makes_a_postgres_instance_without_writing_the_password(
    postgres_url: str, postgres_server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv(POSTGRES_URL_VARIABLE, postgres_url)
    monkeypatch.setenv("LAKEHOUSE_MAX_CONCURRENT_RUNS", "2")
    ensure_dagster_home()
    text = (home / "dagster.yaml").read_text()
    assert yaml.safe_load(text) == {
        **EXPECTED_CONFIG,
        "storage": {"postgres": {"postgres_url": {"env": POSTGRES_URL_VARIABLE}}},
        "concurrency": {"runs": {"max_concurrent_runs": 2}, "pools": {"default_limit": 1, "granularity": "op"}},
    }
    with DagsterInstance.get() as instance:
        storages = (instance.run_storage, instance.event_log_storage, instance.schedule_storage)
        assert [type(storage).__name__ for storage in storages] == [
            "PostgresRunStorage",
            "PostgresEventLogStorage",
            "PostgresScheduleStorage",
        ]
        instance.add_run(DagsterRun(job_name="lakehouse_job"))
        assert len(instance.get_runs()) == 1
    # Nothing under DAGSTER_HOME holds the password (the storage lives in PostgreSQL).
    for path in home.rglob("*"):
        assert not path.is_file() or postgres_server.password.encode() not in path.read_bytes(), path


def test_the_file_is_rewritten_while_lakehouse_owns_it_and_never_once_the_operator_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    config = home / "dagster.yaml"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv(POSTGRES_URL_VARIABLE, raising=False)
    config.write_text(LEGACY_INSTANCE_YAML)  # what earlier releases wrote: upgraded
    ensure_dagster_home()
    assert yaml.safe_load(config.read_text())["concurrency"]["runs"] == {"max_concurrent_runs": 4}
    monkeypatch.setenv("LAKEHOUSE_MAX_CONCURRENT_RUNS", "7")
    ensure_dagster_home()
    assert yaml.safe_load(config.read_text())["concurrency"]["runs"] == {"max_concurrent_runs": 7}
    owned = "telemetry:\n  enabled: true\n"
    config.write_text(owned)
    monkeypatch.setenv(POSTGRES_URL_VARIABLE, "postgresql://u:p@127.0.0.1:1/d")
    ensure_dagster_home()
    assert config.read_text() == owned
    assert "is set but" in capsys.readouterr().err
    monkeypatch.setenv("LAKEHOUSE_MAX_CONCURRENT_RUNS", "0")
    config.unlink()
    with pytest.raises(ValueError, match="LAKEHOUSE_MAX_CONCURRENT_RUNS must be a whole number of at least 1"):
        ensure_dagster_home()


def dead_pid() -> int:
    """The pid of a process that has ended."""
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def started_run(instance: DagsterInstance, tags: dict[str, str]) -> str:
    """A run record as a `lakehouse run` leaves it while it runs (or after it was SIGKILLed)."""
    run = instance.add_run(DagsterRun(job_name="lakehouse_job", status=DagsterRunStatus.STARTED, tags=tags))
    return run.run_id


def test_a_killed_cli_run_is_marked_failed_and_its_pool_slots_freed(instance: DagsterInstance) -> None:
    dead_tags = {**cli_run_tags(), RUN_PID_TAG: str(dead_pid())}
    dead_run = started_run(instance, dead_tags)
    live_run = started_run(instance, cli_run_tags())  # this very process: alive
    storage = instance.event_log_storage
    storage.set_concurrency_slots("lakehouse_processed_orders", 1)
    assert storage.claim_concurrency_slot("lakehouse_processed_orders", dead_run, "process_orders").is_claimed
    assert not storage.claim_concurrency_slot("lakehouse_processed_orders", "waiting", "process_orders").is_claimed

    assert release_dead_runs(instance) == [dead_run]
    assert instance.get_run_by_id(dead_run).status == DagsterRunStatus.FAILURE
    assert instance.get_run_by_id(live_run).status == DagsterRunStatus.STARTED
    info = storage.get_concurrency_info("lakehouse_processed_orders")
    assert [slot.run_id for slot in info.claimed_slots] == []
    assert release_dead_runs(instance) == []


def test_a_daemon_run_whose_worker_is_gone_is_failed_for_its_retry(instance: DagsterInstance) -> None:
    """What a killed `lakehouse dev` leaves: runs whose worker reported its pid, then died without ending."""
    gone, alive = dead_pid(), os.getpid()
    dead_run = started_run(instance, run_host_tags())
    live_run = started_run(instance, run_host_tags())
    other_host = started_run(instance, {RUN_HOST_TAG: "another-machine"})
    no_worker_yet = started_run(instance, run_host_tags())
    for run_id, pid in ((dead_run, gone), (live_run, alive), (other_host, gone)):
        # What Dagster's run worker records as it starts (`dagster api execute_run`).
        run = instance.get_run_by_id(run_id)
        assert run is not None
        instance.report_engine_event(f"Started process for run (pid: {pid}).", run, EngineEventData.in_process(pid))

    assert release_dead_runs(instance) == [dead_run]
    statuses = {run_id: instance.get_run_by_id(run_id).status for run_id in (live_run, other_host, no_worker_yet)}
    assert set(statuses.values()) == {DagsterRunStatus.STARTED}
    (failure,) = instance.all_logs(dead_run, of_type=DagsterEventType.RUN_FAILURE)
    assert failure.dagster_event is not None
    assert failure.dagster_event.message == f"the process of run {dead_run} (pid {gone}) is gone"
    # Failed, with a retry left: Dagster's daemon launches it once more (`run_retries`).
    assert instance.get_run_by_id(dead_run).status == DagsterRunStatus.FAILURE
    assert instance.run_retries_enabled and instance.run_retries_max_retries == 1


def test_a_step_queued_just_after_the_slot_was_freed_gets_it(instance: DagsterInstance) -> None:
    """Dagster's race, replayed in its order: B finds the slot taken, A frees it, then B is queued."""
    storage = instance.event_log_storage
    pool, step = "lakehouse_processed_products", "process_products"
    storage.set_concurrency_slots(pool, 1)
    storage.set_concurrency_slots("lakehouse_processed_orders", 1)
    assert storage.claim_concurrency_slot("lakehouse_processed_orders", "holder", "process_orders").is_claimed
    assert not storage.claim_concurrency_slot("lakehouse_processed_orders", "waiter", "process_orders").is_claimed
    assert storage.claim_concurrency_slot(pool, "a", step).is_claimed
    storage.free_concurrency_slot_for_step("a", step)
    storage.add_pending_step(concurrency_key=pool, run_id="b", step_key=step, should_assign=False)
    assert not storage.claim_concurrency_slot(pool, "b", step).is_claimed  # stranded: the slot is free

    # The waiter of a taken slot is left alone; the stranded step is assigned and claims the slot.
    assert assign_stranded_steps(instance) == [pool]
    assert storage.claim_concurrency_slot(pool, "b", step).is_claimed
    assert assign_stranded_steps(instance) == []
    assert not storage.claim_concurrency_slot("lakehouse_processed_orders", "waiter", "process_orders").is_claimed


@pytest.mark.e2e
def test_a_second_lakehouse_run_waits_for_the_first(tmp_path: Path) -> None:
    """While one `lakehouse run` holds the instance's lock, another waits, says so, then goes on."""
    home, root = tmp_path / "home", tmp_path / "lakehouse"
    home.mkdir(), root.mkdir()
    environment = {**os.environ, "DAGSTER_HOME": str(home)}
    command = [sys.executable, "-m", "lakehouse_assets.cli", "run", "--root", str(root)]
    with cli_run_lock(home):
        second = subprocess.Popen(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with pytest.raises(subprocess.TimeoutExpired):
            second.wait(timeout=10)  # blocked on the lock (an empty root would take ~3 s otherwise)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0
    assert err == f"lakehouse run: another `lakehouse run` on {home} is running; waiting for it\n"
    assert out.endswith("nothing to do, no run started\n")
