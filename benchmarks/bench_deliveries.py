"""Whole `lakehouse run` processes for the deliveries a user makes, with Spark jobs and Delta commits per step.

Why: issue 17's aims are about `lakehouse run` as a whole process, as a user types it (Python,
the JVM's start, the run, the summary): the lab data into an empty root, a run with nothing new,
a one-row correction into the loaded lab tables, and one more day (about 30,000 order items) into a
3-day table. Next to each step's time stand its Spark jobs and Delta commits, because most of the
time is their fixed cost rather than work per row.

Usage: `PYTHONPATH=. .venv/bin/python benchmarks/bench_deliveries.py [--repeat N]` (median of N);
about 5 minutes per repetition on the project's 2-core VM. Run nothing else meanwhile.

How it counts: each `lakehouse run` gets its own Spark event log (`SPARK_CONF_DIR` with
`spark.eventLog.enabled`, which `spark-submit` reads; `lakehouse run`'s own settings are unchanged)
and its jobs are given to the step whose STEP_START..STEP_SUCCESS window holds their submission
time (the local job runs its steps one at a time). Delta commits are the new `_delta_log/*.json`
files under the root, given to steps by their modification time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench_incremental import correction

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "data" / "lab_apr_2025" / "csv"
# One more day of about 30,000 order items into a 3-day table: the generator's 32 M items at this
# scale, over 4 days.
DAY_SCALE = 0.00375
DAY_COUNT = 4
OUTSIDE = "(outside the steps: start-up, summary)"


@dataclass
class Delivery:
    """One `lakehouse run` process: its wall time, and per step its seconds, Spark jobs and Delta commits."""

    wall: float
    steps: dict[str, float] = field(default_factory=dict)
    jobs: dict[str, int] = field(default_factory=dict)
    commits: dict[str, int] = field(default_factory=dict)


def lakehouse(*args: str, env: dict[str, str], log: Path) -> float:
    """A `lakehouse` command as its own process; its wall time. Stops the benchmark if it fails."""
    started = time.perf_counter()
    with log.open("a") as output:
        command = [sys.executable, "-m", "lakehouse_assets.cli", *args]
        code = subprocess.run(command, env=env, cwd=REPO, stdout=output, stderr=subprocess.STDOUT).returncode
    if code:
        raise SystemExit(f"lakehouse {' '.join(args)} failed ({code}): see {log}")
    return time.perf_counter() - started


def latest_run_id(home: Path) -> str | None:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
    return runs[0].run_id if runs else None


def step_windows(home: Path, before: str | None) -> list[tuple[str, float, float]]:
    """(step, start, end) of the latest run in the instance in `home`, from its step events; none if
    that run is still `before` (`lakehouse run` found nothing landed and started no run)."""
    from dagster import DagsterEventType, DagsterInstance

    kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
    with DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs(limit=1)
        if not runs or runs[0].run_id == before:
            return []
        starts: dict[str, float] = {}
        windows = []
        for record in instance.all_logs(runs[0].run_id, of_type=kinds):
            event = record.dagster_event
            assert event is not None and event.step_key is not None
            if event.event_type == DagsterEventType.STEP_START:
                starts[event.step_key] = record.timestamp
            else:
                windows.append((event.step_key, starts[event.step_key], record.timestamp))
    return windows


def step_of(moment: float, windows: list[tuple[str, float, float]]) -> str:
    return next((step for step, start, end in windows if start <= moment <= end), OUTSIDE)


def spark_job_times(event_dir: Path) -> list[float]:
    """Submission times (epoch seconds) of the Spark jobs in the event logs under `event_dir`."""
    times = []
    for log in event_dir.iterdir():
        for line in log.read_text(errors="replace").splitlines():
            if '"SparkListenerJobStart"' in line:
                times.append(json.loads(line)["Submission Time"] / 1000)
    return times


def delta_commit_times(root: Path, since: float) -> list[float]:
    """Modification times of the Delta commits (`_delta_log/NNN.json`) under `root` written after `since`."""
    commits = (path.stat().st_mtime for path in root.rglob("_delta_log/*.json"))
    return [moment for moment in commits if moment >= since]


def measured_run(root: Path, env: dict[str, str], work: Path, name: str) -> Delivery:
    """`lakehouse run` on `root` as its own process, with its Spark event log; the delivery's figures."""
    conf_dir, event_dir = work / f"{name}-spark-conf", work / f"{name}-events"
    conf_dir.mkdir()
    event_dir.mkdir()
    (conf_dir / "spark-defaults.conf").write_text(
        f"spark.eventLog.enabled true\nspark.eventLog.dir file://{event_dir}\n"
    )
    before, since = latest_run_id(Path(env["DAGSTER_HOME"])), time.time()
    wall = lakehouse("run", "--root", str(root), env={**env, "SPARK_CONF_DIR": str(conf_dir)}, log=work / f"{name}.log")
    windows = step_windows(Path(env["DAGSTER_HOME"]), before)
    delivery = Delivery(wall=wall, steps={step: end - start for step, start, end in windows})
    for moment in spark_job_times(event_dir):
        step = step_of(moment, windows)
        delivery.jobs[step] = delivery.jobs.get(step, 0) + 1
    for moment in delta_commit_times(root, since):
        step = step_of(moment, windows)
        delivery.commits[step] = delivery.commits.get(step, 0) + 1
    return delivery


