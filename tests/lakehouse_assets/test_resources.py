"""The resources: the environment's set (local or aws), and the lakehouse resource's store on either root."""

from __future__ import annotations

import re
from typing import Any

import pytest
from dagster import EnvVar, asset, build_resources, materialize

from glue_scripts.quality import RejectionPolicy
from glue_scripts.storage import LocalStore, S3Store
from lakehouse_assets.alerts import AlertResource
from lakehouse_assets.execution import EmrServerlessExecution, GlueExecution, LocalExecution
from lakehouse_assets.resources import (
    GlueCatalogResource,
    LakehouseResource,
    aws_resources,
    environment_name,
    local_resources,
    resources_for_environment,
)


def test_the_dagster_resource_builds_the_s3_store_through_s3resource(s3_root: str, s3_client: Any) -> None:
    """`LakehouseResource.store()` on an s3:// root: a dagster-aws client that finds the endpoint in the environment."""
    store = LakehouseResource(root=s3_root).store()
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == (s3_root.removeprefix("s3://").split("/")[0], "lakehouse")
    store.write_bytes("landing/products/p.csv", b"product_id\n1\n")
    body = s3_client.get_object(Bucket=store.bucket, Key="lakehouse/landing/products/p.csv")["Body"].read()
    assert body == b"product_id\n1\n"
    assert isinstance(LakehouseResource(root="/tmp/lakehouse").store(), LocalStore)


@pytest.mark.parametrize(
    ("environ", "environment", "execution"),
    [
        ({}, "local", LocalExecution),
        ({"LAKEHOUSE_ENV": "local"}, "local", LocalExecution),
        ({"LAKEHOUSE_ENV": "aws", "LAKEHOUSE_STACK": "prod"}, "aws", GlueExecution),
        ({"LAKEHOUSE_EXECUTION": "glue", "LAKEHOUSE_STACK": "prod"}, "aws", GlueExecution),
        (
            {
                "LAKEHOUSE_ENV": "aws",
                "LAKEHOUSE_EXECUTION": "emr_serverless",
                "LAKEHOUSE_EMR_APPLICATION_ID": "00abc",
                "LAKEHOUSE_EMR_EXECUTION_ROLE_ARN": "arn:aws:iam::1:role/emr",
                "LAKEHOUSE_ARTIFACTS_URI": "s3://artifacts/deploy/",
            },
            "aws",
            EmrServerlessExecution,
        ),
    ],
)
def test_the_environment_picks_the_resources_and_where_spark_runs(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], environment: str, execution: type
) -> None:
    for name in ("LAKEHOUSE_ENV", "LAKEHOUSE_EXECUTION", "LAKEHOUSE_STACK"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert environment_name() == environment
    resources = resources_for_environment(root="s3://bucket/lakehouse")
    assert type(resources["execution"]) is execution
    assert resources["lakehouse"].root == "s3://bucket/lakehouse"
    assert set(resources) == {"lakehouse", "execution", "catalog", "alerts"}


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"LAKEHOUSE_ENV": "laptop"}, "unknown LAKEHOUSE_ENV 'laptop'; expected one of local, aws"),
        (
            {"LAKEHOUSE_ENV": "local", "LAKEHOUSE_EXECUTION": "glue"},
            "LAKEHOUSE_EXECUTION=glue runs on AWS: LAKEHOUSE_ENV=aws (or unset), not local",
        ),
    ],
)
def test_an_environment_that_contradicts_itself_is_refused(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], message: str
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=re.escape(message)):
        environment_name()


def test_aws_resources_refuse_spark_in_this_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_EXECUTION", "local")
    with pytest.raises(ValueError, match="LAKEHOUSE_ENV=aws runs the Spark steps on AWS"):
        aws_resources("s3://bucket/lakehouse")


def test_settings_the_environment_holds_reach_the_resources_as_env_vars_resolved_in_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """The UI shows the variables' names; the run reads their values (the root, database, topic, minimum rows)."""
    settings = {
        "LAKEHOUSE_ROOT": str(tmp_path / "root"),
        "LAKEHOUSE_GLUE_DATABASE": "sales",
        "LAKEHOUSE_ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:1:alerts",
        "LAKEHOUSE_REJECTION_MIN_ROWS": "7",
    }
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    resources = resources_for_environment("local")
    configured = {
        "LAKEHOUSE_ROOT": resources["lakehouse"].root,
        "LAKEHOUSE_GLUE_DATABASE": resources["catalog"].database,
        "LAKEHOUSE_ALERT_TOPIC_ARN": resources["alerts"].topic_arn,
        "LAKEHOUSE_REJECTION_MIN_ROWS": resources["lakehouse"].rejection_min_rows,
    }
    assert {name: value.env_var_name for name, value in configured.items()} == {name: name for name in settings}
    seen: dict[str, Any] = {}

    @asset
    def reads_settings(lakehouse: LakehouseResource, catalog: GlueCatalogResource, alerts: AlertResource) -> None:
        seen.update(root=lakehouse.root, rows=lakehouse.rejection_min_rows, db=catalog.database, topic=alerts.topic_arn)

    monkeypatch.setenv("LAKEHOUSE_GLUE_DATABASE", "sales_eu")  # read when the run starts, not before
    used = {name: resources[name] for name in ("lakehouse", "catalog", "alerts")}
    assert materialize([reads_settings], resources=used).success
    topic = settings["LAKEHOUSE_ALERT_TOPIC_ARN"]
    assert seen == {"root": settings["LAKEHOUSE_ROOT"], "rows": 7, "db": "sales_eu", "topic": topic}


def test_without_the_variables_the_resources_hold_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = (
        "LAKEHOUSE_ROOT",
        "LAKEHOUSE_GLUE_DATABASE",
        "LAKEHOUSE_ALERT_TOPIC_ARN",
        "LAKEHOUSE_REJECTION_MIN_ROWS",
    )
    for name in settings:
        monkeypatch.delenv(name, raising=False)
    resources = resources_for_environment("local")
    defaults = (resources["lakehouse"].root, resources["catalog"].database, resources["alerts"].topic_arn)
    assert defaults == ("./lakehouse_data", "lakehouse", None)
    assert not isinstance(resources["lakehouse"].root, EnvVar)


def test_the_rejection_limit_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """As a run sees it: the shares read when the resources are built, the minimum rows when the run starts."""

    def policy() -> RejectionPolicy:
        with build_resources({"lakehouse": local_resources("/tmp/x")["lakehouse"]}) as resources:
            return resources.lakehouse.rejection_policy()

    assert policy() == RejectionPolicy(0.05, 0.5, 20)
    monkeypatch.setenv("LAKEHOUSE_REJECTION_MAX_SHARE", "0.2")
    monkeypatch.setenv("LAKEHOUSE_REJECTION_MIN_ROWS", "100")
    assert policy() == RejectionPolicy(0.05, 0.2, 100)
