"""Spark for the tests: the local settings `lakehouse run` uses, tuned for a handful of rows.

One shuffle partition, one Delta snapshot partition, one task for file listings, no UI, no adaptive
query execution (each of its query stages is a Spark job of its own), and no code
generation: on a few rows, compiling each query's Java code costs more than interpreting it (about
a sixth off a small pipeline run; the results are the same either way). A short-lived JVM (a
process that runs one small pipeline and exits) gets the quick JIT only, which costs the least CPU,
with the code cache the full JIT would have (the quick JIT alone gets 48 MB, which a pipeline fills:
the JVM then flushes and recompiles); a long-lived one (the shared session) compiles only the code
that stays hot, at ten times the usual call counts: the optimising compiler otherwise takes nearly
half of the session's CPU in its first minutes of small pipelines, and this costs about a sixth less
(BENCHMARKS.md, "The tests' JVMs").
Processes the tests start (`lakehouse run`, `lakehouse dev` and its runs) get the same settings
through `PYSPARK_SUBMIT_ARGS`, under the ones `lakehouse` sets itself.
"""

from __future__ import annotations

import shlex

from pyspark.sql import SparkSession

from lakehouse_assets.spark.config import local_driver_options, local_spark_conf

SMALL_DATA_SETTINGS = {
    "spark.sql.shuffle.partitions": "1",
    "spark.default.parallelism": "2",
    "spark.databricks.delta.snapshotPartitions": "1",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": "1",
    "spark.ui.enabled": "false",
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
}


# The JIT of a short-lived JVM (the quick compiler only) and of a long-lived one (fewer methods compiled).
QUICK_JIT = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
SELECTIVE_JIT = "-XX:CompileThresholdScaling=10"


def driver_jit(jit: str) -> dict[str, str]:
    """The driver's JVM options: the class archive's, plus `jit`."""
    return {"spark.driver.extraJavaOptions": f"{local_driver_options()} {jit}"}


def spark_conf_for_tests(cores: int = 2, driver_memory: str = "2g", short_lived: bool = False) -> dict[str, str]:
    conf = local_spark_conf(cores=cores, driver_memory=driver_memory) | SMALL_DATA_SETTINGS
    return conf | driver_jit(QUICK_JIT if short_lived else SELECTIVE_JIT)


def spark_session_for_tests(cores: int = 2, driver_memory: str = "2g", short_lived: bool = False) -> SparkSession:
    builder = SparkSession.builder
    for key, value in spark_conf_for_tests(cores, driver_memory, short_lived).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


def submit_args(conf: dict[str, str]) -> str:
    """`conf` as `PYSPARK_SUBMIT_ARGS`, for a process the test starts."""
    return " ".join(f"--conf {shlex.quote(f'{key}={value}')}" for key, value in conf.items()) + " pyspark-shell"


def subprocess_environment(environ: dict[str, str]) -> dict[str, str]:
    """`environ` plus the small-data settings and the quick JIT for the Spark of a process the test starts."""
    return {**environ, "PYSPARK_SUBMIT_ARGS": submit_args(SMALL_DATA_SETTINGS | driver_jit(QUICK_JIT))}
