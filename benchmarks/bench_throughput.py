"""Throughput of `lakehouse run` on generated data, side by side with a peer-style Spark job and two floors.

Why: how the pipeline behaves as data grows is only worth something next to what the same machine
can do with the same files. Three baselines, each in its own fresh process on the same files:
- the peer: a plain Spark job doing what most public implementations of this pipeline do
  (`spark_baselines.py peer`: CSV with `inferSchema`, `dropDuplicates` on the key, a join against
  the batch for referential integrity, an unpartitioned Delta MERGE), with `lakehouse run`'s Spark
  settings. Issue 17 aims at pipeline ÷ peer of at most 1.0;
- the Spark floor (`spark_baselines.py spark_floor`): the CSVs read with the contracts' schema and
  written to Delta partitioned by date, nothing else;
- DuckDB's floor: the same CSVs read with the contracts' types and written as Parquet, partitioned
  by date: no validation, no Delta log, no Dagster, no JVM.

Usage:
    .venv/bin/python benchmarks/bench_throughput.py --quick         # ~1 M order items (scale 1/32), 10 days
    .venv/bin/python benchmarks/bench_throughput.py                 # full: ~5 M order items (scale 5/32), 10 days
    .venv/bin/python benchmarks/bench_throughput.py --items 20000   # any size, e.g. a smoke test
Options: `--days`, `--repeat N` (median of N), `--dirty-share`, `--seed`, `--keep` (keep the work folder).
On the project's 2-core VM expect a few minutes per repetition for --quick and several times that
for the full mode; run nothing else meanwhile, the figures are meaningless on a busy machine.

What it does: generates the data once (`lakehouse_assets.tooling.generator`, timed), then per repetition, each
in a fresh process on an empty root and a fresh Dagster home:
1. `lakehouse land DATA` (timed apart: copying files is not the pipeline);
2. `lakehouse run`: wall time of the whole process (Python, Spark start, the job), peak resident
   memory of the process tree (Python + the Spark JVM, sampled from /proc every 0.2 s; Linux) and
   of its largest process (the JVM), and from the run's Dagster events (STEP_SUCCESS durations, run
   start and end) the time per step: raw, processed per data set, the checks together, the archive;
   and the driver's heap from the JVM's GC log (`JAVA_TOOL_OPTIONS=-Xlog:gc:...`): its peak in use.
   The summary's accepted rows must equal the generator's manifest, or the benchmark stops;
3. the DuckDB floor, the peer and the Spark floor, each in its own fresh process: the same
   figures (the peer's and the Spark floor's row count afterwards is taken off their wall time).
Prints Markdown tables (for BENCHMARKS.md) with the command, the data, the machine and versions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glue_scripts.contracts import CONTRACTS, DATASETS
from lakehouse_assets.tooling.generator import FULL_ITEMS, generate, rows_written

REPO = Path(__file__).resolve().parents[1]

QUICK_ITEMS = 1_000_000
FULL_MODE_ITEMS = 5_000_000
SAMPLE_SECONDS = 0.2
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
DUCKDB_TYPES = {
    "int": "INTEGER",
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "decimal": "DECIMAL(12,2)",
    "date": "DATE",
}
# Stages in the order of the asset graph, for the report.
SPARK_BASELINES = ("peer", "spark_floor")
STAGES = (
    "raw (all data sets)",
    *(f"processed/{name} (+ rejected, checks)" for name in DATASETS),
    "checks",
    "analytics and catalog",
    "archive",
)

# The floor: each data set's CSVs read with the contract's types and written as Parquet
# (partitioned by the contract's partition column). Rows that do not parse are skipped.
FLOOR_CHILD = r"""
import json, sys, time
started = time.perf_counter()
import duckdb
data, out, plan = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
connection = duckdb.connect()
seconds = {}
for dataset, spec in plan.items():
    t = time.perf_counter()
    columns = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in spec["columns"].items()) + "}"
    options = "FORMAT parquet" + (f", PARTITION_BY ({spec['partition']})" if spec["partition"] else "")
    target = f"{out}/{dataset}" + ("" if spec["partition"] else ".parquet")
    connection.execute(
        f"COPY (SELECT * FROM read_csv('{data}/{dataset}/*.csv', header = true, columns = {columns}, "
        f"ignore_errors = true)) TO '{target}' ({options})"
    )
    seconds[dataset] = time.perf_counter() - t
