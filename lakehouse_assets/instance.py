"""The Dagster instance the lakehouse expects: `DAGSTER_HOME` with a `dagster.yaml` made for it.

Defaults (SQLite storage under `DAGSTER_HOME`, default `./.dagster`) plus two settings the pipeline
relies on: every concurrency pool has one slot, so two runs never write the same Delta table at the
same time (each writing step holds the pool named after its table, see `assets.py`), and telemetry
is off for a project-local instance. An existing `dagster.yaml` is left as it is: it is the
operator's; `INSTANCE_YAML` shows what to merge into it.

`lakehouse run`s on one instance also take turns as a whole (`cli_run_lock`, an exclusive lock on a
file in `DAGSTER_HOME`, released by the kernel even when the process is killed): the pools alone do
not exclude two processes on SQLite storage, whose slot claim is a read then a write that two
processes can both win at the same moment (seen in the concurrency test: both runs appended the
same files to raw).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

DEFAULT_DAGSTER_HOME = ".dagster"

INSTANCE_YAML = """\
# Written by `lakehouse` (lakehouse_assets/instance.py); edit freely, it is not overwritten.
telemetry:
  enabled: false
concurrency:
  pools:
    # One writer per Delta table: steps that write the same table wait for each other.
    default_limit: 1
    granularity: op
"""


def ensure_dagster_home() -> Path:
    """Set `DAGSTER_HOME` (default `./.dagster`) and write its `dagster.yaml` when there is none."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return home


RUN_HOST_TAG = "lakehouse/host"
RUN_PID_TAG = "lakehouse/pid"


def cli_run_tags() -> dict[str, str]:
    """Tags of a `lakehouse run`: which process on which machine holds its pool slots."""
    return {"lakehouse/trigger": "cli", RUN_HOST_TAG: socket.gethostname(), RUN_PID_TAG: str(os.getpid())}


def release_dead_cli_runs(instance: DagsterInstance) -> list[str]:
    """Mark `lakehouse run`s whose process is gone (killed, machine crash) as failed; free their slots.

    A run killed with SIGKILL never says it ended: it stays STARTED and keeps the one slot of every
    pool it held, so the next run on the same tables would wait forever. Only runs started by
    `lakehouse run` on this machine are judged (their pid is known); runs launched by the daemon
    are Dagster's to monitor (terminate them in the UI to free their slots).
    """
    released = []
    host = socket.gethostname()
    for record in instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED], tags={RUN_HOST_TAG: host})
    ):
        run = record.dagster_run
        pid = int(run.tags.get(RUN_PID_TAG, "0"))
        if pid and not process_alive(pid):
            instance.report_run_failed(run, f"the `lakehouse run` process (pid {pid}) is gone")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            released.append(run.run_id)
    return released


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


CLI_RUN_LOCK = "lakehouse-run.lock"


@contextmanager
def cli_run_lock(home: Path) -> Iterator[None]:
    """Hold the instance's `lakehouse run` lock; a second `lakehouse run` waits here, and says so."""
    with (home / CLI_RUN_LOCK).open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"lakehouse run: another `lakehouse run` on {home} is running; waiting for it", file=sys.stderr)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
