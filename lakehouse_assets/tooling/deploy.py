"""`lakehouse deploy`: package the Spark code, upload it with the pipeline definition, deploy the stack.

In Python rather than `aws cloudformation deploy` or SAM: one command that knows the project's layout,
uses the same boto3 credential chain and `AWS_ENDPOINT_URL` as the rest of the lakehouse, and is tested
against moto. It uploads the `glue_scripts` package, the job scripts, Delta's DynamoDB log store jar and
the state machine definition, then creates or updates the lakehouse stack and, with a Dagster image, the
Dagster stack. How to use it: infra/README.md, "How to deploy"; its steps: docs/ARCHITECTURE.md, "Deploying".
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import ClientError, WaiterError

import glue_scripts
from lakehouse_assets.spark.delta_conf import OFF, delta_log_table, delta_spark_conf, glue_conf_argument
from lakehouse_assets.spark.jars import DYNAMODB_LOG_STORE, jar_path


def infra_folder() -> Path:
    """The templates: the installed `lakehouse_infra` (a wheel's, or infra/ in an editable install), else
    the checkout's infra/ (code run from the repository without installing it)."""
    try:
        spec = importlib.util.find_spec("lakehouse_infra.cloudformation")
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).parent
    return Path(__file__).resolve().parents[2] / "infra"


GLUE_SCRIPTS = Path(glue_scripts.__file__).resolve().parent
INFRA = infra_folder()
TEMPLATE = INFRA / "cloudformation" / "lakehouse.yaml"
DEFINITION = INFRA / "stepfunctions" / "lakehouse.asl.json"
DAGSTER_TEMPLATE = INFRA / "cloudformation" / "dagster-ecs.yaml"
DAGSTER_STACK_SUFFIX = "-dagster"
# The lakehouse stack's schedule of its maintenance job; empty (no schedule) where Dagster maintains the tables.
MAINTENANCE_SCHEDULE = "MaintenanceSchedule"
# The lakehouse stack's outputs the Dagster stack's parameters come from.
DAGSTER_INPUTS = (
    "LakehouseRoot",
    "GlueDatabase",
    "EmrApplicationId",
    "EmrServerlessJobRoleArn",
    "AlertTopicArn",
    "DeltaLogTable",
)

PACKAGE_KEY = "glue_scripts/lakehouse_glue.zip"
JOBS_KEY = "glue_scripts/jobs/"
LOG_STORE_JAR_KEY = "glue_scripts/jars/delta-storage-s3-dynamodb.jar"
DEFINITION_KEY = "stepfunctions/lakehouse-{digest}.asl.json"
# CloudFormation takes a template body up to this size; larger ones go through S3 (TemplateURL).
TEMPLATE_BODY_LIMIT = 51_200
CAPABILITIES = ["CAPABILITY_IAM"]
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class DeployError(RuntimeError):
    """The deployment did not complete; the message says why."""


@dataclass
class DeployResult:
    stack: str
    action: str  # "created", "updated" or "unchanged"
    status: str
    uploaded: list[str] = field(default_factory=list)
    job_scripts: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    dagster: DeployResult | None = None  # the Dagster stack, when deployed too

    def render(self) -> str:
        lines = [f"stack {self.stack}: {self.action} ({self.status})"]
        lines += [f"  uploaded {key}" for key in self.uploaded]
        if not self.job_scripts:
            lines.append(
                "  no Glue job scripts under glue_scripts/jobs/ yet: only the package was uploaded; "
                "the jobs fail to start until their scripts exist"
            )
        lines += [f"  {name} = {value}" for name, value in sorted(self.outputs.items())]
        if self.dagster:
            lines.append(f"stack {self.dagster.stack}: {self.dagster.action} ({self.dagster.status})")
            lines += [f"  {name} = {value}" for name, value in sorted(self.dagster.outputs.items())]
        return "\n".join(lines)


def package_glue_scripts(source: Path = GLUE_SCRIPTS) -> bytes:
    """The `glue_scripts` package as a zip for `--extra-py-files`: same code, same bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            info = zipfile.ZipInfo(f"{source.name}/{path.relative_to(source).as_posix()}", FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def job_scripts(source: Path = GLUE_SCRIPTS) -> list[Path]:
    """The Glue job entry points, one per job (`jobs/<name>.py`), if any exist yet."""
    jobs = source / "jobs"
    return sorted(path for path in jobs.glob("*.py") if path.name != "__init__.py") if jobs.is_dir() else []


def delta_parameters(region: str, table: str | None = None) -> dict[str, str]:
    """The stack's Delta settings: the log store's table, and the Glue jobs' `--conf` with it in `region`."""
    table = table or delta_log_table()
    if table == OFF:
        raise DeployError(
            f"LAKEHOUSE_DELTA_LOG_TABLE={OFF} is for a single writer without DynamoDB; on AWS the Glue jobs, "
            "EMR Serverless and Dagster write the same tables: name the log store's table, or unset it"
        )
    return {"DeltaLogTableName": table, "GlueSparkConf": glue_conf_argument(delta_spark_conf(table, region))}


