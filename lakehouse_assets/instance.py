"""The Dagster instance the lakehouse expects: `DAGSTER_HOME` with a `dagster.yaml` made for it.

`lakehouse` writes that file from its settings (README.md, "The Dagster instance"): SQLite or
PostgreSQL storage, a cap on runs in progress, one slot per concurrency pool, run monitoring and one
retry of a run whose process died, telemetry off. It is rewritten on every start while its first line
is `MANAGED_HEADER`; delete that line to own the file (`instance_yaml()` shows what to merge into it).
`cli_run_lock` makes `lakehouse run`s on one instance take turns (docs/ARCHITECTURE.md, "Orchestration").
"""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from dagster import DagsterEventType, DagsterInstance, DagsterRun, DagsterRunStatus, Definitions, RunsFilter

from lakehouse_assets.table_locks import file_lock

DEFAULT_DAGSTER_HOME = ".dagster"
POSTGRES_URL_VARIABLE = "LAKEHOUSE_POSTGRES_URL"
MAX_CONCURRENT_RUNS_VARIABLE = "LAKEHOUSE_MAX_CONCURRENT_RUNS"
DEFAULT_MAX_CONCURRENT_RUNS = 4
MANAGED_HEADER = "# Written by `lakehouse` from its settings on every start; delete this line to keep your own edits."
# What earlier releases wrote (and promised not to overwrite): still theirs as long as it is unchanged.
LEGACY_INSTANCE_YAML = """\
# Written by `lakehouse` (lakehouse_assets/instance.py); edit freely, it is not overwritten.
telemetry:
  enabled: false
concurrency:
  pools:
    # One writer per Delta table: steps that write the same table wait for each other.
    default_limit: 1
    granularity: op
"""


def max_concurrent_runs(environ: Mapping[str, str]) -> int:
    value = environ.get(MAX_CONCURRENT_RUNS_VARIABLE, str(DEFAULT_MAX_CONCURRENT_RUNS))
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{MAX_CONCURRENT_RUNS_VARIABLE} must be a whole number of at least 1, not {value!r}")
    return int(value)


def instance_yaml(environ: Mapping[str, str] | None = None) -> str:
    """The `dagster.yaml` for these settings (the environment by default)."""
    environ = os.environ if environ is None else environ
    storage = ""
    if environ.get(POSTGRES_URL_VARIABLE):
        storage = f"""\
storage:
  postgres:
    postgres_url:
      env: {POSTGRES_URL_VARIABLE}
"""
    return f"""\
{MANAGED_HEADER}
telemetry:
  enabled: false
{storage}concurrency:
  runs:
    # Queued runs: a backlog of sensor batches waits here instead of starting a process each.
    max_concurrent_runs: {max_concurrent_runs(environ)}
  pools:
    # One slot per table's writing step; the table locks (table_locks.py) make it exclusive.
    default_limit: 1
    granularity: op
run_monitoring:
  enabled: true
  poll_interval_seconds: 30
  start_timeout_seconds: 300
  free_slots_after_run_end_seconds: 60
run_retries:
  # A run whose process died is run once more; a failed step or check is not retried.
  enabled: true
  max_retries: 1
  retry_on_asset_or_op_failure: false
"""


def ensure_dagster_home() -> Path:
    """Set `DAGSTER_HOME` (default `./.dagster`) and write its `dagster.yaml` unless the operator owns it."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    current = config.read_text() if config.exists() else None
    if current is None or current == LEGACY_INSTANCE_YAML or current.startswith(MANAGED_HEADER):
        wanted = instance_yaml()
        if current != wanted:
            config.write_text(wanted)
    elif os.environ.get(POSTGRES_URL_VARIABLE) and "postgres" not in current:
        print(
            f"lakehouse: {POSTGRES_URL_VARIABLE} is set but {config} (yours, not rewritten) has no postgres "
            "storage: the instance stays as that file says",
            file=sys.stderr,
        )
    return home


def definitions_pools(definitions: Definitions) -> list[str]:
    """The concurrency pools the definitions' steps claim."""
    pools = {getattr(getattr(asset, "node_def", None), "pool", None) for asset in definitions.assets or []}
    return sorted(pool for pool in pools if isinstance(pool, str))


