"""Reading what runs did from a Dagster instance: table-lock holds, failures; launching a job as the UI does."""

from __future__ import annotations

import itertools
from typing import Any

from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus

from lakehouse_assets.table_locks import LOCK_ACQUIRED, LOCK_RELEASED

UNFINISHED = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
# The GraphQL mutation the UI's "Materialize all" sends for the whole job.
LAUNCH_JOB = """mutation {
  launchRun(executionParams: {
    selector: {repositoryLocationName: "lakehouse", repositoryName: "__repository__", jobName: "lakehouse_job"}
  }) { __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } }
}"""


def lock_holds(
    instance: DagsterInstance, run_ids: list[str], killed_at: dict[str, float] | None = None
) -> dict[str, list[tuple[float, float, str]]]:
    """Per table lock, every (acquired, released, run id) found in the runs' logs.

    A run in `killed_at` (run id -> when its process was killed) may end holding a lock: the
    database or the kernel freed it at the kill, so its hold ends there.
    """
    killed_at = killed_at or {}
    holds: dict[str, list[tuple[float, float, str]]] = {}
    for run_id in run_ids:
        acquired: dict[str, float] = {}
        for entry in instance.all_logs(run_id):
            message = entry.user_message or ""
            if message.startswith(LOCK_ACQUIRED):
                acquired[message.removeprefix(LOCK_ACQUIRED).split()[0]] = entry.timestamp
            elif message.startswith(LOCK_RELEASED):
                name = message.removeprefix(LOCK_RELEASED)
                holds.setdefault(name, []).append((acquired.pop(name), entry.timestamp, run_id))
        if run_id in killed_at:
            for name, since in acquired.items():
                holds.setdefault(name, []).append((since, killed_at[run_id], run_id))
        else:
            assert acquired == {}, f"run {run_id} never released {acquired}"
    return holds


def assert_one_holder_at_a_time(holds: dict[str, list[tuple[float, float, str]]]) -> None:
    """No two holds of one lock overlap (each logged after acquiring and before releasing)."""
    for name, intervals in holds.items():
        for (_, released, holder), (acquired, _, next_holder) in itertools.pairwise(sorted(intervals)):
            assert released <= acquired, f"{name} held by runs {holder} and {next_holder} at once"


def failures(instance: DagsterInstance, runs: list[Any]) -> dict[str, list[str]]:
    """What failed in each failed run: its step and run failure messages, with their errors."""
    kinds = {DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}
    found = {}
    for run in runs:
        if run.status == DagsterRunStatus.FAILURE:
            events = [e.dagster_event for e in instance.all_logs(run.run_id) if e.dagster_event]
            found[run.run_id] = [
                f"{event.message} {getattr(event.event_specific_data, 'error', None)}"
                for event in events
                if event.event_type in kinds
            ]
    return found


def step_seconds(instance: DagsterInstance, run_id: str) -> dict[str, float]:
    """Each succeeded step's duration in a run, as Dagster recorded it (what `-s` prints)."""
    return {
        entry.dagster_event.step_key: round(entry.dagster_event.event_specific_data.duration_ms / 1000, 1)
        for entry in instance.all_logs(run_id, of_type=DagsterEventType.STEP_SUCCESS)
        if entry.dagster_event and entry.dagster_event.step_key
    }
