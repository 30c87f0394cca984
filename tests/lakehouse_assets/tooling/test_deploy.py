"""`lakehouse deploy` against a moto server: uploads, stack create, update, no-op.

moto's CloudFormation creates what it implements of the template (the S3 bucket, the IAM roles,
the SNS topic, the log group, the state machine, the EventBridge rule) and skips, with a warning,
the types it does not (AWS::Glue::Job, AWS::Glue::Database, AWS::EMRServerless::Application,
AWS::Athena::WorkGroup); it also ignores a state machine's DefinitionS3Location and
DefinitionSubstitutions, does not apply the bucket's versioning or encryption settings, and
compares Number parameters as ints with the strings an update sends (so it never sees a no-op with
this template). So these tests prove the deploy command's side (what is uploaded where,
which parameters the stack gets, create/update/no-op, waiting), and the template's own content is
checked statically by test_cloudformation.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import uuid
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from lakehouse_assets.spark.jars import DYNAMODB_LOG_STORE, jar_path
from lakehouse_assets.tooling.deploy import (
    DEFINITION,
    GLUE_SCRIPTS,
    DeployError,
    DeployResult,
    definition_key,
    delta_parameters,
    deploy,
    package_glue_scripts,
)

# The lakehouse template's default MaintenanceSchedule (the maintenance job's nightly schedule).
NIGHTLY = "cron(0 3 * * ? *)"


@pytest.fixture(autouse=True)
def quiet_moto_cloudformation() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Tried to parse AWS::", category=UserWarning)
        yield


@pytest.fixture
def names(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    # A log store table per stack: moto's CloudFormation creates it, and one account's names are unique.
    monkeypatch.setenv("LAKEHOUSE_DELTA_LOG_TABLE", f"lh-{suffix}-delta-log")
    return {"stack": f"lh-{suffix}", "bucket": f"lh-artifacts-{suffix}"}


def run_deploy(names: dict[str, str], **kwargs: Any) -> DeployResult:
    return deploy(names["stack"], names["bucket"], region="us-east-1", poll_seconds=1, max_wait_seconds=120, **kwargs)


def stack_parameters(stack: str) -> dict[str, str]:
    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}


def test_package_is_deterministic_and_imports_from_the_zip(tmp_path: Path) -> None:
    first, second = package_glue_scripts(), package_glue_scripts()
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    expected = sorted(
        f"glue_scripts/{p.relative_to(GLUE_SCRIPTS).as_posix()}"
        for p in GLUE_SCRIPTS.rglob("*.py")
        if "__pycache__" not in p.parts
    )
    assert names == expected
    archive = tmp_path / "lakehouse_glue.zip"
    archive.write_bytes(first)
    # What Glue does with --extra-py-files: the zip on sys.path ahead of everything else.
    code = "import glue_scripts.contracts as c; print(c.__file__); print(sorted(c.CONTRACTS))"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(archive)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert result.stdout.splitlines()[0].startswith(str(archive))
    assert "order_items" in result.stdout


def test_deploy_uploads_the_package_and_definition_then_creates_the_stack(names: dict[str, str]) -> None:
    result = run_deploy(names, parameters={"AlertEmail": "ops@example.com"})

    assert (result.action, result.status) == ("created", "CREATE_COMPLETE")
    s3 = boto3.client("s3")
    key = definition_key(DEFINITION.read_bytes())
    assert s3.get_object(Bucket=names["bucket"], Key=key)["Body"].read() == DEFINITION.read_bytes()
    package = s3.get_object(Bucket=names["bucket"], Key="glue_scripts/lakehouse_glue.zip")["Body"].read()
    assert package == package_glue_scripts()
    assert s3.get_public_access_block(Bucket=names["bucket"])["PublicAccessBlockConfiguration"]["BlockPublicAcls"]
    rules = s3.get_bucket_encryption(Bucket=names["bucket"])["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"

    jar = s3.get_object(Bucket=names["bucket"], Key="glue_scripts/jars/delta-storage-s3-dynamodb.jar")["Body"].read()
    assert jar == jar_path(DYNAMODB_LOG_STORE).read_bytes()

    parameters = stack_parameters(names["stack"])
    assert parameters["ArtifactsBucket"] == names["bucket"]
    assert parameters["ArtifactsKeyPrefix"] == ""
    assert parameters["StateMachineDefinitionKey"] == key
    assert parameters["AlertEmail"] == "ops@example.com"
    # No Dagster stack: the stack's own nightly maintenance schedule stays on.
    assert parameters["MaintenanceSchedule"] == NIGHTLY
    table = f"{names['stack']}-delta-log"
    assert parameters["DeltaLogTableName"] == table
    assert parameters["GlueSparkConf"] == (
        "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension --conf "
        "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
        "--conf spark.sql.session.timeZone=UTC "
        "--conf spark.databricks.delta.allFilesInCrc.enabled=false "
        "--conf spark.delta.logStore.s3.impl=io.delta.storage.S3DynamoDBLogStore "
        "--conf spark.delta.logStore.s3a.impl=io.delta.storage.S3DynamoDBLogStore "
        f"--conf spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName={table} "
        "--conf spark.io.delta.storage.S3DynamoDBLogStore.ddb.region=us-east-1"
    )

    # What moto's CloudFormation implements of the stack exists, named as the template names it.
    data_bucket = result.outputs["LakehouseBucket"]
    assert data_bucket == f"{names['stack']}-123456789012-us-east-1"
    assert result.outputs["LakehouseRoot"] == f"s3://{data_bucket}/lakehouse"
    assert s3.head_bucket(Bucket=data_bucket)  # (moto does not apply its versioning or encryption settings)
    assert result.outputs["StateMachineArn"].endswith(f":stateMachine:{names['stack']}-pipeline")
    assert result.outputs["DeltaLogTable"] == table
    rule = boto3.client("events").describe_rule(Name=_rule_name(names["stack"]))
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"]["key"] == [{"prefix": "lakehouse/landing/"}]
    assert "no Glue job scripts" in result.render() or result.job_scripts


def _rule_name(stack: str) -> str:
    resources = boto3.client("cloudformation").list_stack_resources(StackName=stack)["StackResourceSummaries"]
    return next(r["PhysicalResourceId"] for r in resources if r["LogicalResourceId"] == "LandingRule")


MINIMAL_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  ArtifactsBucket: {Type: String}
  ArtifactsKeyPrefix: {Type: String, Default: ""}
  StateMachineDefinitionKey: {Type: String}
  DeltaLogTableName: {Type: String}
  GlueSparkConf: {Type: String}
Resources:
  Topic:
    Type: AWS::SNS::Topic
"""


