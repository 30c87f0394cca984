"""Time `lakehouse run` on the lab data: Spark start, each step, Dagster overhead, end to end.

Usage: `make bench` (or `.venv/bin/python benchmarks/bench_run.py [--repeat N]`). Each repetition
starts from an empty root in a fresh Python process (so the Spark JVM start is counted), lands the
lab data and runs the whole asset graph once against a throw-away Dagster instance; the step
times come from Dagster's own step events. Then, in the same process, the job again with nothing
landed (the steady state between deliveries), and `lakehouse run` as a user types it on a fresh,
empty root (a process of its own: Python, Spark start, a run that finds nothing). Prints a Markdown
table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "data" / "lab_apr_2025" / "csv"

CHILD = r"""
import json, os, sys, time
t0 = time.perf_counter()
from pyspark.sql import SparkSession
from lakehouse_assets.spark.config import local_spark_conf
builder = SparkSession.builder
for k, v in local_spark_conf().items():
    builder = builder.config(k, v)
spark = builder.getOrCreate()
spark_start = time.perf_counter() - t0
from dagster import DagsterEventType, DagsterInstance
from lakehouse_assets import cli
from lakehouse_assets.definitions import build_definitions
cli.main(["land", sys.argv[1], "--root", os.environ["LAKEHOUSE_ROOT"]])
t1 = time.perf_counter()
with DagsterInstance.get() as instance:
    result = build_definitions().resolve_job_def("lakehouse_job").execute_in_process(instance=instance)
    run_time = time.perf_counter() - t1
    t2 = time.perf_counter()
    again = build_definitions().resolve_job_def("lakehouse_job").execute_in_process(instance=instance)
    empty_run = time.perf_counter() - t2
steps = {}
for event in result.all_events:
    if event.event_type == DagsterEventType.STEP_SUCCESS:
        steps[event.step_key] = event.event_specific_data.duration_ms / 1000
success = result.success and again.success
figures = {"spark_start": spark_start, "run": run_time, "empty_run": empty_run, "steps": steps}
print(json.dumps({**figures, "success": success}))
"""


def one_run() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LAKEHOUSE_ROOT": f"{tmp}/root", "DAGSTER_HOME": f"{tmp}/home"}
        Path(f"{tmp}/home").mkdir()
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(LAB)], env=env, capture_output=True, text=True, check=True, cwd=REPO
        ).stdout
        figures = json.loads(out.strip().splitlines()[-1])
        figures["process"] = time.perf_counter() - started
        env = {**env, "LAKEHOUSE_ROOT": f"{tmp}/empty_root", "DAGSTER_HOME": f"{tmp}/empty_home"}
        Path(f"{tmp}/empty_home").mkdir()
        started = time.perf_counter()
        lakehouse = str(Path(sys.executable).with_name("lakehouse"))
        subprocess.run([lakehouse, "run"], env=env, capture_output=True, text=True, check=True, cwd=REPO)
        figures["empty_root_process"] = time.perf_counter() - started
        return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [one_run() for _ in range(args.repeat)]
    assert all(r["success"] for r in runs)

    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.1f}"

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"runs: {args.repeat} (median, seconds)\n")
    print("| part | seconds |\n| --- | --- |")
    print(f"| whole process (Python + Spark start + land + run) | {median([r['process'] for r in runs])} |")
    print(f"| Spark session start (JVM, Delta jars) | {median([r['spark_start'] for r in runs])} |")
    print(f"| `lakehouse_job` run (all steps and checks) | {median([r['run'] for r in runs])} |")
    for step in runs[0]["steps"]:
        print(f"| step `{step}` | {median([r['steps'][step] for r in runs])} |")
    overhead = [r["run"] - sum(r["steps"].values()) for r in runs]
    print(f"| Dagster overhead (run time minus step times) | {median(overhead)} |")
    print(f"| `lakehouse_job` again, nothing landed (same process) | {median([r['empty_run'] for r in runs])} |")
    empty_root = median([r["empty_root_process"] for r in runs])
    print(f"| `lakehouse run` on a fresh empty root, whole process | {empty_root} |")


if __name__ == "__main__":
    main()
