"""Spark configuration for in-process (local) runs, sized from the machine it runs on.

On AWS Glue the runtime provides Delta (`--datalake-formats delta`) and S3; locally the same
settings come from here: the cached jars, the Delta extensions, UTC as the session time zone
(timestamps without a zone are taken as UTC), S3A pointed at the standard AWS endpoint variables.
"""

from __future__ import annotations

import os

from lakehouse_assets.spark_jars import jar_paths


def local_spark_conf(cores: int | None = None, driver_memory: str | None = None) -> dict[str, str]:
    cores = cores or os.cpu_count() or 2
    conf = {
        "spark.master": f"local[{cores}]",
        "spark.app.name": "lakehouse",
        "spark.driver.memory": driver_memory or os.environ.get("LAKEHOUSE_DRIVER_MEMORY", "4g"),
        "spark.jars": ",".join(str(path) for path in jar_paths()),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
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
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.aws.credentials.provider": ("com.amazonaws.auth.DefaultAWSCredentialsProviderChain"),
    }
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    return conf