def definition_key(definition: bytes) -> str:
    return DEFINITION_KEY.format(digest=hashlib.sha256(definition).hexdigest()[:16])


def normalize_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def ensure_bucket(s3: Any, bucket: str, region: str) -> bool:
    """Create the artifacts bucket unless it exists; True when created."""
    try:
        s3.head_bucket(Bucket=bucket)
        return False
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(
                f"artifacts bucket {bucket} is not usable ({code}): another account's, or no access"
            ) from error
    options: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        options["CreateBucketConfiguration"] = {"LocationConstraint": region}
    s3.create_bucket(**options)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
    )
    return True


def describe_stack(cloudformation: Any, stack: str) -> dict[str, Any] | None:
    try:
        return cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            return None
        raise


def failure_reasons(cloudformation: Any, stack: str) -> list[str]:
    try:
        events = cloudformation.describe_stack_events(StackName=stack)["StackEvents"]
    except ClientError:
        return []
    return [
        f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', event['ResourceStatus'])}"
        for event in events
        if event["ResourceStatus"].endswith("FAILED")
    ]


def stack_parameters(
    given: Mapping[str, str], existing: dict[str, Any] | None, defaults: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    """The given values; on an update, values set earlier and not given now are kept.

    Only values that differ from the template's default are kept (UsePreviousValue): one that was
    the default follows the template, so a new default (say a newer EMR release) reaches the stack.
    """
    parameters: list[dict[str, Any]] = [
        {"ParameterKey": key, "ParameterValue": value} for key, value in sorted(given.items())
    ]
    if existing:
        for parameter in existing.get("Parameters", []):
            key = parameter["ParameterKey"]
            if key in given or key not in defaults:
                continue
            if parameter.get("ParameterValue") != defaults[key]:
                parameters.append({"ParameterKey": key, "UsePreviousValue": True})
    return parameters


def dagster_parameters_from(stack: str, lakehouse_outputs: Mapping[str, str], image: str) -> dict[str, str]:
    """The Dagster stack's parameters that the lakehouse stack's outputs (and the image) determine."""
    missing = sorted(set(DAGSTER_INPUTS) - set(lakehouse_outputs))
    if missing:
        raise DeployError(f"stack {stack} has no output {', '.join(missing)}: is it a lakehouse stack?")
    bucket, _, prefix = lakehouse_outputs["LakehouseRoot"].removeprefix("s3://").partition("/")
    return {
        "LakehouseStackName": stack,
        "LakehouseBucket": bucket,
        "LakehousePrefix": prefix,
        "GlueDatabaseName": lakehouse_outputs["GlueDatabase"],
        "EmrApplicationId": lakehouse_outputs["EmrApplicationId"],
        "EmrServerlessJobRoleArn": lakehouse_outputs["EmrServerlessJobRoleArn"],
        "AlertTopicArn": lakehouse_outputs["AlertTopicArn"],
        "DeltaLogTableName": lakehouse_outputs["DeltaLogTable"],
        "ImageUri": image,
    }


def apply_stack(
    cloudformation: Any,
    stack: str,
    template_source: Mapping[str, str],
    given: Mapping[str, str],
    waiter_config: Mapping[str, int],
) -> tuple[str, dict[str, Any]]:
    """Create or update `stack` and wait for it: ("created" | "updated" | "unchanged", its description)."""
    summary = cloudformation.get_template_summary(**template_source)
    defaults = {parameter["ParameterKey"]: parameter.get("DefaultValue") for parameter in summary.get("Parameters", [])}

    existing = describe_stack(cloudformation, stack)
    if existing and existing["StackStatus"] == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {stack} is in ROLLBACK_COMPLETE (its creation failed) and cannot be updated: delete it, then deploy"
        )
    request = {
        "StackName": stack,
        **template_source,
        "Parameters": stack_parameters(given, existing, defaults),
        "Capabilities": CAPABILITIES,
        "Tags": [{"Key": "lakehouse:stack", "Value": stack}],
    }
    if existing is None:
        cloudformation.create_stack(**request, OnFailure="ROLLBACK")
        action, waiter = "created", "stack_create_complete"
    else:
        try:
            cloudformation.update_stack(**request)
        except ClientError as error:
            if "No updates are to be performed" not in error.response.get("Error", {}).get("Message", ""):
                raise
            return "unchanged", existing
        action, waiter = "updated", "stack_update_complete"
    try:
        cloudformation.get_waiter(waiter).wait(StackName=stack, WaiterConfig=waiter_config)
    except WaiterError as error:
        reasons = "; ".join(failure_reasons(cloudformation, stack)) or str(error)
        raise DeployError(f"stack {stack} was not {action}: {reasons}") from error
    return action, describe_stack(cloudformation, stack) or {}


