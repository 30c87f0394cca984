"""Small `lakehouse run`s through Dagster in one warm process: where the CPU goes, and how many Spark jobs.

Usage: `PYTHONPATH=. .venv/bin/python benchmarks/bench_dagster_run.py [--test-settings] [--repeat N]
[--sites] [--conf KEY=VALUE ...]`. Starts Spark once (`local_spark_conf()`, plus the tests' small-data settings with
`--test-settings`), then lands bench_stages' tiny delivery (five files of one or two rows) into a new
folder root and runs `lakehouse run` in this process, N times (default 3), all on one Dagster
instance. Per run: wall time, the CPU time of this Python process (Dagster, the stage code, Py4J)
and of the Spark driver's JVM, and the Spark jobs the run started. `--sites` adds the last run's
jobs by where they were started (the Spark stage's call site; Delta's own jobs carry the site of the
action that needed them). The first run pays the JVM's warm-up; later ones show what a long-lived
session, as the tests' shared one, pays per pipeline.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import resource
import tempfile
import time
from pathlib import Path

from pyspark.sql import SparkSession

from benchmarks.bench_stages import land_tiny_delivery


def jvm_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def python_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def last_job_id(spark: SparkSession, group: str) -> int:
    """Run a one-row job under `group` and return its id: the jobs between two of these are the run's."""
    spark.sparkContext.setJobGroup(group, group)
    spark.range(1).count()
    spark.sparkContext.setJobGroup("", "")
    return max(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def job_sites(spark: SparkSession, first: int, last: int) -> collections.Counter[str]:
    tracker, sites = spark.sparkContext.statusTracker(), collections.Counter[str]()
    for job in range(first + 1, last):
        info = tracker.getJobInfo(job)
        stage = tracker.getStageInfo(max(info.stageIds)) if info and info.stageIds else None
        sites[stage.name if stage else "(no stage info kept)"] += 1
    return sites


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--test-settings", action="store_true", help="add the tests' small-data Spark settings")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sites", action="store_true", help="print the last run's Spark jobs by call site")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="one more Spark setting")
    args = parser.parse_args()
    from lakehouse_assets.spark.config import local_spark_conf
    from tests.spark_settings import spark_conf_for_tests

    conf = spark_conf_for_tests() if args.test_settings else local_spark_conf()
    conf |= dict(item.split("=", 1) for item in args.conf)
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    from lakehouse_assets import cli

    jvm_pid = spark.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
    work = Path(tempfile.mkdtemp(prefix="bench_dagster_run_"))
    os.environ["DAGSTER_HOME"] = str(work / "dagster_home")
    os.environ.setdefault("LAKEHOUSE_LOG_LEVEL", "WARNING")
    (work / "dagster_home").mkdir()
    print("| run | seconds | Python CPU s | JVM CPU s | Spark jobs |\n| --- | --- | --- | --- | --- |")
    sites: collections.Counter[str] = collections.Counter()
    for run in range(1, args.repeat + 1):
        root = work / f"root{run}"
        land_tiny_delivery(root)
        first = last_job_id(spark, f"before{run}")
        started, python_before, jvm_before = time.perf_counter(), python_cpu_seconds(), jvm_cpu_seconds(jvm_pid)
        with contextlib.redirect_stdout(io.StringIO()) as summary:
            status = cli.main(["run", "--root", str(root)])
        assert status == 0, summary.getvalue()
        seconds = time.perf_counter() - started
        python, jvm = python_cpu_seconds() - python_before, jvm_cpu_seconds(jvm_pid) - jvm_before
        last = last_job_id(spark, f"after{run}")
        print(f"| {run} | {seconds:.1f} | {python:.1f} | {jvm:.1f} | {last - first - 1} |", flush=True)
        sites = job_sites(spark, first, last)
    if args.sites:
        print("\n| Spark jobs | started at |\n| --- | --- |")
        for site, count in sites.most_common():
            print(f"| {count} | {site} |")


if __name__ == "__main__":
    main()