elapsed = time.perf_counter() - started
print(json.dumps({"queries": sum(seconds.values()), "per_dataset": seconds, "in_process": elapsed}))
"""


@dataclass
class Measured:
    """A finished child process: wall time, memory, exit code."""

    wall: float
    tree_peak_bytes: int
    largest_process_bytes: int  # the largest single process of the tree (the JVM, for the pipeline)
    returncode: int
    at_peak: list[tuple[str, int]]  # (process name, resident bytes) at the tree's peak, largest first


def tree_rss(root_pid: int) -> dict[int, int]:
    """Resident bytes of a process and of each of its descendants (pid -> bytes), from /proc.

    A child whose memory figures equal its parent's is left out: a fork or vfork caught before its
    exec (the JVM spawns shell commands this way) shares its parent's pages, not adds to them.
    """
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    resident: dict[int, int] = {}
    todo: list[tuple[int, str]] = [(root_pid, "")]
    while todo:
        pid, parent_statm = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as handle:
                statm = handle.read()
        except OSError:
            continue
        if statm != parent_statm:
            resident[pid] = int(statm.split()[1]) * PAGE_SIZE
        todo += [(child, statm) for child in children.get(pid, [])]
    return resident


def process_name(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as handle:
            return handle.read().strip()
    except OSError:
        return "?"


def measure(command: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run a command to its end, sampling its process tree's memory; stdout and stderr go to `log`."""
    with log.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
        peak = largest = 0
        at_peak: list[tuple[str, int]] = []
        while True:
            pid, status = os.waitpid(process.pid, os.WNOHANG)
            if pid:
                break
            resident = tree_rss(process.pid)
            if sum(resident.values()) > peak:
                peak = sum(resident.values())
                at_peak = sorted(((process_name(p), b) for p, b in resident.items()), key=lambda x: -x[1])
            largest = max(largest, *resident.values(), 0)
            time.sleep(SAMPLE_SECONDS)
        wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    return Measured(wall, peak, largest, process.returncode, at_peak)


def lakehouse(*args: str) -> list[str]:
    return [sys.executable, "-m", "lakehouse_assets.cli", *args]


def step_times(home: Path) -> dict[str, Any]:
    """The run's STEP_SUCCESS durations and its start-to-end time, from the Dagster instance in `home`."""
    from dagster import DagsterEventType, DagsterInstance

    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        stats = instance.get_run_stats(run.run_id)
        steps = {
            record.dagster_event.step_key: record.dagster_event.event_specific_data.duration_ms / 1000
            for record in instance.all_logs(run.run_id, of_type=DagsterEventType.STEP_SUCCESS)
        }
    return {"run": (stats.end_time or 0) - (stats.start_time or 0), "steps": steps}


def heap_peaks(folder: Path) -> dict[str, float]:
    """The driver heap's peaks (MiB) and its collections' pauses, over the GC logs in `folder`.

    From the unified GC log's pause lines (`Pause Young (Normal) (G1 Evacuation Pause) 1024M->300M(4096M)
    12.3ms`): the most in use before a collection, the most still in use after one (live data and
    Spark's cached blocks), the most committed, the number of full collections and all pauses' time.
    """
    figures = {"before_gc": 0.0, "after_gc": 0.0, "committed": 0.0, "full_gcs": 0.0, "pause_seconds": 0.0}
    pause = re.compile(r"Pause (\w+).*?(\d+)M->(\d+)M\((\d+)M\) ([\d.]+)ms")
    for log in folder.glob("gc-*.log"):
        for match in pause.finditer(log.read_text(errors="replace")):
            kind, before, after, committed, milliseconds = match.groups()
            figures["before_gc"] = max(figures["before_gc"], float(before))
            figures["after_gc"] = max(figures["after_gc"], float(after))
            figures["committed"] = max(figures["committed"], float(committed))
            figures["full_gcs"] += kind == "Full"
            figures["pause_seconds"] += float(milliseconds) / 1000
    return figures


