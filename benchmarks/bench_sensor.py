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
from collections.abc import Iterator
from dataclasses import dataclass

import boto3
from dagster import DagsterInstance, build_sensor_context, instance_for_test
from local_s3 import start_moto

from glue_scripts.storage import S3Store, StoredObject
from lakehouse_assets.sensors import LandingCursor, evaluate_landing

BUCKET = "bench-landing"
PREFIX = "lakehouse"


def fill(count: int) -> None:
    """Put the objects straight into the server's (in-process) S3 backend: the listing is what is
    measured, and 100,000 PUTs over HTTP would take minutes."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    for i in range(count):
        backend.put_object(BUCKET, f"{PREFIX}/landing/orders/2025-01-01-{i:07d}.csv", b"h\n1\n")


class TimedStore(S3Store):
    """An S3 store that adds up the time spent in list calls."""

    list_seconds = 0.0

    def list_pages(self, prefix: str, start_after: str | None = None) -> Iterator[list[StoredObject]]:
        pages = super().list_pages(prefix, start_after)
        while True:
            started = time.perf_counter()
            page = next(pages, None)
            self.list_seconds += time.perf_counter() - started
            if page is None:
                return
            yield page


@dataclass
class Tick:
    seconds: float
    list_seconds: float
    list_calls: int
    runs: int
    listing_done: bool


class Ticker:
    def __init__(self, instance: DagsterInstance, store: TimedStore) -> None:
        self.instance, self.store, self.cursor, self.clock = instance, store, None, 1_000_000.0

    def tick(self, full: bool = False) -> Tick:
        """One evaluation as the daemon runs it, partition requests applied."""
        calls_before, list_before = self.store.list_calls, self.store.list_seconds
        self.clock += 30
        started = time.perf_counter()
        context = build_sensor_context(instance=self.instance, cursor=self.cursor)
        result = evaluate_landing(context, self.store, self.clock, full_listing_interval=0 if full else 3600)
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        elapsed = time.perf_counter() - started
        self.cursor = result.cursor
        return Tick(
            elapsed,
            self.store.list_seconds - list_before,
            self.store.list_calls - calls_before,
            len(result.run_requests or []),
            LandingCursor.parse(self.cursor).full_listing is None,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="repetitions of the steady-state ticks")
    args = parser.parse_args()

    server = start_moto()
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    started = time.perf_counter()
    fill(args.objects)
    print(f"filled {args.objects:,} objects in {time.perf_counter() - started:.0f} s")
    store = TimedStore(f"s3://{BUCKET}/{PREFIX}", client)
    rows: list[tuple[str, Tick]] = []
    with tempfile.TemporaryDirectory() as home, instance_for_test(temp_dir=home) as instance:
        ticker = Ticker(instance, store)
        # The backlog: every object is new; the full listing spreads over several ticks.
        backlog = [ticker.tick()]
        while not backlog[-1].listing_done:
            backlog.append(ticker.tick())
        for number, tick in enumerate(backlog, 1):
            rows.append((f"backlog tick {number}/{len(backlog)}: full listing, all new", tick))
        for label, new_files, full in (
            ("nothing new (after the cursor)", 0, False),
            ("10 new files (after the cursor)", 10, False),
            ("full listing, nothing new (one tick's share)", 0, True),
        ):
            samples = []
            for repetition in range(args.repeat):
                for i in range(new_files):
                    key = f"{PREFIX}/landing/orders/2025-01-02-{repetition:02d}{i:05d}.csv"
                    client.put_object(Bucket=BUCKET, Key=key, Body=b"h\n2\n")
                samples.append(ticker.tick(full=full))
                if full:  # finish that full listing before the next sample
                    while not ticker.tick().listing_done:
                        pass
            rows.append((label, median_tick(samples)))
    server.stop()
    print(f"\nMachine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"Landing: {args.objects:,} objects in landing/orders/; median of {args.repeat} ticks after the first\n")
    print("| tick | seconds | of which S3 listing | S3 list calls | runs requested |")
    print("| --- | --- | --- | --- | --- |")
    for label, tick in rows:
        print(f"| {label} | {tick.seconds:.2f} | {tick.list_seconds:.2f} | {tick.list_calls} | {tick.runs} |")


def median_tick(samples: list[Tick]) -> Tick:
    return Tick(
        statistics.median(t.seconds for t in samples),
        statistics.median(t.list_seconds for t in samples),
        int(statistics.median(t.list_calls for t in samples)),
        int(statistics.median(t.runs for t in samples)),
        all(t.listing_done for t in samples),
    )


if __name__ == "__main__":
    main()
