"""Two JVMs appending to one Delta table on S3 at once, with Delta's DynamoDB log store or its default S3 one.

Usage: `.venv/bin/python benchmarks/bench_two_writers.py [--log-store dynamodb|default] [--commits 20]`.

The run of tests/lakehouse_assets/spark/test_delta_conf.py (`test_two_jvms_committing_...`) outside the
suite, so that it can also be run without the DynamoDB log store: a moto server (S3 over HTTP,
DynamoDB over TLS), a table created with no checkpoints, then two writer processes with the tests'
settings for a short-lived JVM, started together, each committing COMMITS appends of one row
(`userMetadata` `writer:number`). A commit that raises is counted and the writer goes on. Then
the table's log is read straight from S3 (no JVM): which versions exist, which appends they hold,
and which data files no version references. RELIABILITY.md ("Several writers on S3") has the
figures and the command.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.spark_settings and the test's writer: the same settings as the test
BUCKET = "bench-two-writers"
TABLE = "two_writers"


def writer(path: str, name: str, commits: int, log_store: str) -> None:
    """One writer process: its session, `ready`, a line on stdin, then the appends; prints one JSON line."""
    from pyspark.sql import SparkSession

    from lakehouse_assets.spark.delta_conf import log_store_conf
    from tests.spark_settings import spark_conf_for_tests

    conf = spark_conf_for_tests(cores=1, driver_memory="1g", short_lived=True)
    if log_store == "default":
        conf = {key: value for key, value in conf.items() if key not in log_store_conf("-", "-")}
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("OFF")
    if commits == 0:  # the table, as the test creates it: no checkpoint in its 41 versions
        from delta.tables import DeltaTable

        table = DeltaTable.create(spark).location(path).property("delta.checkpointInterval", "1000")
        table.addColumn("writer", "STRING").addColumn("number", "INT").execute()
        return
    print("ready", flush=True)
    sys.stdin.readline()
    errors: list[str] = []
    for number in range(commits):
        row = spark.range(0, 1, 1, 1).selectExpr(f"'{name}' AS writer", f"CAST({number} AS INT) AS number")
        try:
            row.write.format("delta").mode("append").option("userMetadata", f"{name}:{number}").save(path)
        except Exception as error:  # what a commit raises is the result here
            errors.append(str(error).strip().splitlines()[0][:160])
    print(json.dumps({"writer": name, "errors": errors}), flush=True)
    spark.stop()


def read_log(s3, prefix: str) -> tuple[dict[int, dict], set[str]]:
    """Each version's commitInfo and added files, and every data file under the table, straight from S3."""
    versions: dict[int, dict] = {}
    data_files: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            relative = key[len(prefix) :]
            if relative.endswith(".parquet") and not relative.startswith("_delta_log/"):
                data_files.add(relative)
            elif relative.startswith("_delta_log/") and relative.count("/") == 1 and relative.endswith(".json"):
                actions = [json.loads(line) for line in s3.get_object(Bucket=BUCKET, Key=key)["Body"].iter_lines()]
                commit = next(a["commitInfo"] for a in actions if "commitInfo" in a)
                adds = [a["add"]["path"] for a in actions if "add" in a]
                versions[int(Path(relative).stem)] = {"label": commit.get("userMetadata"), "adds": adds}
    return versions, data_files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-store", choices=["dynamodb", "default"], default="dynamodb")
    parser.add_argument("--commits", type=int, default=20, help="appends per writer")
    parser.add_argument("--writer", nargs=3, metavar=("PATH", "NAME", "COMMITS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer:
        writer(args.writer[0], args.writer[1], int(args.writer[2]), args.log_store)
        return

    import boto3
    from local_s3 import create_delta_log_table, start_moto

    start_moto()
    create_delta_log_table()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    path = f"s3a://{BUCKET}/{TABLE}"
    script = [sys.executable, __file__, "--log-store", args.log_store, "--writer", path]
    creator = subprocess.run([*script, "creator", "0"], capture_output=True, text=True, cwd=REPO)
    assert creator.returncode == 0, creator.stderr
    writers = [
        subprocess.Popen(
            [*script, name, str(args.commits)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=os.environ.copy(),
        )
        for name in ("a", "b")
    ]
    for process in writers:
        assert process.stdout.readline() == "ready\n", process.stderr.read()
    started = time.monotonic()
    for process in writers:
        process.stdin.write("go\n")
        process.stdin.flush()
    reports = []
    for process in writers:
        out, err = process.communicate(timeout=1800)
        reports.append(
            json.loads(out.strip().splitlines()[-1]) if process.returncode == 0 else {"crashed": err[-2000:]}
        )
    seconds = time.monotonic() - started

    versions, data_files = read_log(s3, f"{TABLE}/")
    labels = [v["label"] for _, v in sorted(versions.items()) if v["label"]]
    referenced = {path for v in versions.values() for path in v["adds"]}
    expected = {f"{name}:{number}" for name in ("a", "b") for number in range(args.commits)}
    errors = Counter(error for report in reports for error in report.get("errors", []))
    print(f"log store: {args.log_store}; 2 writers x {args.commits} appends; {seconds:.0f} s")
    print(
        f"versions: {len(versions)} (0..{max(versions)}), gaps: {sorted(set(range(max(versions) + 1)) - set(versions))}"
    )
    print(
        f"appends committed: {len(set(labels) & expected)} of {len(expected)}; twice: {len(labels) - len(set(labels))}"
    )
    print(
        f"appends that raised: {sum(errors.values())}; neither committed nor raised (lost): "
        f"{len(expected) - len(set(labels) & expected) - sum(errors.values())}"
    )
    print(f"data files written: {len(data_files)}, referenced by no version: {len(data_files - referenced)}")
    for error, count in errors.most_common():
        print(f"  {count} x {error}")
    for report in reports:
        if "crashed" in report:
            print(f"a writer crashed:\n{report['crashed']}")


if __name__ == "__main__":
    main()