def stage_of(step_key: str) -> str:
    if step_key == "ingest_landed_files" or step_key.startswith("raw"):
        return "raw (all data sets)"
    if step_key.startswith("process_"):
        return f"processed/{step_key.removeprefix('process_')} (+ rejected, checks)"
    if step_key.startswith("archived"):
        return "archive"
    if step_key.startswith(("analytics", "catalog")):
        return "analytics and catalog"
    return "checks"


def summary_accepted(log: Path) -> dict[str, int]:
    """Accepted rows per data set from `lakehouse run`'s summary table (its third figure column)."""
    accepted = {}
    for line in log.read_text(errors="replace").splitlines():
        name, *figures = line.split() or [""]
        if name in CONTRACTS and len(figures) >= 3 and all(re.fullmatch(r"[\d,]+", f) for f in figures):
            accepted[name] = int(figures[2].replace(",", ""))  # files, rows read, accepted, ...
    return accepted


def one_repetition(work: Path, data: Path, manifest: dict[str, Any], index: int) -> dict[str, Any]:
    base = work / f"run{index}"
    root, home, floor_out = base / "root", base / "home", base / "floor"
    for folder in (home, floor_out):
        folder.mkdir(parents=True)
    env = {**os.environ, "LAKEHOUSE_ROOT": str(root), "DAGSTER_HOME": str(home), "PYTHONPATH": str(REPO)}
    land = measure(lakehouse("land", str(data), "--root", str(root)), env, base / "land.log")
    if land.returncode:
        raise SystemExit(f"lakehouse land failed: see {base / 'land.log'}")
    # The JVMs' collections logged (one file per process), for the driver heap's peak.
    gc_log = f"-Xlog:gc:file={base}/gc-%p.log"
    pipeline = measure(lakehouse("run", "--root", str(root)), {**env, "JAVA_TOOL_OPTIONS": gc_log}, base / "run.log")
    if pipeline.returncode:
        raise SystemExit(f"lakehouse run failed ({pipeline.returncode}): see {base / 'run.log'}")
    expected = {name: d["expected"]["one_run"]["accepted"] for name, d in manifest["datasets"].items()}
    accepted = summary_accepted(base / "run.log")
    if accepted != expected:
        raise SystemExit(f"accepted rows {accepted} differ from the manifest's {expected}: see {base / 'run.log'}")
    figures = step_times(home) | {"heap": heap_peaks(base)}

    plan = {
        name: {
            "columns": {c.name: DUCKDB_TYPES[c.type] for c in contract.columns},
            "partition": contract.partition_column,
        }
        for name, contract in CONTRACTS.items()
    }
    floor = measure(
        [sys.executable, "-c", FLOOR_CHILD, str(data), str(floor_out), json.dumps(plan)], env, base / "floor.log"
    )
    if floor.returncode:
        raise SystemExit(f"the DuckDB floor failed: see {base / 'floor.log'}")
    floor_figures = json.loads((base / "floor.log").read_text().strip().splitlines()[-1])
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(floor_out, ignore_errors=True)
    baselines = {job: spark_baseline(job, data, base, env) for job in SPARK_BASELINES}
    return {
        "land": land,
        "pipeline": pipeline,
        "figures": figures,
        "floor": floor,
        "floor_figures": floor_figures,
        **baselines,
    }


