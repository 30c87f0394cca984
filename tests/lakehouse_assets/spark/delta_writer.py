"""One of the two writers of tests/lakehouse_assets/spark/test_delta_conf.py: one row per Delta commit.

Run as `python -m tests.lakehouse_assets.spark.delta_writer PATH WRITER COUNT`, it is a JVM of its own with
the tests' settings for a short-lived one (`QUICK_JIT`) and the environment's endpoints: it builds
its session, prints `ready` and waits for a line on its standard input; then it commits the first
half of COUNT appends, prints `half`, waits for another line and commits the second half. The test
meets it at that halfway point, so both halves have commits of both writers, however fast each JVM is.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession

from tests.spark_settings import spark_session_for_tests


def append_rows(spark: SparkSession, path: str, writer: str, numbers: range) -> None:
    """One append of one row `(writer, number)` per number, every commit labelled `writer:number`.

    The row is made in the JVM (`range`, one partition: one task, one file), not from Python data,
    which would start a Python worker.
    """
    for number in numbers:
        row = spark.range(0, 1, 1, 1).selectExpr(f"'{writer}' AS writer", f"CAST({number} AS INT) AS number")
        row.write.format("delta").mode("append").option("userMetadata", f"{writer}:{number}").save(path)


if __name__ == "__main__":
    path, writer, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    session = spark_session_for_tests(cores=1, driver_memory="1g", short_lived=True)
    print("ready", flush=True)
    sys.stdin.readline()
    append_rows(session, path, writer, range(count // 2))
    print("half", flush=True)
    sys.stdin.readline()
    append_rows(session, path, writer, range(count // 2, count))
    session.stop()
