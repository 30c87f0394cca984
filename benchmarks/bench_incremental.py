"""Incremental cost: one day's batch merged into processed tables 1x and 10x its size, and the checks on both.

Why: a lakehouse that re-reads or rewrites its whole history on every delivery gets slower every
day. The merge is pruned to the partitions a batch touches, so one day's batch should cost about
the same whatever the table's size (issue 5 aims at a 10x / 1x ratio of at most 1.3), and the
checks that are about the batch should follow the batch, while the whole-table checks (key
uniqueness, referential integrity) grow with the table and are reported as such.

Usage:
    .venv/bin/python benchmarks/bench_incremental.py            # scale 1/32: ~90,000 order items a day
    .venv/bin/python benchmarks/bench_incremental.py --scale 0.005 --repeat 1   # a quick look
Run nothing else meanwhile.

What it does, per size k in (1, 10), in one Spark session (local_spark_conf(), as `lakehouse run`):
1. an empty root gets the products file and days 1..k of orders and order items; the real stages
   load and process them (set-up, timed apart);
2. the batch lands: day k+1 of both, plus a correction file per data set re-sending 1 % of day k's
   rows one second later (so the batch updates stored keys and has to merge, not only append);
3. timed: ingesting the batch into raw, processing it per data set (cast, validate, merge; Delta's
   operation metrics say how many files the merge rewrote), and each check's measurement
   (`glue_scripts.quality`, as the asset checks and the Glue jobs compute them).
The batch is the same size for both k (the generator's days are equal in size), so the ratio of
the two merge times is the figure to watch. Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from glue_scripts import ledger, quality
from glue_scripts.contracts import CONTRACTS, DatasetContract
from glue_scripts.delta_tables import read_table
from glue_scripts.stages import ingest_landing, process_batch, table_path
from glue_scripts.storage import LocalStore
from lakehouse_assets.spark.config import local_spark_session
from lakehouse_assets.tooling.generator import generate

SIZES = (1, 10)
CORRECTED_SHARE = 0.01
DAILY = ("orders", "order_items")


def spark_session() -> SparkSession:
    return local_spark_session()


def day_files(data: Path, dataset: str) -> list[Path]:
    return sorted((data / dataset).glob("*.csv"))


def correction(path: Path, share: float) -> str:
    """`share` of a day file's rows again, one second later (so newer: an update of a stored key)."""
    text = path.read_text()
    reader = csv.DictReader(io.StringIO(text))
    rows = list(reader)
    step = max(1, round(1 / share))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=reader.fieldnames or [], lineterminator="\n")
    writer.writeheader()
    for row in rows[::step]:
        moved = datetime.fromisoformat(row["order_timestamp"]) + timedelta(seconds=1)
        if moved.date().isoformat() != row["date"]:
            continue  # 23:59:59 would move to the next day: a different row, not a correction
        row["order_timestamp"] = moved.isoformat(timespec="seconds")
        writer.writerow(row)
    return out.getvalue()


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def last_operation(spark: SparkSession, path: str) -> dict[str, Any]:
    row = DeltaTable.forPath(spark, path).history(1).first()
    metrics = row.operationMetrics or {}
    return {
        "operation": row.operation,
        "files_removed": int(metrics.get("numTargetFilesRemoved", metrics.get("numRemovedFiles", 0))),
        "files_added": int(metrics.get("numTargetFilesAdded", metrics.get("numFiles", 0))),
    }


def table_files(spark: SparkSession, path: str) -> int:
    return int(DeltaTable.forPath(spark, path).detail().first().numFiles)


def check_costs(spark: SparkSession, store: LocalStore, contract: DatasetContract, run_id: str) -> dict[str, float]:
    """Seconds per check measurement, as `quality.check_results` computes them."""
    processed = read_table(spark, table_path(store, "processed", contract))
    raw = read_table(spark, table_path(store, "raw", contract))
    costs: dict[str, float] = {}
    costs["primary_key (whole table)"], _ = timed(lambda: quality.primary_key_report(processed, contract))
    for fk in contract.foreign_keys:
        parent = read_table(spark, table_path(store, "processed", CONTRACTS[fk.parent]))
        name = f"{quality.foreign_key_check_name(fk)} (whole table)"
        costs[name], _ = timed(lambda fk=fk, parent=parent: quality.orphan_report(processed, parent, fk))
    entries_seconds, entries = timed(lambda: ledger.batch_entries(spark, store, contract.name, [run_id]))
    seconds, _ = timed(lambda: quality.raw_file_profiles(raw, entries))
    costs["rows_reconciled, rejection_rate, rejection_limit, schema_drift (batch)"] = entries_seconds + seconds
    return costs


