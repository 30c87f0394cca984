"""Latency of the event-driven path: a file lands -> its rows are in processed/ with checks passed.

Usage: `.venv/bin/python benchmarks/bench_latency.py [--interval 30] [--s3]`.

Starts `lakehouse dev` (webserver + daemon, as a user would) on an empty root — a local folder, or
with `--s3` a bucket on a moto S3 server on 127.0.0.1 — with the sensor interval given (default 30 s,
the shipped default), waits for the daemon's first tick, lands the lab data (31 files), and reads
from the Dagster instance when each milestone happened:
- the sensor's run (one run from raw to archive) was created, started (its own process) and finished;
- `processed/order_items` was materialized and its last blocking check passed (the aim: < 60 s);
- `archived/landed_files` was materialized (every file archived).
Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAB = REPO / "data" / "lab_apr_2025" / "csv"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--interval", type=int, default=30, help="sensor interval in seconds (default 30)")
    parser.add_argument("--s3", action="store_true", help="root on a moto S3 server instead of a local folder")
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args()

    from dagster import AssetKey, DagsterEventType, DagsterInstance, EventLogRecord

    from glue_scripts.storage import open_store
    from lakehouse_assets import cli

    work = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    server = None
    if args.s3:
        import boto3
        from local_s3 import start_moto

        server = start_moto()
        boto3.client("s3").create_bucket(Bucket="bench-latency")
        root = "s3://bench-latency/lakehouse"
    else:
        root = str(work / "root")
    home = work / "dagster_home"
    os.environ.update(DAGSTER_HOME=str(home), LAKEHOUSE_ROOT=root, LAKEHOUSE_SENSOR_INTERVAL_SECONDS=str(args.interval))
    log = (work / "dagster_dev.log").open("wb")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("lakehouse")), "dev", "--port", str(free_port())],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while "landing_files_sensor skipped" not in (work / "dagster_dev.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit("dagster dev did not tick the landing sensor within 180 s")
            time.sleep(1)
        landed_at = time.time()
        cli.main(["land", str(LAB), "--root", root])
        store = open_store(root)
        with DagsterInstance.get() as instance:

            def materialization(key: list[str]) -> EventLogRecord | None:
                records = instance.fetch_materializations(AssetKey(key), limit=1).records
                return records[0] if records else None

            deadline = time.monotonic() + args.timeout
            while (archive := materialization(["archived", "landed_files"])) is None or store.list("landing"):
                if time.monotonic() > deadline:
                    raise SystemExit(f"not archived within {args.timeout} s; see {work / 'dagster_dev.log'}")
                time.sleep(2)
            processed = materialization(["processed", "order_items"])
            assert processed is not None
            check_events = instance.all_logs(processed.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION)
            checks_passed = max(
                e.timestamp
                for e in check_events
                if e.dagster_event.event_specific_data.asset_key == AssetKey(["processed", "order_items"])
                and e.dagster_event.event_specific_data.passed
            )
            records = instance.get_run_records()
            trigger = "lakehouse/trigger"
            sensor_run = next(r for r in records if r.dagster_run.tags.get(trigger) == "landing_files_sensor")
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        if server:
            server.stop()

    def since(moment: float) -> str:
        return f"{moment - landed_at:.1f}"

    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"Root: {'moto S3' if args.s3 else 'local folder'}; sensor interval {args.interval} s; {len(records)} runs\n")
    print("| milestone (lab data, 31 files landed at t = 0) | seconds |")
    print("| --- | --- |")
    print(f"| the sensor's run created | {since(sensor_run.create_timestamp.timestamp())} |")
    print(f"| its run started (the run worker's process up) | {since(sensor_run.start_time or landed_at)} |")
    print(f"| its run finished | {since(sensor_run.end_time or landed_at)} |")
    print(f"| `processed/order_items` materialized | {since(processed.timestamp)} |")
    print(f"| its blocking checks passed | {since(checks_passed)} |")
    print(f"| every file archived | {since(archive.timestamp)} |")


if __name__ == "__main__":
    main()
