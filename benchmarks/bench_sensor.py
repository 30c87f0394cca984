"""Landing sensor ticks with a large landing zone: tick time and S3 list calls.

Usage: `.venv/bin/python benchmarks/bench_sensor.py [--objects 100000] [--repeat 3]`.

Starts a moto S3 server on 127.0.0.1 (the real S3 HTTP API, answered locally), fills
`landing/orders/` with `--objects` small files, then times the sensor's evaluation on a real
(SQLite) Dagster instance, as the daemon would run it:
1. the first tick: a full listing, every object new (the backlog: partitions added, runs planned);
2. a tick with nothing new (listing after the cursor);
3. a tick with 10 new files (listing after the cursor);
4. a forced full listing with nothing new (what the periodic full listing costs at that size).
Prints a Markdown table for BENCHMARKS.md. List latency against moto is not AWS's; the list-call
counts are what carries over.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from dagster import DagsterInstance, build_sensor_context, instance_for_test
from moto.server import ThreadedMotoServer

from glue_scripts.storage import S3Store
from lakehouse_assets.sensors import evaluate_landing

BUCKET = "bench-landing"
PREFIX = "lakehouse"


def fill(client: Any, count: int) -> None:
    def put(i: int) -> None:
        client.put_object(Bucket=BUCKET, Key=f"{PREFIX}/landing/orders/2025-01-01-{i:07d}.csv", Body=b"h\n1\n")

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(put, range(count)))


class Ticker:
    def __init__(self, instance: DagsterInstance, store: S3Store) -> None:
        self.instance, self.store, self.cursor, self.clock = instance, store, None, 1_000_000.0

    def tick(self, full: bool = False) -> tuple[float, int, int]:
        """(seconds, list calls, runs requested) for one evaluation, partition requests applied."""
        calls_before = self.store.list_calls
        self.clock += 30
        started = time.perf_counter()
        context = build_sensor_context(instance=self.instance, cursor=self.cursor)
        result = evaluate_landing(context, self.store, self.clock, full_listing_interval=0 if full else 3600)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        elapsed = time.perf_counter() - started
        self.cursor = result.cursor
        return elapsed, self.store.list_calls - calls_before, len(result.run_requests or [])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the steady-state ticks")
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    started = time.perf_counter()
    fill(client, args.objects)
    print(f"filled {args.objects:,} objects in {time.perf_counter() - started:.0f} s")
    store = S3Store(f"s3://{BUCKET}/{PREFIX}", client)
    rows = []
    with tempfile.TemporaryDirectory() as home, instance_for_test(temp_dir=home) as instance:
        ticker = Ticker(instance, store)
        seconds, calls, runs = ticker.tick()
        rows.append((f"first tick: full listing, {args.objects:,} new", seconds, calls, runs))
        for label, prepare, full in (
            ("nothing new (after the cursor)", None, False),
            ("10 new files (after the cursor)", 10, False),
            ("full listing, nothing new", None, True),
        ):
            samples = []
            for repetition in range(args.repeat):
                if prepare:
                    for i in range(prepare):
                        key = f"{PREFIX}/landing/orders/2025-01-02-{repetition:02d}{i:05d}.csv"
                        client.put_object(Bucket=BUCKET, Key=key, Body=b"h\n2\n")
                samples.append(ticker.tick(full=full))
            rows.append(
                (
                    label,
                    statistics.median(s[0] for s in samples),
                    int(statistics.median(s[1] for s in samples)),
                    int(statistics.median(s[2] for s in samples)),
                )
            )
    server.stop()
    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"Landing: {args.objects:,} objects in landing/orders/; median of {args.repeat} ticks after the first\n")
    print("| tick | seconds | S3 list calls | runs requested |")
    print("| --- | --- | --- | --- |")
    for label, seconds, calls, runs in rows:
        print(f"| {label} | {seconds:.2f} | {calls} | {runs} |")


if __name__ == "__main__":
    main()
