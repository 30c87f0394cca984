"""Delta's Spark settings, the same for every writer: local Spark, the Glue jobs, EMR Serverless.

Delta's extension and catalog, UTC as the session time zone, and Delta's DynamoDB log store for
the `s3` and `s3a` schemes. S3 has no put-if-absent that Delta 3.3 uses, so its default S3 log
store is safe for one driver only: two drivers committing version N of a table at once both
"succeed" and one commit is lost. `io.delta.storage.S3DynamoDBLogStore` makes the commit of
version N a conditional put of the item (table path, N) in one DynamoDB table, which only one
writer wins; the other retries on N+1 (RELIABILITY.md, "Several writers on S3").

Delta picks a log store per scheme, so folder roots (`file:`) keep Delta's local one and never
reach DynamoDB. Every writer of a table must use the same DynamoDB table and region: the table is
named by `LAKEHOUSE_DELTA_LOG_TABLE` (default `lakehouse_delta_log`, also what `lakehouse deploy`
gives the stack's table), the region is the AWS region of the writer (the stack's, on AWS).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

LOG_STORE = "io.delta.storage.S3DynamoDBLogStore"
LOG_STORE_PREFIX = f"spark.{LOG_STORE}"
S3_SCHEMES = ("s3", "s3a")
TABLE_VARIABLE = "LAKEHOUSE_DELTA_LOG_TABLE"
DEFAULT_TABLE = "lakehouse_delta_log"
# `LAKEHOUSE_DELTA_LOG_TABLE=off`: Delta's default S3 log store, safe for one writing driver per table
# only (an S3-compatible store without DynamoDB, such as MinIO, with one writer).
OFF = "off"
# Delta's own default for `ddb.region`, and boto3's usual fallback here.
DEFAULT_REGION = "us-east-1"

DELTA_SESSION_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
    "spark.sql.session.timeZone": "UTC",
    # Delta 3.3 writes each small table's file list into every commit's checksum (.crc) file: a query
    # over the empty snapshot when a table is created, a check against the table's state at every
    # checkpoint, and no reader of 3.3 uses the list (BENCHMARKS.md, "Delta's checksum file list").
    "spark.databricks.delta.allFilesInCrc.enabled": "false",
}


def delta_log_table(environ: Mapping[str, str] | None = None) -> str:
    """The DynamoDB table of Delta's commits on S3: `LAKEHOUSE_DELTA_LOG_TABLE`, else `lakehouse_delta_log`."""
    environ = os.environ if environ is None else environ
    return environ.get(TABLE_VARIABLE) or DEFAULT_TABLE


def aws_region(environ: Mapping[str, str] | None = None) -> str:
    """The writer's AWS region as the SDKs read it from the environment (`AWS_REGION`, `AWS_DEFAULT_REGION`)."""
    environ = os.environ if environ is None else environ
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def log_store_conf(table: str, region: str) -> dict[str, str]:
    """Delta's DynamoDB log store for `s3://` and `s3a://` paths, on `table` in `region`.

    No table-creation settings (`provisionedThroughput.*`): the stack creates the table (on-demand,
    with TTL); Delta creates one itself only where it is missing and the credentials may (moto).
    """
    return {
        **{f"spark.delta.logStore.{scheme}.impl": LOG_STORE for scheme in S3_SCHEMES},
        f"{LOG_STORE_PREFIX}.ddb.tableName": table,
        f"{LOG_STORE_PREFIX}.ddb.region": region,
    }


def delta_spark_conf(table: str, region: str) -> dict[str, str]:
    """Every Delta setting a writer's Spark gets: the session's, then the log store's (none when `table` is off)."""
    if table == OFF:
        return dict(DELTA_SESSION_CONF)
    return {**DELTA_SESSION_CONF, **log_store_conf(table, region)}


def delta_spark_conf_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`delta_spark_conf` for this process's table setting and region."""
    return delta_spark_conf(delta_log_table(environ), aws_region(environ))


def glue_conf_argument(conf: Mapping[str, str]) -> str:
    """`conf` as Glue's `--conf` job argument, `k=v --conf k2=v2 ...` (read by `glue_scripts.jobs.glue_conf_pairs`)."""
    return " --conf ".join(f"{key}={value}" for key, value in conf.items())


def create_log_table(dynamodb: Any, name: str) -> None:
    """Create the log store's table as the stack does (on-demand, TTL on `expireTime`), with a boto3 client.

    For a local stand-in (moto, LocalStack); on AWS the stack owns the table.
    """
    keys = (("tablePath", "HASH"), ("fileName", "RANGE"))
    dynamodb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"} for key, _ in keys],
        KeySchema=[{"AttributeName": key, "KeyType": kind} for key, kind in keys],
    )
    time_to_live = {"Enabled": True, "AttributeName": "expireTime"}
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=time_to_live)
