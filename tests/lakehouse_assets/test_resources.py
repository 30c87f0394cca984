"""The resources: the environment's set (local or aws), and the lakehouse resource's store on either root."""

from __future__ import annotations

import re
from typing import Any

import pytest

from glue_scripts.storage import LocalStore, S3Store
from lakehouse_assets.execution import EmrServerlessExecution, GlueExecution, LocalExecution
from lakehouse_assets.resources import LakehouseResource, aws_resources, environment_name, resources_for_environment


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