def one_row_correction(day_file: Path) -> str:
    """The first row of a day file again, one second later (newer: an update of a stored key)."""
    header, first_row = correction(day_file, share=1.0).splitlines()[:2]
    return f"{header}\n{first_row}\n"


def copy_files(files: list[tuple[Path, str]], target: Path) -> Path:
    """A folder for `lakehouse land`: each file at its relative name (`orders/2025-04-01.csv`)."""
    for source, relative in files:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target / relative)
    return target


def new_root(work: Path, name: str) -> tuple[Path, dict[str, str]]:
    root, home = work / f"{name}-root", work / f"{name}-home"
    home.mkdir()
    return root, {**os.environ, "LAKEHOUSE_ROOT": str(root), "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}


def one_repetition(work: Path) -> dict[str, Delivery]:
    from lakehouse_assets.tooling.generator import generate

    results: dict[str, Delivery] = {}
    root, env = new_root(work, "lab")
    lakehouse("land", str(LAB), "--root", str(root), env=env, log=work / "land.log")
    results["lab data into an empty root"] = measured_run(root, env, work, "lab")
    results["nothing new"] = measured_run(root, env, work, "nothing")
    correction = work / "correction"
    (correction / "orders").mkdir(parents=True)
    last_day = sorted((LAB / "orders").glob("*.csv"))[-1]
    (correction / "orders" / "correction.csv").write_text(one_row_correction(last_day))
    lakehouse("land", str(correction), "--root", str(root), env=env, log=work / "land.log")
    results["one-row correction into the lab tables"] = measured_run(root, env, work, "correction")

    data = work / "generated"
    generate(data, scale=DAY_SCALE, days=DAY_COUNT, seed=0)
    days = {name: sorted((data / name).glob("*.csv")) for name in ("orders", "order_items")}
    first = [(data / "products" / "products.csv", "products/products.csv")]
    first += [(path, f"{name}/{path.name}") for name, paths in days.items() for path in paths[:-1]]
    last = [(paths[-1], f"{name}/{paths[-1].name}") for name, paths in days.items()]
    root, env = new_root(work, "days")
    lakehouse("land", str(copy_files(first, work / "days-1-3")), "--root", str(root), env=env, log=work / "land.log")
    results["3 days into an empty root (set-up)"] = measured_run(root, env, work, "days-1-3")
    lakehouse("land", str(copy_files(last, work / "day-4")), "--root", str(root), env=env, log=work / "land.log")
    results["one more day into the 3-day tables"] = measured_run(root, env, work, "day-4")
    day_items = sum(1 for _ in days["order_items"][-1].open()) - 1
    print(f"one more day: {day_items:,} order items", file=sys.stderr)
    return results


def report(runs: list[dict[str, Delivery]], command: str) -> str:
    def median(values: list[float]) -> float:
        return statistics.median(values)

    lines = [f"command: `{command}`; {len(runs)} repetition(s), medians\n"]
    lines += ["| delivery | whole process, s | Dagster steps, s | Spark jobs | Delta commits |"]
    lines += ["| --- | --- | --- | --- | --- |"]
    for name in runs[0]:
        deliveries = [run[name] for run in runs]
        lines.append(
            f"| {name} | {median([d.wall for d in deliveries]):.1f} "
            f"| {median([sum(d.steps.values()) for d in deliveries]):.1f} "
            f"| {median([sum(d.jobs.values()) for d in deliveries]):.0f} "
            f"| {median([sum(d.commits.values()) for d in deliveries]):.0f} |"
        )
    for name in runs[0]:
        deliveries = [run[name] for run in runs]
        steps = list(dict.fromkeys([*deliveries[0].steps, *deliveries[0].jobs, *deliveries[0].commits]))
        if not steps:
            continue
        lines += [f"\n{name}:\n", "| step | seconds | Spark jobs | Delta commits |", "| --- | --- | --- | --- |"]
        for step in steps:
            seconds = median([d.steps.get(step, 0.0) for d in deliveries])
            jobs = median([d.jobs.get(step, 0) for d in deliveries])
            commits = median([d.commits.get(step, 0) for d in deliveries])
            lines.append(f"| `{step}` | {seconds:.1f} | {jobs:.0f} | {commits:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (roots, logs, event logs)")
    args = parser.parse_args()
    runs = []
    for index in range(args.repeat):
        work = Path(tempfile.mkdtemp(prefix=f"bench-deliveries-{index}-"))
        runs.append(one_repetition(work))
        if args.keep:
            print(f"work folder kept: {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(report(runs, " ".join(["python", "benchmarks/bench_deliveries.py", *sys.argv[1:]])))


if __name__ == "__main__":
    main()
