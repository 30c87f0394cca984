"""Delta's settings for every writer, the log store's local endpoint, and two JVMs committing to one table on S3.

The two-writer test runs on moto (S3 over HTTP, DynamoDB over TLS: tests/s3_fixtures.py): the
shared session and a subprocess JVM append one row per commit to the same s3a:// table at once.
What the same run does with Delta's default S3 log store is measured by
benchmarks/bench_two_writers.py (RELIABILITY.md, "Several writers on S3").
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from lakehouse_assets.spark import delta_conf
from lakehouse_assets.spark.config import local_spark_conf
from lakehouse_assets.spark.dynamodb_endpoint import DISABLE_CERT_CHECKING, REGIONS_OVERRIDE, endpoint_properties
from tests.helpers import REPO
from tests.lakehouse_assets.spark.delta_writer import append_rows

COMMITS_EACH = 10

LOG_STORE_CONF = {
    "spark.delta.logStore.s3.impl": "io.delta.storage.S3DynamoDBLogStore",
    "spark.delta.logStore.s3a.impl": "io.delta.storage.S3DynamoDBLogStore",
    "spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName": "lakehouse_delta_log",
    "spark.io.delta.storage.S3DynamoDBLogStore.ddb.region": "eu-west-1",
}


# --- the settings ---------------------------------------------------------------------------------


def test_every_writer_gets_delta_and_the_dynamodb_log_store_for_s3_schemes() -> None:
    assert delta_conf.delta_spark_conf("lakehouse_delta_log", "eu-west-1") == {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.databricks.delta.allFilesInCrc.enabled": "false",
        **LOG_STORE_CONF,
    }


def test_the_log_store_can_be_turned_off_for_a_store_without_dynamodb() -> None:
    assert delta_conf.delta_spark_conf_from_environment({"LAKEHOUSE_DELTA_LOG_TABLE": "off"}) == {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.databricks.delta.allFilesInCrc.enabled": "false",
    }


def test_the_table_and_region_come_from_the_environment() -> None:
    assert delta_conf.delta_log_table({}) == "lakehouse_delta_log"
    assert delta_conf.delta_log_table({"LAKEHOUSE_DELTA_LOG_TABLE": "prod_delta_log"}) == "prod_delta_log"
    assert delta_conf.aws_region({}) == "us-east-1"
    assert delta_conf.aws_region({"AWS_DEFAULT_REGION": "eu-west-1"}) == "eu-west-1"
    assert delta_conf.aws_region({"AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-central-1"}) == "eu-central-1"


def test_the_local_session_has_the_same_delta_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("AWS_REGION", "LAKEHOUSE_DELTA_LOG_TABLE"):
        monkeypatch.delenv(name, raising=False)
    conf = local_spark_conf(cores=2)
    assert {key: conf[key] for key in delta_conf.delta_spark_conf("t", "r")} == (
        delta_conf.delta_spark_conf("lakehouse_delta_log", "eu-west-1")
    )


def test_glue_conf_argument_is_what_glue_expects() -> None:
    assert delta_conf.glue_conf_argument({"a.b": "1", "c": "x=y"}) == "a.b=1 --conf c=x=y"


# --- the log store's client on a local endpoint ------------------------------------------------------


def test_no_endpoint_no_properties() -> None:
    assert endpoint_properties({"AWS_DEFAULT_REGION": "eu-west-1"}) == {}


def test_a_loopback_endpoint_gets_region_metadata_and_no_certificate_check() -> None:
    environ = {"AWS_ENDPOINT_URL_DYNAMODB": "https://127.0.0.1:4567", "AWS_DEFAULT_REGION": "eu-west-1"}
    properties = endpoint_properties(environ)
    assert set(properties) == {REGIONS_OVERRIDE, DISABLE_CERT_CHECKING}
    assert properties[DISABLE_CERT_CHECKING] == "true"
    assert Path(properties[REGIONS_OVERRIDE]).read_text() == (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<XmlRegionMetadata>\n"
        "  <Regions>\n"
        "    <Region>\n"
        "      <Name>eu-west-1</Name>\n"
        "      <Domain>amazonaws.com</Domain>\n"
        "      <Endpoint>\n"
        "        <ServiceName>dynamodb</ServiceName>\n"
        "        <Http>false</Http>\n"
        "        <Https>true</Https>\n"
        "        <Hostname>127.0.0.1:4567</Hostname>\n"
        "      </Endpoint>\n"
        "    </Region>\n"
        "  </Regions>\n"
        "</XmlRegionMetadata>\n"
    )


def test_another_host_keeps_certificate_checks_and_the_generic_variable_counts() -> None:
    properties = endpoint_properties({"AWS_ENDPOINT_URL": "https://dynamo.internal.example:443"})
    assert set(properties) == {REGIONS_OVERRIDE}
    assert "<Hostname>dynamo.internal.example:443</Hostname>" in Path(properties[REGIONS_OVERRIDE]).read_text()
    assert "<Name>us-east-1</Name>" in Path(properties[REGIONS_OVERRIDE]).read_text()


# --- two JVMs, one table -----------------------------------------------------------------------------


def commit_versions(s3_client: Any, bucket: str, log_prefix: str) -> list[int]:
    keys = [
        item["Key"]
        for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=log_prefix)
        for item in page.get("Contents", [])
    ]
    return sorted(int(Path(key).stem) for key in keys if key.endswith(".json") and "/.tmp/" not in key)


@pytest.mark.e2e
def test_two_jvms_committing_to_one_s3_table_at_once_lose_no_commit(
    s3_spark: SparkSession, s3_root: str, s3_client: Any, dynamodb_client: Any, delta_log_table_name: str
) -> None:
    spark = s3_spark
    bucket, _, prefix = s3_root.removeprefix("s3://").partition("/")
    path = f"s3a://{bucket}/{prefix}/two_writers"
    # No checkpoint in 21 versions: its Spark job would cost more than the commits, and it is no part of them.
    table = DeltaTable.create(spark).location(path).property("delta.checkpointInterval", "1000")
    table.addColumn("writer", "STRING").addColumn("number", "INT").execute()
    other = subprocess.Popen(
        [sys.executable, "-m", "tests.lakehouse_assets.spark.delta_writer", path, "subprocess", str(COMMITS_EACH)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert other.stdout is not None and other.stdin is not None
        assert other.stdout.readline() == "ready\n", other.stderr.read() if other.stderr else ""
        # Two rounds, each writer's half of its commits in each; a round ends when both writers are done
        # with it, so each round has commits of both, whichever JVM is faster.
        other.stdin.write("go\n")
        other.stdin.flush()
        append_rows(spark, path, "shared", range(COMMITS_EACH // 2))
        other.stdin.write("go on\n")
        other.stdin.flush()
        assert other.stdout.readline() == "half\n", other.stderr.read() if other.stderr else ""
        append_rows(spark, path, "shared", range(COMMITS_EACH // 2, COMMITS_EACH))
        _, errors = other.communicate(timeout=300)
    finally:
        other.kill()
    assert other.returncode == 0, errors

    total = 2 * COMMITS_EACH + 1  # the table's creation, then every append
    assert commit_versions(s3_client, bucket, f"{prefix}/two_writers/_delta_log/") == list(range(total))
    history = DeltaTable.forPath(spark, path).history().select("version", "userMetadata").collect()
    labels = {row.version: row.userMetadata for row in history}
    assert sorted(labels) == list(range(total))
    assert sorted(label for label in labels.values() if label) == sorted(
        f"{writer}:{number}" for writer in ("shared", "subprocess") for number in range(COMMITS_EACH)
    )
    rows = spark.read.format("delta").load(path).collect()
    assert sorted((row.writer, row.number) for row in rows) == sorted(
        (writer, number) for writer in ("shared", "subprocess") for number in range(COMMITS_EACH)
    )
    # They wrote at once: the first round's versions hold the first half of both writers' commits.
    assert {labels[version] for version in range(1, COMMITS_EACH + 1)} == {
        f"{writer}:{number}" for writer in ("shared", "subprocess") for number in range(COMMITS_EACH // 2)
    }, labels
    # Every commit went through the log store's table: one item per version, each one complete.
    items = dynamodb_client.query(
        TableName=delta_log_table_name,
        KeyConditionExpression="tablePath = :path",
        ExpressionAttributeValues={":path": {"S": path}},
        ConsistentRead=True,
    )["Items"]
    assert sorted(item["fileName"]["S"] for item in items) == [f"{version:020d}.json" for version in range(total)]
    assert {item["complete"]["S"] for item in items} == {"true"}
