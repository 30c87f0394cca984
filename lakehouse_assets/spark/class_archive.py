"""A class-data-sharing archive of the Spark JVM's classes, built once at install, for faster starts.

A local Spark driver loads some 20,000 classes (Spark, Delta, Hadoop, Jackson) before its first
table is written; the JVM verifies and parses each of them again in every process. Java 17's
dynamic CDS archive keeps them parsed on disk, mapped read-only into every JVM that names it:
measured on 2 cores, a session starts in 3.0 s instead of 4.8 s and the first pipeline step takes
12.6 s instead of 17.5 s (BENCHMARKS.md). `make install` builds the archive by running a few rows
through every stage in a JVM started with `-XX:ArchiveClassesAtExit`; `local_spark_conf` names it
when it exists. The JVM itself checks that the archive matches its version and class path and
quietly ignores one that does not, so a stale archive costs the speed-up, never correctness.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# Java's own logging of an archive it cannot use (another JDK, another class path) stays off.
QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"


def java_binary() -> Path | None:
    """The `java` Spark starts: `$JAVA_HOME/bin/java`, else the first on PATH."""
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    return Path(found).resolve() if found and Path(found).exists() else None


def archive_path() -> Path | None:
    """Where the archive for this JDK and this pyspark lives (None without Java)."""
    java = java_binary()
    if java is None:
        return None
    import pyspark

    stat = java.stat()
    identity = f"{java}|{stat.st_size}|{stat.st_mtime_ns}|{pyspark.__version__}|{pyspark.__file__}"
    digest = hashlib.sha256(identity.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lakehouse" / "jvm"
    return Path(os.environ.get("LAKEHOUSE_JVM_ARCHIVE_DIR", cache)) / f"spark-{pyspark.__version__}-{digest}.jsa"


def driver_java_options() -> str:
    """The driver JVM options that use the archive, or "" when there is none (or it is switched off)."""
    if os.environ.get("LAKEHOUSE_JVM_ARCHIVE", "on") == "off":
        return ""
    path = archive_path()
    if path is None or not path.is_file():
        return ""
    return f"-XX:SharedArchiveFile={path} {QUIET}"


# Runs in a child process: a few rows through every stage, so the archive holds what a run loads.
WARM_UP = r"""
import sys, tempfile
from datetime import UTC, datetime
from pathlib import Path
from pyspark.sql import SparkSession
from lakehouse_assets.spark.config import local_spark_conf
from glue_scripts import analytics, quality, steps
from glue_scripts.contracts import CONTRACTS
from glue_scripts.storage import LocalStore

conf = local_spark_conf(driver_memory="1g")
conf["spark.driver.extraJavaOptions"] = "-XX:ArchiveClassesAtExit=" + sys.argv[1]
builder = SparkSession.builder
for key, value in conf.items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
files = {
    "products/p.csv": "product_id,department_id,department,product_name\n1,4,Books,A\n2,2,Books,B\n",
    "orders/o.csv": "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
    "1,10,7,2025-04-01T11:27:00,9.50,2025-04-01\n2,11,8,2025-04-01T12:00:00,x,2025-04-01\n",
    "order_items/i.csv": "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,"
    "reordered,order_timestamp,date\n1,10,7,3,1,1,0,2025-04-01T11:27:00,2025-04-01\n"
    "2,99,7,3,2,2,0,2025-04-01T11:27:00,2025-04-01\n",
}
with tempfile.TemporaryDirectory() as root:
    for key, text in files.items():
        path = Path(root, "landing", key)
        path.parent.mkdir(parents=True)
        path.write_text(text)
    store, now = LocalStore(root), datetime.now(UTC)
    contracts = [CONTRACTS[name] for name in ("products", "orders", "order_items")]
    for contract in contracts:
        steps.ingest_step(spark, store, contract, "warm-up", now)
        steps.process_step(spark, store, contract, "warm-up", now, batch_run_ids=["warm-up"])
    for name in analytics.ANALYTICS_TABLES:
        analytics.build_table(spark, store, name)
        analytics.reconcile_table(spark, store, name)
    steps.archive_step(spark, store, contracts, "warm-up", now)
spark.stop()
"""


def build_archive(force: bool = False) -> Path | None:
    """Build the archive unless it exists (about a minute); None when there is no Java."""
    path = archive_path()
    if path is None or (path.is_file() and not force):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as work:
        partial = Path(work) / path.name
        environment = {**os.environ, "LAKEHOUSE_JVM_ARCHIVE": "off", "PYSPARK_SUBMIT_ARGS": "pyspark-shell"}
        completed = subprocess.run(
            [sys.executable, "-c", WARM_UP, str(partial)], env=environment, capture_output=True, text=True
        )
        if completed.returncode != 0 or not partial.is_file():
            tail = "\n".join((completed.stderr or "").splitlines()[-15:])
            raise RuntimeError(f"building the JVM class archive failed (Spark still works without it):\n{tail}")
        partial.replace(path)
    return path


if __name__ == "__main__":
    try:
        print(build_archive(force="--force" in sys.argv) or "no Java found: no class archive")
    except RuntimeError as error:
        print(error, file=sys.stderr)
        sys.exit(1)