def one_size(spark: SparkSession, data: Path, work: Path, days: int) -> dict[str, Any]:
    store = LocalStore(work / f"root_{days}x")
    now = datetime(2025, 5, 1, tzinfo=UTC)
    (store.path / "landing/products").mkdir(parents=True)
    shutil.copyfile(data / "products" / "products.csv", store.path / "landing/products/products.csv")
    for dataset in DAILY:
        (store.path / f"landing/{dataset}").mkdir(parents=True, exist_ok=True)
        for path in day_files(data, dataset)[:days]:
            shutil.copyfile(path, store.path / f"landing/{dataset}/{path.name}")
    setup_seconds, _ = timed(lambda: run_stages(spark, store, "setup", now))
    for dataset in DAILY:
        files = day_files(data, dataset)
        shutil.copyfile(files[days], store.path / f"landing/{dataset}/{files[days].name}")
        (store.path / f"landing/{dataset}/correction.csv").write_text(correction(files[days - 1], CORRECTED_SHARE))
    result: dict[str, Any] = {"days": days, "setup_seconds": setup_seconds}
    ingest_seconds, _ = timed(
        lambda: [ingest_landing(spark, store, CONTRACTS[d], "batch", now) for d in ("products", *DAILY)]
    )
    result["ingest_seconds"] = ingest_seconds
    for dataset in DAILY:
        contract = CONTRACTS[dataset]
        path = table_path(store, "processed", contract)
        files_before = table_files(spark, path)
        seconds, outcome = timed(lambda contract=contract: process_batch(spark, store, contract, "batch", now))
        result[dataset] = {
            "process_seconds": seconds,
            "rows_in_table": outcome.processed_rows,
            "batch_rows": outcome.rows_read,
            "updates": outcome.rows_updating_stored,
            "partitions_touched": len(outcome.partitions_touched),
            "partitions": outcome.partitions,
            "table_files_before": files_before,
            **last_operation(spark, path),
            "checks": check_costs(spark, store, contract, "batch"),
        }
    return result


def run_stages(spark: SparkSession, store: LocalStore, run_id: str, now: datetime) -> None:
    for contract in CONTRACTS.values():
        ingest_landing(spark, store, contract, run_id, now)
    for contract in CONTRACTS.values():
        process_batch(spark, store, contract, run_id, now)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1 / 32)
    parser.add_argument("--repeat", type=int, default=3, help="median of N measurements per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    total_days = max(SIZES) + 1
    work = Path(tempfile.mkdtemp(prefix="bench_incremental_"))
    data = work / "data"
    generate(data, scale=args.scale, days=total_days, seed=args.seed)
    spark = spark_session()
    results: dict[int, list[dict[str, Any]]] = {k: [] for k in SIZES}
    try:
        for repetition in range(args.repeat):
            for k in SIZES:
                shutil.rmtree(work / f"root_{k}x", ignore_errors=True)
                results[k].append(one_size(spark, data, work, k))
                print(f"repetition {repetition + 1}, {k}x: done", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(report(results, args))
    return 0


def median(values: list[float]) -> float:
    return statistics.median(values)


def report(results: dict[int, list[dict[str, Any]]], args: argparse.Namespace) -> str:
    small, large = results[SIZES[0]], results[SIZES[1]]
    lines = [
        f"Command: `.venv/bin/python benchmarks/bench_incremental.py --scale {args.scale:g} --repeat {args.repeat}`",
        f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}; Python {platform.python_version()}; "
        f"median of {args.repeat}; measured {datetime.now(UTC):%Y-%m-%d}",
        "",
        "| data set | table 1x rows | table 10x rows | batch rows (updates) | process 1x s | process 10x s | ratio "
        "| operation | files rewritten 1x / 10x | table files 1x / 10x |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for dataset in DAILY:
        a, b = small[0][dataset], large[0][dataset]
        t1 = median([r[dataset]["process_seconds"] for r in small])
        t10 = median([r[dataset]["process_seconds"] for r in large])
        lines.append(
            f"| {dataset} | {a['rows_in_table']:,} | {b['rows_in_table']:,} | {a['batch_rows']:,} ({a['updates']:,}) "
            f"| {t1:.1f} | {t10:.1f} | {t10 / t1:.2f} | {a['operation']} / {b['operation']} "
            f"| {a['files_removed']} / {b['files_removed']} | {a['table_files_before']} / {b['table_files_before']} |"
        )
    lines += ["", "| check | 1x s | 10x s | ratio |", "| --- | --- | --- | --- |"]
    for dataset in DAILY:
        for name in small[0][dataset]["checks"]:
            c1 = median([r[dataset]["checks"][name] for r in small])
            c10 = median([r[dataset]["checks"][name] for r in large])
            lines.append(f"| {dataset}: {name} | {c1:.2f} | {c10:.2f} | {c10 / c1:.2f} |")
    ingest1 = median([r["ingest_seconds"] for r in small])
    ingest10 = median([r["ingest_seconds"] for r in large])
    lines += ["", f"Ingesting the batch into raw: {ingest1:.1f} s (1x), {ingest10:.1f} s (10x)."]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