def deploy(
    stack: str,
    bucket: str,
    artifacts_prefix: str = "",
    region: str | None = None,
    *,
    parameters: Mapping[str, str] | None = None,
    template: Path = TEMPLATE,
    definition: Path = DEFINITION,
    glue_scripts: Path = GLUE_SCRIPTS,
    poll_seconds: int = 15,
    max_wait_seconds: int = 3600,
    dagster_image: str | None = None,
    dagster_parameters: Mapping[str, str] | None = None,
    dagster_template: Path = DAGSTER_TEMPLATE,
) -> DeployResult:
    """Upload the code and the definition to `bucket`, then create or update `stack` and wait for it.

    With `dagster_image`, then the Dagster stack `<stack>-dagster` running that image (step 6).
    """
    session = boto3.session.Session(region_name=region)
    region = session.region_name
    if not region:
        raise DeployError("no AWS region: pass --region or set AWS_DEFAULT_REGION")
    s3 = session.client("s3")
    cloudformation = session.client("cloudformation")
    prefix = normalize_prefix(artifacts_prefix)

    ensure_bucket(s3, bucket, region)
    uploaded: list[str] = []

    def upload(key: str, body: bytes, content_type: str) -> None:
        s3.put_object(Bucket=bucket, Key=prefix + key, Body=body, ContentType=content_type)
        uploaded.append(f"s3://{bucket}/{prefix}{key}")

    upload(PACKAGE_KEY, package_glue_scripts(glue_scripts), "application/zip")
    scripts = job_scripts(glue_scripts)
    for script in scripts:
        upload(JOBS_KEY + script.name, script.read_bytes(), "text/x-python")
    upload(LOG_STORE_JAR_KEY, jar_path(DYNAMODB_LOG_STORE).read_bytes(), "application/java-archive")
    definition_bytes = definition.read_bytes()
    state_machine_key = definition_key(definition_bytes)
    upload(state_machine_key, definition_bytes, "application/json")

    given = {
        "ArtifactsBucket": bucket,
        "ArtifactsKeyPrefix": prefix,
        "StateMachineDefinitionKey": state_machine_key,
        **delta_parameters(region),
        # With the Dagster stack, its automation maintains the tables: no second run from the stack's schedule.
        **({MAINTENANCE_SCHEDULE: ""} if dagster_image else {}),
        **(parameters or {}),
    }

    def source(template: Path) -> dict[str, str]:
        body = template.read_text()
        if len(body.encode()) <= TEMPLATE_BODY_LIMIT:
            return {"TemplateBody": body}
        template_key = f"cloudformation/{template.stem}-{hashlib.sha256(body.encode()).hexdigest()[:16]}.yaml"
        upload(template_key, body.encode(), "application/x-yaml")
        return {"TemplateURL": f"https://{bucket}.s3.{region}.amazonaws.com/{prefix}{template_key}"}

    waiter_config = {"Delay": poll_seconds, "MaxAttempts": max(1, max_wait_seconds // max(poll_seconds, 1))}
    action, described = apply_stack(cloudformation, stack, source(template), given, waiter_config)
    result = DeployResult(
        stack, action, described.get("StackStatus", ""), uploaded, [s.name for s in scripts], outputs(described)
    )
    if dagster_image:
        dagster_stack = stack + DAGSTER_STACK_SUFFIX
        dagster_given = {**dagster_parameters_from(stack, result.outputs, dagster_image), **(dagster_parameters or {})}
        dagster_action, dagster_described = apply_stack(
            cloudformation, dagster_stack, source(dagster_template), dagster_given, waiter_config
        )
        result.dagster = DeployResult(
            dagster_stack, dagster_action, dagster_described.get("StackStatus", ""), outputs=outputs(dagster_described)
        )
    return result


def outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