def test_redeploying_the_same_thing_is_a_no_op(names: dict[str, str], tmp_path: Path) -> None:
    """The no-op branch, on a template of String parameters only.

    moto resolves Number parameters to ints and compares them with the strings an update sends, so
    with the lakehouse template it never answers "No updates are to be performed" (AWS does: it
    compares resolved values).
    """
    template = tmp_path / "minimal.yaml"
    template.write_text(MINIMAL_TEMPLATE)
    assert run_deploy(names, template=template).action == "created"
    again = run_deploy(names, template=template)
    assert (again.action, again.status) == ("unchanged", "CREATE_COMPLETE")


def test_a_changed_definition_updates_the_stack_and_set_values_are_kept(names: dict[str, str], tmp_path: Path) -> None:
    run_deploy(names)
    changed = tmp_path / "lakehouse.asl.json"
    definition = json.loads(DEFINITION.read_text())
    definition["Comment"] += " (changed)"
    changed.write_text(json.dumps(definition))
    updated = run_deploy(names, definition=changed, parameters={"AlertEmail": "ops@example.com"})
    assert (updated.action, updated.status) == ("updated", "UPDATE_COMPLETE")
    assert stack_parameters(names["stack"])["StateMachineDefinitionKey"] == definition_key(changed.read_bytes())

    # Not given this time: the value set earlier stays; the definition goes back to the committed one.
    back = run_deploy(names)
    assert back.action == "updated"
    parameters = stack_parameters(names["stack"])
    assert parameters["AlertEmail"] == "ops@example.com"
    assert parameters["StateMachineDefinitionKey"] == definition_key(DEFINITION.read_bytes())


def test_job_scripts_go_under_glue_scripts_jobs_with_an_artifacts_prefix(names: dict[str, str], tmp_path: Path) -> None:
    scripts = tmp_path / "glue_scripts"
    (scripts / "jobs").mkdir(parents=True)
    (scripts / "__init__.py").write_text("")
    (scripts / "jobs" / "__init__.py").write_text("")
    for job in ("ingest", "process", "archive", "catalog"):
        (scripts / "jobs" / f"{job}.py").write_text(f"print('{job}')\n")

    result = run_deploy(names, artifacts_prefix="/releases/1/", glue_scripts=scripts)

    assert result.job_scripts == ["archive.py", "catalog.py", "ingest.py", "process.py"]
    listing = boto3.client("s3").list_objects_v2(Bucket=names["bucket"], Prefix="releases/1/glue_scripts/")
    keys = sorted(item["Key"] for item in listing["Contents"])
    assert keys == [
        "releases/1/glue_scripts/jars/delta-storage-s3-dynamodb.jar",
        "releases/1/glue_scripts/jobs/archive.py",
        "releases/1/glue_scripts/jobs/catalog.py",
        "releases/1/glue_scripts/jobs/ingest.py",
        "releases/1/glue_scripts/jobs/process.py",
        "releases/1/glue_scripts/lakehouse_glue.zip",
    ]
    assert stack_parameters(names["stack"])["ArtifactsKeyPrefix"] == "releases/1/"
    assert "no Glue job scripts" not in result.render()


