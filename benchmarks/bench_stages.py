"""Time each stage of the pipeline on the lab data, and count its Spark jobs: no Dagster, one process.

Usage: `PYTHONPATH=. .venv/bin/python benchmarks/bench_stages.py [--test-settings] [--no-class-archive]
[--tiny] [--repeat N] [--conf KEY=VALUE ...] [--jvm-option OPTION ...]`.
Lands the lab data into a temporary folder root, starts Spark with `local_spark_conf()` (the
settings `lakehouse run` uses; `--test-settings` adds the tests' small-data settings), then calls
the same step functions the Dagster assets call (ingest, process, the processed checks, analytics
and their reconciliation, archive) in `lakehouse_job`'s order. Each part runs under a Spark job
group, so the Spark jobs it started are counted. Prints a Markdown table for BENCHMARKS.md, and the
CPU time the driver's JVM used (`--repeat` shows what a long-lived session, as the tests' is, pays).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "data" / "lab_apr_2025" / "csv"
ORDER = ("products", "orders", "order_items")


def land_lab_data(root: Path) -> None:
    for dataset in ORDER:
        target = root / "landing" / dataset
        target.mkdir(parents=True)
        sources = [LAB / "products.csv"] if dataset == "products" else sorted((LAB / dataset).glob("*.csv"))
        for source in sources:
            shutil.copy(source, target / source.name)


TINY_DELIVERY = {
    "products/products.csv": "product_id,department_id,department,product_name\n1,1,Books,A\n2,1,Books,B\n",
    "orders/2025-04-01.csv": (
        "order_num,order_id,user_id,order_timestamp,total_amount,date\n1,11,5,2025-04-01T10:00:00,2.50,2025-04-01\n"
    ),
    "orders/2025-04-02.csv": (
        "order_num,order_id,user_id,order_timestamp,total_amount,date\n1,12,5,2025-04-02T10:00:00,3.50,2025-04-02\n"
    ),
    "order_items/2025-04-01.csv": (
        "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"
        "101,11,5,,1,1,0,2025-04-01T10:00:00,2025-04-01\n"
    ),
    "order_items/2025-04-02.csv": (
        "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"
        "102,12,5,,2,1,0,2025-04-02T10:00:00,2025-04-02\n"
    ),
}


def land_tiny_delivery(root: Path) -> None:
    """Five files of one or two rows: what a test's pipeline run costs, all fixed costs."""
    for key, text in TINY_DELIVERY.items():
        target = root / "landing" / key
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def jvm_cpu_seconds(spark: object) -> float:
    """CPU time the driver's JVM has used so far (user + system), from /proc."""
    pid = spark.sparkContext._jvm.ProcessHandle.current().pid()  # type: ignore[attr-defined]
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--test-settings", action="store_true", help="add the tests' small-data Spark settings")
    parser.add_argument("--no-class-archive", action="store_true", help="start the JVM without the CDS archive")
    parser.add_argument("--tiny", action="store_true", help="five files of one or two rows instead of the lab data")
    parser.add_argument("--conf", action="append", default=[], metavar="KEY=VALUE", help="one more Spark setting")
    parser.add_argument("--jvm-option", action="append", default=[], help="one more option for the driver's JVM")
    parser.add_argument("--repeat", type=int, default=1, help="run the pipeline this many times, each on a new root")
    parser.add_argument("--list-jobs", action="store_true", help="print each part's Spark jobs (where they start)")
    parser.add_argument("--again", action="store_true", help="then the same steps on the same root, nothing landed")
    args = parser.parse_args()
    if args.no_class_archive:
        os.environ["LAKEHOUSE_JVM_ARCHIVE"] = "off"

    from pyspark.sql import SparkSession

    from lakehouse_assets.spark.config import local_spark_conf

    started = time.perf_counter()
    conf = local_spark_conf()
    if args.test_settings:
        from tests.spark_settings import SMALL_DATA_SETTINGS

        conf |= SMALL_DATA_SETTINGS
    conf |= dict(setting.split("=", 1) for setting in args.conf)
    conf["spark.driver.extraJavaOptions"] = " ".join([conf["spark.driver.extraJavaOptions"], *args.jvm_option])
    if args.list_jobs:
        conf["spark.ui.enabled"] = "true"  # the jobs' call sites come from the UI's REST API
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    rows = [("Spark session start", time.perf_counter() - started, 0)]
    for repeat in range(args.repeat):
        rows += run_pipeline(spark, args.tiny, "" if args.repeat == 1 else f" ({repeat + 1})", args.again)
    total = time.perf_counter() - started
    print("| part | seconds | Spark jobs |\n| --- | --- | --- |")
    for name, seconds, count in rows:
        print(f"| {name} | {seconds:.1f} | {count} |")
    print(f"| whole (session start included) | {total:.1f} | {sum(count for _, _, count in rows)} |")
    print(f"driver JVM CPU: {jvm_cpu_seconds(spark):.1f} s")
    if args.list_jobs:
        print_jobs(spark)


def print_jobs(spark: object) -> None:
    """Each part's Spark jobs, in order, by the line of our code (or Delta's) that started them."""
    import json
    import urllib.request

    context = spark.sparkContext  # type: ignore[attr-defined]
    url = f"{context.uiWebUrl}/api/v1/applications/{context.applicationId}/jobs"
    with urllib.request.urlopen(url) as response:
        jobs = sorted(json.load(response), key=lambda job: job["jobId"])
    group = None
    for job in jobs:
        if job.get("jobGroup") != group:
            group = job.get("jobGroup")
            print(f"\n{group}:")
        print(f"  {job['jobId']:4d} {job['name'][:80]} | {job.get('description', '')[:90]}")


def run_pipeline(spark: object, tiny: bool, label: str, again: bool = False) -> list[tuple[str, float, int]]:
    """The steps in `lakehouse_job`'s order on a new root: (part, seconds, Spark jobs) each; with
    `again`, the steps once more with nothing landed (what a data set without a new file costs)."""
    from glue_scripts import analytics, quality, steps
    from glue_scripts.contracts import CONTRACTS
    from glue_scripts.storage import LocalStore

    rows: list[tuple[str, float, int]] = []
    context = spark.sparkContext  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as folder:
        if tiny:
            land_tiny_delivery(Path(folder))
        else:
            land_lab_data(Path(folder))
        store, now = LocalStore(folder), datetime.now(UTC)
        contracts = [CONTRACTS[name] for name in ORDER]

        def part(name: str, step: Callable[[], object]) -> None:
            context.setJobGroup(name + label, name)
            begun = time.perf_counter()
            step()
            jobs_started = len(context.statusTracker().getJobIdsForGroup(name + label))
            rows.append((name + label, time.perf_counter() - begun, jobs_started))

        def run_steps(run: str, tail: str) -> None:
            for contract in contracts:
                part(f"ingest {contract.name}{tail}", lambda c=contract: steps.ingest_step(spark, store, c, run, now))
            for contract in contracts:
                part(f"process {contract.name}{tail}", lambda c=contract: steps.process_step(spark, store, c, run, now))
                part(f"checks {contract.name}{tail}", lambda c=contract: quality.check_results(spark, store, c, [run]))
            for name in analytics.ANALYTICS_TABLES:
                part(f"analytics {name}{tail}", lambda n=name: analytics.build_table(spark, store, n))
                part(f"reconcile {name}{tail}", lambda n=name: analytics.reconcile_table(spark, store, n))
            part(f"archive{tail}", lambda: steps.archive_step(spark, store, contracts, run, now))

        run_steps("bench", "")
        if again:
            run_steps("again", ", again")
    return rows


if __name__ == "__main__":
    main()
