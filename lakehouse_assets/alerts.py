"""Alerts that reach someone: a failed run and a quarantined file, as messages to an SNS topic.

Two run-status sensors, rather than code in every step: `alert_on_run_failure` sends one message
per failed run (its failed steps, its failed checks with their descriptions, which for a batch held
by the rejection limit name the files, the reason and the release command, and the files it
loaded); `alert_on_quarantine` one message per file a successful run quarantined (a failed run's
message names them). The topic is `LAKEHOUSE_ALERT_TOPIC_ARN` (the AWS stack's topic); without
one, as on a laptop, each alert is a warning in the sensor's log only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import boto3
from dagster import (
    ConfigurableResource,
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    DefaultSensorStatus,
    EnvVar,
    RunFailureSensorContext,
    RunStatusSensorContext,
    run_failure_sensor,
    run_status_sensor,
)

from lakehouse_assets.landed_files import FILES_TAG, LANDED_FILES_KEY

ALERT_TOPIC_SETTING = "LAKEHOUSE_ALERT_TOPIC_ARN"
SUBJECT_MAX_CHARS = 100  # SNS's limit for an email subject


class AlertResource(ConfigurableResource):
    """Where alerts go: an SNS topic (boto3's standard chain: credentials, region, `AWS_ENDPOINT_URL`)."""

    topic_arn: str | None = None

    def send(self, subject: str, message: str, log: Any) -> None:
        log.warning(f"{subject}\n{message}")
        if self.topic_arn:
            boto3.client("sns").publish(TopicArn=self.topic_arn, Subject=subject[:SUBJECT_MAX_CHARS], Message=message)


def alert_resource() -> AlertResource:
    """The SNS topic `LAKEHOUSE_ALERT_TOPIC_ARN` names (an `EnvVar`, read where the alert is sent); unset, log lines."""
    return AlertResource(topic_arn=EnvVar(ALERT_TOPIC_SETTING) if os.environ.get(ALERT_TOPIC_SETTING) else None)


def run_events(instance: DagsterInstance, run_id: str, event_type: DagsterEventType) -> Iterable[Any]:
    records = instance.get_records_for_run(run_id, of_type=event_type).records
    return [record.event_log_entry.dagster_event for record in records if record.event_log_entry.dagster_event]


def quarantined_files(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    """The files this run quarantined (their `landing/files` partition) and why."""
    found = {}
    for event in run_events(instance, run_id, DagsterEventType.ASSET_MATERIALIZATION):
        materialization = event.event_specific_data.materialization
        metadata = materialization.metadata
        if materialization.asset_key == LANDED_FILES_KEY and getattr(metadata.get("stage"), "value", None) == (
            "quarantined"
        ):
            found[materialization.partition] = metadata["reason"].value
    return found


def failure_message(context: RunFailureSensorContext) -> str:
    run: DagsterRun = context.dagster_run
    lines = [f"Run {run.run_id} of {run.job_name} failed: {context.failure_event.message}"]
    for step in context.get_step_failure_events():
        error = step.step_failure_data.error
        if error and error.cls_name == "DagsterAssetCheckFailedError":
            continue  # the failed checks follow, each with its description
        lines.append(f"- step {step.step_key} failed: {error.message.strip() if error else 'unknown error'}")
    for event in run_events(context.instance, run.run_id, DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = event.event_specific_data
        if not evaluation.passed and evaluation.severity.value == "ERROR":
            name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            lines.append(f"- check {name} failed" + (f": {evaluation.description}" if evaluation.description else ""))
    for partition, reason in quarantined_files(context.instance, run.run_id).items():
        lines.append(f"- quarantined {partition}: {reason}")
    if files := run.tags.get(FILES_TAG):
        lines.append(f"Files of the run: {files}")
    return "\n".join(lines)


@run_failure_sensor(name="alert_on_run_failure", default_status=DefaultSensorStatus.RUNNING)
def alert_on_run_failure(context: RunFailureSensorContext, alerts: AlertResource) -> None:
    """One message per failed run: failed steps and checks (a held batch says why and how to release it)."""
    subject = f"lakehouse: run {context.dagster_run.run_id[:8]} of {context.dagster_run.job_name} failed"
    alerts.send(subject, failure_message(context), context.log)


@run_status_sensor(
    run_status=DagsterRunStatus.SUCCESS, name="alert_on_quarantine", default_status=DefaultSensorStatus.RUNNING
)
def alert_on_quarantine(context: RunStatusSensorContext, alerts: AlertResource) -> None:
    """One message per file a successful run quarantined: the file and the reason."""
    run_id = context.dagster_run.run_id
    for partition, reason in quarantined_files(context.instance, run_id).items():
        message = f"Run {run_id} quarantined {partition}: {reason}. The file is in quarantine/, its reason beside it."
        alerts.send(f"lakehouse: quarantined {partition}", message, context.log)


all_alert_sensors = [alert_on_run_failure, alert_on_quarantine]
