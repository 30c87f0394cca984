"""The alert sensors on real runs in a real instance, publishing to SNS on the moto server (read back through SQS)."""

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    DagsterEventType,
    DagsterInstance,
    MaterializeResult,
    asset,
    asset_check,
    build_run_status_sensor_context,
    materialize,
)

from lakehouse_assets import landed_files
from lakehouse_assets.alerts import AlertResource, alert_on_quarantine, alert_on_run_failure

HELD = (
    "Held in landing, nothing written to processed/orders: landing/orders/x.csv (rejected 19 of 20 rows). "
    "... or let them through as they are: lakehouse release landing/orders/x.csv --accept-rejections"
)
VERSION = "landing/orders/empty.csv#d41d8cd98f00b204e9800998ecf8427e"


@asset(key=["processed", "orders"])
def orders(context: AssetExecutionContext) -> MaterializeResult:
    landed_files.register(context.instance, [VERSION])
    reason = {"stage": "quarantined", "dataset": "orders", "reason": "empty file: 0 bytes"}
    context.log_event(landed_files.file_materialization(VERSION, reason))
    return MaterializeResult()


@asset_check(asset=orders, name="rejection_limit", blocking=True)
def rejection_limit() -> AssetCheckResult:
    return AssetCheckResult(passed=False, description=HELD)


@asset(deps=[orders])
def downstream() -> None:
    return None


@pytest.fixture
def topic_queue(s3_endpoint: str) -> Iterator[tuple[str, Any]]:
    """An SNS topic with an SQS queue subscribed: what the topic publishes, the queue holds."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="lakehouse-alerts")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="lakehouse-alerts")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    yield (
        topic,
        lambda: [
            json.loads(m["Body"])
            for m in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        ],
    )
    sns.delete_topic(TopicArn=topic)
    sqs.delete_queue(QueueUrl=queue_url)


def test_a_failed_run_and_a_quarantined_file_each_send_one_message(topic_queue: tuple[str, Any]) -> None:
    topic, received = topic_queue
    alerts = AlertResource(topic_arn=topic)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [orders, rejection_limit, downstream],
            instance=instance,
            raise_on_error=False,
            tags={landed_files.FILES_TAG: "orders/x.csv#abc"},
        )
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        (failure,) = instance.get_records_for_run(result.run_id, of_type=DagsterEventType.RUN_FAILURE).records
        context = build_run_status_sensor_context(
            "alert_on_run_failure", failure.event_log_entry.dagster_event, instance, run, resources={"alerts": alerts}
        ).for_run_failure()
        alert_on_run_failure(context)
        (message,) = received()
        assert message["Subject"] == f"lakehouse: run {result.run_id[:8]} of __ephemeral_asset_job__ failed"
        assert message["Message"].splitlines() == [
            f"Run {result.run_id} of __ephemeral_asset_job__ failed: Execution of run for "
            "\"__ephemeral_asset_job__\" failed. Steps failed: ['processed__orders_rejection_limit'].",
            f"- check processed/orders:rejection_limit failed: {HELD}",
            f"- quarantined {landed_files.partition_key(VERSION)}: empty file: 0 bytes",
            "Files of the run: orders/x.csv#abc",
        ]

        # A successful run that quarantined a file: one message naming it and why.
        result = materialize([orders], instance=instance)
        (success,) = instance.get_records_for_run(result.run_id, of_type=DagsterEventType.RUN_SUCCESS).records
        context = build_run_status_sensor_context(
            "alert_on_quarantine",
            success.event_log_entry.dagster_event,
            instance,
            instance.get_run_by_id(result.run_id),
            resources={"alerts": alerts},
        )
        alert_on_quarantine(context)
        (message,) = received()
        assert message["Subject"] == "lakehouse: quarantined orders/empty.csv#d41d8cd98f00b204e9800998ecf8427e"
        assert message["Message"] == (
            f"Run {result.run_id} quarantined orders/empty.csv#d41d8cd98f00b204e9800998ecf8427e: empty file: 0 bytes. "
            "The file is in quarantine/, its reason beside it."
        )


def test_without_a_topic_an_alert_is_a_log_line_only(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    AlertResource().send("lakehouse: run 1 failed", "details", logging.getLogger("alerts"))
    assert [r.getMessage() for r in caplog.records] == ["lakehouse: run 1 failed\ndetails"]
