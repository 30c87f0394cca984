"""`lakehouse run` (the whole job once, in this process) and `lakehouse dev` (`dagster dev` on the root)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from glue_scripts.contracts import DATASETS
from glue_scripts.storage import LANDING, open_store
from lakehouse_assets.cli.root import reach_root

# `dagster dev` warns that `dg dev` supersedes it; `lakehouse dev` is what users run, so the note is
# not theirs to act on (the `dg` project layout is a change of its own).
DEV_WARNING_FILTER = ("-W", "ignore:Function `dev_command` is superseded")


def dev(host: str, port: int, lakehouse_root: str) -> int:
    """Replace this process with `dagster dev` on the lakehouse's instance and code location."""
    from dagster import DagsterInstance

    from lakehouse_assets.definitions import build_definitions
    from lakehouse_assets.instance import definitions_pools, ensure_dagster_home, ensure_pool_limits, release_dead_runs

    reach_root(lakehouse_root, LANDING)
    ensure_dagster_home()
    with DagsterInstance.get() as instance:
        for run_id in release_dead_runs(instance):
            print(f"lakehouse dev: run {run_id} had died without ending; marked failed and its pool slots freed")
        ensure_pool_limits(instance, definitions_pools(build_definitions(root=lakehouse_root)))
    target = ["-w", "workspace.yaml"] if Path("workspace.yaml").exists() else ["-m", "lakehouse_assets.definitions"]
    # The code location reads its root from the environment (the `lakehouse` resource's `LAKEHOUSE_ROOT`).
    os.execve(
        sys.executable,
        [sys.executable, *DEV_WARNING_FILTER, "-m", "dagster", "dev", *target, "-h", host, "-p", str(port)],
        {**os.environ, "LAKEHOUSE_ROOT": lakehouse_root},
    )
    return 0  # not reached


def waiting_files(lakehouse_root: str) -> int:
    """Data files waiting in landing, by the rule the ingest step takes them (`landing.landing_files`)."""
    from glue_scripts.landing import landing_files

    store = open_store(lakehouse_root)
    return sum(len(landing_files(store, dataset)) for dataset in DATASETS)


def run(lakehouse_root: str) -> int:
    from lakehouse_assets.instance import cli_run_lock, ensure_dagster_home

    with cli_run_lock(ensure_dagster_home()):
        if waiting_files(lakehouse_root) == 0:
            waiting_place = f"{lakehouse_root}/{LANDING}/<dataset>/"
            print(f"lakehouse run: no data file in {waiting_place}: nothing to do, no run started")
            return 0
        return run_job(lakehouse_root)


def run_job(lakehouse_root: str) -> int:
    """`lakehouse_job` in this process on the instance in `DAGSTER_HOME`; prints the summary."""
    from dagster import DagsterInstance

    from lakehouse_assets.cli.summary import planned_checks, render_summary
    from lakehouse_assets.definitions import build_definitions
    from lakehouse_assets.instance import cli_run_tags, definitions_pools, ensure_pool_limits, release_dead_runs

    log_level = os.environ.get("LAKEHOUSE_LOG_LEVEL", "INFO")
    with DagsterInstance.get() as instance:
        for run_id in release_dead_runs(instance):
            print(f"lakehouse: run {run_id} had died without ending; marked failed and its pool slots freed")
        definitions = build_definitions(root=lakehouse_root)
        ensure_pool_limits(instance, definitions_pools(definitions))
        job = definitions.resolve_job_def("lakehouse_job")
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            tags=cli_run_tags(),
            # Step-by-step DEBUG events stay in the instance (and the UI); the terminal gets INFO.
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
        print(render_summary(result, lakehouse_root, planned_checks(instance, result.run_id)))
        return 0 if result.success else 1
