"""The pipeline's stages for every data set, in one process: what the fault-injection tests crash.

`run_pipeline` takes the order `lakehouse run` takes: raw for all, processed parents first, then the
archive. Run as `python -m tests.glue_scripts.fault_driver ROOT RUN_ID POINT`, it is a real process
with its own Spark JVM that SIGKILLs its process group at the failpoint `POINT` (`<name>`, or
`<name>+<seconds>` for a timer armed there, so the kill lands inside the next operation).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from datetime import UTC, datetime

from pyspark.sql import SparkSession

from glue_scripts.contracts import CONTRACTS
from glue_scripts.failpoints import FailpointHook, install_hook
from glue_scripts.stages import archive_landed, ingest_landing, process_batch
from glue_scripts.storage import open_store
from tests.spark_settings import spark_session_for_tests

NOW = datetime(2025, 4, 20, 8, 0, tzinfo=UTC)


def run_pipeline(spark: SparkSession, root: str, run_id: str) -> None:
    store = open_store(root)
    for contract in CONTRACTS.values():
        ingest_landing(spark, store, contract, run_id, NOW)
    for contract in CONTRACTS.values():
        process_batch(spark, store, contract, run_id, NOW)
    for contract in CONTRACTS.values():
        archive_landed(spark, store, contract, run_id, NOW)


def kill_at(armed: str) -> FailpointHook:
    """A failpoint hook that SIGKILLs this process group (Python and its JVM) at `armed`."""
    point, _, delay = armed.partition("+")

    def kill() -> None:
        os.killpg(os.getpgid(0), signal.SIGKILL)

    def hook(name: str) -> None:
        if name != point:
            return
        if delay:
            threading.Timer(float(delay), kill).start()
        else:
            kill()

    return hook


def main(root: str, run_id: str, point: str) -> int:
    spark = spark_session_for_tests(cores=2, driver_memory="1g", short_lived=True)
    with install_hook(kill_at(point)):
        run_pipeline(spark, root, run_id)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