def spark_baseline(job: str, data: Path, base: Path, env: dict[str, str]) -> tuple[Measured, dict[str, Any]]:
    """One of `spark_baselines.py`'s jobs in a fresh process: its measurement and its own figures."""
    out, log = base / job, base / f"{job}.log"
    script = REPO / "benchmarks" / "spark_baselines.py"
    measured = measure([sys.executable, str(script), job, str(data), str(out)], env, log)
    if measured.returncode:
        raise SystemExit(f"the Spark {job} job failed: see {log}")
    shutil.rmtree(out, ignore_errors=True)
    return measured, json.loads(log.read_text().strip().splitlines()[-1])


def versions() -> str:
    from importlib.metadata import version

    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    packages = ", ".join(f"{name} {version(name)}" for name in ("pyspark", "delta-spark", "dagster", "duckdb"))
    return f"Python {platform.python_version()}, {java[0] if java else 'java ?'}, {packages}"


def memory_total() -> str:
    with open("/proc/meminfo") as handle:
        kib = int(handle.readline().split()[1])
    return f"{kib / 2**20:.1f} GiB RAM"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"about {QUICK_ITEMS:,} order items")
    parser.add_argument("--items", type=int, help=f"order items to generate (default {FULL_MODE_ITEMS:,})")
    parser.add_argument("--days", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--dirty-share", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder (data, logs, instance)")
    args = parser.parse_args()
    items = args.items or (QUICK_ITEMS if args.quick else FULL_MODE_ITEMS)
    scale = items / FULL_ITEMS

    work = Path(tempfile.mkdtemp(prefix="bench-throughput-"))
    data = work / "data"
    manifest = generate(data, scale=scale, days=args.days, dirty_share=args.dirty_share, seed=args.seed)
    rows = rows_written(manifest)
    csv_bytes = sum(path.stat().st_size for path in data.rglob("*.csv"))
    runs = [one_repetition(work, data, manifest, index) for index in range(args.repeat)]

    def median(values: list[float]) -> float:
        return statistics.median(values)

    def seconds(values: list[float]) -> str:
        return f"{median(values):.1f}"

    def mib(values: list[int]) -> str:
        return f"{median(values) / 2**20:,.0f} MiB"

    pipeline_wall = [r["pipeline"].wall for r in runs]
    floor_wall = [r["floor"].wall for r in runs]
    run_time = [r["figures"]["run"] for r in runs]
    datasets = manifest["datasets"]
    stages: dict[str, list[float]] = {}
    for r in runs:
        grouped: dict[str, float] = {}
        for step, duration in r["figures"]["steps"].items():
            grouped[stage_of(step)] = grouped.get(stage_of(step), 0.0) + duration
        for stage, duration in grouped.items():
            stages.setdefault(stage, []).append(duration)
    check_steps = sum(1 for step in runs[0]["figures"]["steps"] if stage_of(step) == "checks")
    command = " ".join(["python", "benchmarks/bench_throughput.py", *sys.argv[1:]])

    print(f"command: `{command}`")
    print(
        f"data: scale {scale:.5f}, {args.days} days, seed {args.seed}, dirty share {args.dirty_share}: "
        f"{datasets['products']['rows']:,} products, {datasets['orders']['rows']:,} orders, "
        f"{datasets['order_items']['rows']:,} order items ({rows:,} rows, {csv_bytes / 2**20:,.0f} MiB of CSV); "
        f"generated in {manifest['elapsed_seconds']:.1f} s ({rows / manifest['elapsed_seconds']:,.0f} rows/s)"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {memory_total()}; {versions()}")
    print(f"runs: {args.repeat} (median)\n")
    print("| figure | value |\n| --- | --- |")
    print(f"| `lakehouse land` (copy into landing/, not counted below) | {seconds([r['land'].wall for r in runs])} s |")
    print(f"| `lakehouse run`, whole process (Python, Spark start, job) | {seconds(pipeline_wall)} s |")
    print(f"| rows/s (all {rows:,} rows ÷ process wall) | {rows / median(pipeline_wall):,.0f} |")
    print(f"| order items/s | {datasets['order_items']['rows'] / median(pipeline_wall):,.0f} |")
    print(f"| peak RSS, process tree (Python + JVM, sampled) | {mib([r['pipeline'].tree_peak_bytes for r in runs])} |")
    print(f"| peak RSS, largest process (the Spark JVM) | {mib([r['pipeline'].largest_process_bytes for r in runs])} |")
    heap = [r["figures"]["heap"] for r in runs]
    print(
        f"| driver heap (GC log, `-Xmx` {os.environ.get('LAKEHOUSE_DRIVER_MEMORY', '4g')}): peak in use before a "
        f"collection / largest after one / committed | {median([h['before_gc'] for h in heap]):,.0f} / "
        f"{median([h['after_gc'] for h in heap]):,.0f} / {median([h['committed'] for h in heap]):,.0f} MiB |"
    )
    print(
        f"| driver heap: full collections / all pauses | {median([h['full_gcs'] for h in heap]):.0f} / "
        f"{median([h['pause_seconds'] for h in heap]):.1f} s |"
    )
    print(f"| Dagster run, start to end | {seconds(run_time)} s |")
    start_up = [wall - run for wall, run in zip(pipeline_wall, run_time, strict=True)]
    print(f"| start-up (process wall - Dagster run) | {seconds(start_up)} s |")
    for stage in sorted(stages, key=lambda name: STAGES.index(name) if name in STAGES else len(STAGES)):
        label = f"{stage} ({check_steps} steps together)" if stage == "checks" else stage
        print(f"| step: {label} | {seconds(stages[stage])} s |")
    overhead = [r["figures"]["run"] - sum(r["figures"]["steps"].values()) for r in runs]
    print(f"| Dagster overhead (run - step times) | {seconds(overhead)} s |")
    print(f"| floor: DuckDB CSV → Parquet, whole process | {seconds(floor_wall)} s |")
    print(f"| floor: DuckDB queries only | {seconds([r['floor_figures']['queries'] for r in runs])} s |")
    print(f"| floor: peak RSS, process tree | {mib([r['floor'].tree_peak_bytes for r in runs])} |")
    ratio = median([p / f for p, f in zip(pipeline_wall, floor_wall, strict=True)])
    print(f"| **pipeline ÷ DuckDB floor** (whole processes) | **{ratio:.1f}** |")
    for job, label in (("peer", "peer-style Spark job"), ("spark_floor", "Spark floor (CSV → partitioned Delta)")):
        wall = [r[job][0].wall - r[job][1]["count_seconds"] for r in runs]
        print(f"| {label}, whole process (its row count taken off) | {seconds(wall)} s |")
        print(
            f"| {label}: session start / work | {seconds([r[job][1]['session'] for r in runs])} s / "
            f"{seconds([r[job][1]['work'] for r in runs])} s |"
        )
        print(f"| {label}: peak RSS, largest process | {mib([r[job][0].largest_process_bytes for r in runs])} |")
        tables = ", ".join(f"{name} {count:,}" for name, count in runs[-1][job][1]["rows"].items())
        print(f"| {label}: rows in its tables | {tables} |")
        ratio = median([p / w for p, w in zip(pipeline_wall, wall, strict=True)])
        print(f"| **pipeline ÷ {label.split(' (')[0]}** | **{ratio:.2f}** |")
    breakdown = ", ".join(f"{name} {size / 2**20:,.0f} MiB" for name, size in runs[-1]["pipeline"].at_peak[:6])
    print(f"\nprocesses at the pipeline's peak (last run): {breakdown}")
    print("\nsteps (STEP_SUCCESS durations, s):\n\n| step | seconds |\n| --- | --- |")
    for step in runs[0]["figures"]["steps"]:
        print(f"| `{step}` | {seconds([r['figures']['steps'][step] for r in runs])} |")
    if args.keep:
        print(f"\nwork folder kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