def test_lakehouse_deploy_command(names: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    from lakehouse_assets.cli import main

    assert main(["deploy", "--stack", names["stack"], "--bucket", names["bucket"], "--region", "us-east-1"]) == 0
    out = capsys.readouterr().out
    assert f"stack {names['stack']}: created (CREATE_COMPLETE)" in out
    assert f"uploaded s3://{names['bucket']}/glue_scripts/lakehouse_glue.zip" in out
    assert "StateMachineArn = arn:aws:states:us-east-1:123456789012:stateMachine:" in out


def test_lakehouse_deploy_without_a_region_says_so(
    names: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from lakehouse_assets.cli import main

    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    assert main(["deploy", "--stack", names["stack"], "--bucket", names["bucket"]]) == 1
    assert "no AWS region" in capsys.readouterr().err


# --- the Dagster stack (--dagster-image) -----------------------------------------------------------

# A lakehouse stack that moto creates whole, with the outputs the Dagster stack's parameters come from.
LAKEHOUSE_WITH_OUTPUTS = (
    # The lakehouse template's maintenance schedule, which deploy empties when it deploys the Dagster stack.
    MINIMAL_TEMPLATE.replace("Resources:", f"  MaintenanceSchedule: {{Type: String, Default: '{NIGHTLY}'}}\nResources:")
    + """
Outputs:
  LakehouseRoot: {Value: s3://acme-lakehouse-data/lakehouse}
  GlueDatabase: {Value: lakehouse}
  EmrApplicationId: {Value: 00fabcdefghij123}
  EmrServerlessJobRoleArn: {Value: arn:aws:iam::123456789012:role/lh-EmrServerlessJobRole-ABC}
  AlertTopicArn: {Value: arn:aws:sns:us-east-1:123456789012:lh-alerts}
  DeltaLogTable: {Value: lh_delta_log}
"""
)
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/lh-dagster:{tag}"


def dagster_stand_in(tmp_path: Path) -> Path:
    """dagster-ecs.yaml's parameters exactly, around one resource moto implements.

    moto's CloudFormation cannot create the real template (no Secrets Manager secret, no RDS
    endpoint attribute); the parameters are what deploy decides, and they are the real ones.
    """
    from lakehouse_assets.tooling.deploy import DAGSTER_TEMPLATE
    from tests.infra.test_cloudformation import load_template

    parameters = load_template(DAGSTER_TEMPLATE)["Parameters"]
    declared = {name: {key: p[key] for key in ("Type", "Default") if key in p} for name, p in parameters.items()}
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": declared,
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"UiUrl": {"Value": "http://internal-lh-ui.example"}},
    }
    path = tmp_path / "dagster-ecs.yaml"
    path.write_text(json.dumps(template))
    return path