def ensure_pool_limits(instance: DagsterInstance, pools: Sequence[str]) -> None:
    """Give each pool its default limit now, one process, one pool at a time, before any run claims it.

    A run that finds a pool without a limit sets it as it claims the slot; on PostgreSQL two runs
    doing that at the same moment both insert the row, and the loser's run fails with "current
    transaction is aborted" (dagster issue 33552). Set here first, a run finds the limit in place.
    """
    storage = instance.event_log_storage
    existing = {limit.name for limit in storage.get_pool_limits()}
    for pool in pools:
        if pool in existing:
            continue
        try:
            storage.initialize_concurrency_limit_to_default(pool)
        except Exception:  # another process set it at the same moment: it is there either way
            if pool not in {limit.name for limit in storage.get_pool_limits()}:
                raise


RUN_HOST_TAG = "lakehouse/host"
RUN_PID_TAG = "lakehouse/pid"


def cli_run_tags() -> dict[str, str]:
    """Tags of a `lakehouse run`: which process on which machine holds its pool slots.

    No automatic retry: the daemon cannot launch an in-process run again (the next `lakehouse run` does).
    """
    return {
        "lakehouse/trigger": "cli",
        **run_host_tags(),
        RUN_PID_TAG: str(os.getpid()),
        "dagster/max_retries": "0",
    }


def run_host_tags() -> dict[str, str]:
    """Tags of a run launched on this machine (sensor, automation): whose run worker `release_dead_runs` may judge."""
    return {RUN_HOST_TAG: socket.gethostname()}


def run_worker_pid(instance: DagsterInstance, run: DagsterRun) -> int | None:
    """The process running `run`: a `lakehouse run`'s own tag, else the run worker Dagster reported starting."""
    if RUN_PID_TAG in run.tags:
        return int(run.tags[RUN_PID_TAG])
    for entry in instance.all_logs(run.run_id, of_type=DagsterEventType.ENGINE_EVENT):
        event = entry.dagster_event
        pid = event.engine_event_data.metadata.get("pid") if event else None
        if pid is not None and str(pid.value).isdigit():
            return int(str(pid.value))  # the same number: `value` is typed as any metadata value
    return None


def release_dead_runs(instance: DagsterInstance) -> list[str]:
    """Mark runs of this machine whose process is gone (SIGKILL, OOM, a crash) as failed; free their slots.

    A run killed with SIGKILL never says it ended: it stays STARTED and keeps the one slot of every
    pool it held, so the next run on the same tables would wait for ever (its table locks are freed
    by the kernel or PostgreSQL). Only runs tagged with this machine's name are judged: `lakehouse
    run`s, the runs its sensors start and runs of `lakehouse_job` launched from the UI; a run of
    another selection launched from the UI has no tag and is left to the operator. Marked failed, a
    daemon-launched run is retried once (`run_retries`).
    """
    released = []
    for record in instance.get_run_records(
        RunsFilter(statuses=[DagsterRunStatus.STARTING, DagsterRunStatus.STARTED], tags=run_host_tags())
    ):
        run = record.dagster_run
        pid = run_worker_pid(instance, run)
        if pid and not process_alive(pid):
            instance.report_run_failed(run, f"the process of run {run.run_id} (pid {pid}) is gone")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            released.append(run.run_id)
    return released


def assign_stranded_steps(instance: DagsterInstance) -> list[str]:
    """Give a free pool slot to a step left waiting for it with none in use; the pools it did that for.

    Dagster's slot claim is check-then-insert: a step that finds the pool's one slot taken, and is
    queued just after that slot was freed (the free assigns only steps already queued), waits with
    the slot free until the next free of that pool, which may never come ("Step still blocked by
    limit" for ever; seen with a sensor run and a UI run racing on SQLite). Assigning it is what the
    free would have done. An extra assignment in a race with a real free is harmless: the claim
    itself takes a slot row as a semaphore, so an over-assigned step waits for a slot as before.
    """
    storage = instance.event_log_storage
    assign = getattr(storage, "assign_pending_steps", None)
    if assign is None:
        return []
    stranded = []
    for pool in sorted(storage.get_concurrency_keys()):
        info = storage.get_concurrency_info(pool)
        assigned = [step for step in info.pending_steps if step.assigned_timestamp is not None]
        waiting = [step for step in info.pending_steps if step.assigned_timestamp is None]
        if waiting and info.slot_count > len(assigned):
            assign([pool])
            stranded.append(pool)
    return stranded


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

    def waiting(_: str) -> None:
        print(f"lakehouse run: another `lakehouse run` on {home} is running; waiting for it", file=sys.stderr)

    with file_lock(home, CLI_RUN_LOCK.removesuffix(".lock"), waiting):
        yield
