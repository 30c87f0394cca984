"""Spark configuration for in-process (local) runs, sized from the machine it runs on.

On AWS Glue the runtime provides Delta (`--datalake-formats delta`) and S3; locally the same
settings come from here: the cached jars, Delta's settings (`delta_conf`: the extensions, UTC as the
session time zone, the DynamoDB log store for S3 paths), S3A and the log store's DynamoDB client
pointed at the standard AWS endpoint variables.

S3A takes its credentials from the AWS default provider chain (environment, Java system
properties, profile, container/instance role), never from this file. A session built before an
endpoint was configured (a shared test session, a notebook) gets it afterwards from
`apply_s3a_endpoint`, on its live Hadoop configuration.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from lakehouse_assets.spark.class_archive import driver_java_options
from lakehouse_assets.spark.delta_conf import delta_spark_conf_from_environment
from lakehouse_assets.spark.dynamodb_endpoint import endpoint_properties, java_options
from lakehouse_assets.spark.jars import jar_paths

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Quiet start-up: warnings and errors only, minus the notes that are not problems on a laptop.
LOG_CONFIG = Path(__file__).with_name("log4j2.properties")

# The standard environment variables for the credentials, and the Java system properties under
# which the same default provider chain looks for them inside the JVM.
CREDENTIAL_SYSTEM_PROPERTIES = {
    "AWS_ACCESS_KEY_ID": "aws.accessKeyId",
    "AWS_SECRET_ACCESS_KEY": "aws.secretKey",
    "AWS_SESSION_TOKEN": "aws.sessionToken",
}


def local_driver_options() -> str:
    """The local driver JVM's options: the quiet logging, the DynamoDB endpoint if one is set, the class archive."""
    options = (f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}", java_options(endpoint_properties()))
    return " ".join(option for option in (*options, driver_java_options()) if option)


def local_spark_conf(cores: int | None = None, driver_memory: str | None = None) -> dict[str, str]:
    cores = cores or os.cpu_count() or 2
    conf = {
        "spark.master": f"local[{cores}]",
        "spark.app.name": "lakehouse",
        "spark.driver.memory": driver_memory or os.environ.get("LAKEHOUSE_DRIVER_MEMORY", "4g"),
        "spark.jars": ",".join(str(path) for path in jar_paths()),
        **delta_spark_conf_from_environment(),
        "spark.sql.ansi.enabled": "false",
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.shuffle.partitions": str(max(4, cores * 2)),
        "spark.default.parallelism": str(max(4, cores * 2)),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": os.path.join(os.environ.get("TMPDIR", "/tmp"), "lakehouse-spark-warehouse"),
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Delta's own snapshot/checkpoint work is small here; keep the driver lean.
        "spark.databricks.delta.snapshotPartitions": "2",
        # VACUUM lists a table's folders as a Spark job of this many tasks (Spark's default, 10,000:
        # 50 s for a three-file table on 2 cores); one task per core is plenty for a laptop's tables.
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(cores),
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": ("com.amazonaws.auth.DefaultAWSCredentialsProviderChain"),
    }
    conf["spark.driver.extraJavaOptions"] = local_driver_options()
    conf.update({f"spark.hadoop.{key}": value for key, value in s3a_endpoint_settings(s3_endpoint()).items()})
    return conf


def s3_endpoint(environ: Mapping[str, str] | None = None) -> str | None:
    """The S3 endpoint boto3 would use: `AWS_ENDPOINT_URL_S3`, else `AWS_ENDPOINT_URL`, else AWS itself."""
    environ = os.environ if environ is None else environ
    return environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL") or None


def s3a_endpoint_settings(endpoint: str | None) -> dict[str, str]:
    """Hadoop settings for an S3-compatible endpoint (moto, MinIO, LocalStack); none for AWS itself.

    Such endpoints serve buckets by path, not by host name, and are usually plain http.
    """
    if not endpoint:
        return {}
    return {
        "fs.s3a.endpoint": endpoint,
        "fs.s3a.path.style.access": "true",
        "fs.s3a.connection.ssl.enabled": str(endpoint.startswith("https")).lower(),
    }


def apply_s3a_endpoint(spark: SparkSession, environ: Mapping[str, str] | None = None) -> Callable[[], None]:
    """Point a running session's S3A at the environment's endpoint and credentials; returns the undo.

    `local_spark_conf` reads `AWS_ENDPOINT_URL` when the session is built. A session built earlier
    gets the endpoint here, on its live Hadoop configuration: file systems created from now on
    (S3A caches one per bucket) use it. The JVM's own environment was fixed when it started, so
    credentials that only this process's environment holds are handed over as the Java system
    properties the same default provider chain reads next (`aws.accessKeyId`, ...); credentials
    the JVM already sees in its environment are left alone.
    """
    from glue_scripts.jvm import jvm, set_hadoop_settings, set_system_properties

    environ = os.environ if environ is None else environ
    restore_settings = set_hadoop_settings(spark, s3a_endpoint_settings(s3_endpoint(environ)))
    credentials: dict[str, str] = {}
    if not jvm(spark).java.lang.System.getenv("AWS_ACCESS_KEY_ID"):
        credentials = {
            name: environ[variable] for variable, name in CREDENTIAL_SYSTEM_PROPERTIES.items() if environ.get(variable)
        }
    restore_properties = set_system_properties(spark, credentials)

    def undo() -> None:
        restore_settings()
        restore_properties()

    return undo


def local_spark_session() -> SparkSession:
    """A Spark session in this process with the local settings, logging errors only (CLI commands, benchmarks)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in local_spark_conf().items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