def test_the_dagster_stack_gets_the_lakehouse_outputs_and_keeps_its_network(
    names: dict[str, str], tmp_path: Path
) -> None:
    lakehouse = tmp_path / "lakehouse.yaml"
    lakehouse.write_text(LAKEHOUSE_WITH_OUTPUTS)
    ec2 = boto3.client("ec2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    subnets = sorted(
        s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    )[:2]
    network = {"VpcId": vpc, "PrivateSubnetIds": ",".join(subnets), "UiAllowedCidr": "10.20.0.0/16"}
    template = dagster_stand_in(tmp_path)

    first = run_deploy(
        names, template=lakehouse, dagster_image=IMAGE.format(tag="a1"), dagster_parameters=network,
        dagster_template=template,
    )  # fmt: skip
    assert first.dagster is not None
    assert (first.dagster.stack, first.dagster.action, first.dagster.status) == (
        f"{names['stack']}-dagster",
        "created",
        "CREATE_COMPLETE",
    )
    assert first.dagster.outputs == {"UiUrl": "http://internal-lh-ui.example"}
    assert f"stack {names['stack']}-dagster: created (CREATE_COMPLETE)" in first.render()
    expected = {
        "LakehouseStackName": names["stack"],
        "LakehouseBucket": "acme-lakehouse-data",
        "LakehousePrefix": "lakehouse",
        "GlueDatabaseName": "lakehouse",
        "EmrApplicationId": "00fabcdefghij123",
        "EmrServerlessJobRoleArn": "arn:aws:iam::123456789012:role/lh-EmrServerlessJobRole-ABC",
        "AlertTopicArn": "arn:aws:sns:us-east-1:123456789012:lh-alerts",
        "DeltaLogTableName": "lh_delta_log",
        "ImageUri": IMAGE.format(tag="a1"),
        **network,
    }
    parameters = stack_parameters(f"{names['stack']}-dagster")
    # moto reports a List<...> parameter as Python's repr of the list it parsed from "a,b".
    assert parameters.pop("PrivateSubnetIds") == str(subnets)
    assert {key: parameters[key] for key in expected if key != "PrivateSubnetIds"} == {
        key: value for key, value in expected.items() if key != "PrivateSubnetIds"
    }
    # Dagster's automation maintains the tables: the lakehouse stack's own schedule is off.
    assert stack_parameters(names["stack"])["MaintenanceSchedule"] == ""

    # A new image, the network not given again: kept from the first deploy.
    second = run_deploy(names, template=lakehouse, dagster_image=IMAGE.format(tag="b2"), dagster_template=template)
    assert second.dagster is not None and second.dagster.action == "updated"
    parameters = stack_parameters(f"{names['stack']}-dagster")
    assert parameters.pop("PrivateSubnetIds") == str(subnets)
    assert {key: parameters[key] for key in expected if key != "PrivateSubnetIds"} == {
        **{key: value for key, value in expected.items() if key != "PrivateSubnetIds"},
        "ImageUri": IMAGE.format(tag="b2"),
    }
    assert stack_parameters(names["stack"])["MaintenanceSchedule"] == ""

    # A later deploy of the lakehouse stack alone keeps the schedule off, unless it is given again.
    assert run_deploy(names, template=lakehouse, artifacts_prefix="releases/2").action == "updated"
    assert stack_parameters(names["stack"])["MaintenanceSchedule"] == ""
    run_deploy(names, template=lakehouse, parameters={"MaintenanceSchedule": NIGHTLY})
    assert stack_parameters(names["stack"])["MaintenanceSchedule"] == NIGHTLY


def test_without_an_image_no_dagster_stack(names: dict[str, str], tmp_path: Path) -> None:
    lakehouse = tmp_path / "lakehouse.yaml"
    lakehouse.write_text(LAKEHOUSE_WITH_OUTPUTS)
    result = run_deploy(names, template=lakehouse)
    assert result.dagster is None
    stacks = boto3.client("cloudformation").describe_stacks()["Stacks"]
    assert f"{names['stack']}-dagster" not in {s["StackName"] for s in stacks}
    assert stack_parameters(names["stack"])["MaintenanceSchedule"] == NIGHTLY  # nothing else maintains the tables


def test_a_stack_without_the_lakehouse_outputs_is_refused(names: dict[str, str], tmp_path: Path) -> None:
    from lakehouse_assets.tooling.deploy import DeployError

    template = tmp_path / "minimal.yaml"
    template.write_text(MINIMAL_TEMPLATE)
    missing = "has no output AlertTopicArn, DeltaLogTable, EmrApplicationId, EmrServerlessJobRoleArn, GlueDatabase"
    with pytest.raises(DeployError, match=missing):
        run_deploy(names, template=template, dagster_image=IMAGE.format(tag="a1"))


def test_lakehouse_deploy_refuses_a_malformed_dagster_parameter(
    names: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    from lakehouse_assets.cli import main

    argv = ["deploy", "--stack", names["stack"], "--bucket", names["bucket"], "--region", "us-east-1"]
    assert main([*argv, "--dagster-image", IMAGE.format(tag="a1"), "--dagster-parameter", "VpcId"]) == 1
    assert "--dagster-parameter takes KEY=VALUE, not 'VpcId'" in capsys.readouterr().err


def test_a_log_store_turned_off_is_refused_on_aws() -> None:
    with pytest.raises(DeployError, match="LAKEHOUSE_DELTA_LOG_TABLE=off is for a single writer without DynamoDB"):
        delta_parameters("eu-west-1", "off")
    assert delta_parameters("eu-west-1", "prod_log")["DeltaLogTableName"] == "prod_log"
