"""Remote executions: a job per step on AWS, started and followed through Dagster Pipes.

- `GlueExecution` (`glue`): the stack's Glue jobs (`<stack>-ingest`, `-process`, `-archive`,
  `-analytics`, `-catalog`, `-maintenance`) with dagster-aws's `PipesGlueClient`, arguments per the
  job contract in infra/README.md.
- `EmrServerlessExecution` (`emr_serverless`): the same scripts on the stack's EMR Serverless
  application with `PipesEMRServerlessClient` (entry point = the job script on S3, the package zip
  as `spark.submit.pyFiles`, Delta from the release's own jars).

A job runs the very step function the local execution calls and reports back through Pipes: the
materializations with the same metadata, the check results of the tables it wrote, and its stage
outcome (a custom message). Pipes' context and messages go through S3, under
`<root>/_dagster_pipes/`: the jobs' roles may read and write there and nowhere else outside the
root. This process starts no Spark session and needs no JVM.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import boto3
from dagster import AssetExecutionContext, PipesClientCompletedInvocation
from dagster_aws.pipes import (
    PipesEMRServerlessClient,
    PipesGlueClient,
    PipesS3ContextInjector,
    PipesS3MessageReader,
)

from glue_scripts import steps
from glue_scripts.contracts import DatasetContract
from lakehouse_assets.execution.base import EMR_SERVERLESS, GLUE, Execution, StepOutput, batch_run_ids
from lakehouse_assets.spark.delta_conf import delta_spark_conf_from_environment

if TYPE_CHECKING:
    from lakehouse_assets.resources import GlueCatalogResource, LakehouseResource

PIPES_PREFIX = "_dagster_pipes"
# One job script (glue_scripts/jobs/<step>.py) and one Glue job (<stack>-<step>) per step.
JOB_STEPS = ("ingest", "process", "archive", "analytics", "catalog", "maintenance")
# EMR 7 ships Delta in the image, its DynamoDB log store included; these are its jars (infra/README.md).
EMR_DELTA_JARS = ",".join(
    f"/usr/share/aws/delta/lib/{name}.jar" for name in ("delta-spark", "delta-storage", "delta-storage-s3-dynamodb")
)


class PrefixedS3MessageReader(PipesS3MessageReader):
    """`PipesS3MessageReader` with its chunks under a key prefix (the stock one writes at the bucket's top)."""

    def __init__(self, *, key_prefix: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.key_prefix = key_prefix.rstrip("/")

    @contextmanager
    def get_params(self) -> Iterator[dict[str, Any]]:
        with super().get_params() as params:
            suffix = "".join(random.choices(string.ascii_letters, k=30))
            yield {**params, "key_prefix": f"{self.key_prefix}/{suffix}"}


class RemoteExecution(Execution):
    """A job per step, started through a Pipes client; subclasses say which service runs it."""

    # How often Dagster looks for new Pipes message chunks on S3.
    pipes_poll_seconds: float = 5.0

    def execution_name(self) -> str:
        raise NotImplementedError

    def launch(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, step: str, arguments: dict[str, str]
    ) -> PipesClientCompletedInvocation:
        raise NotImplementedError

    def s3_client(self) -> Any:
        return boto3.client("s3")

    def job_arguments(
        self, lakehouse: LakehouseResource, context: AssetExecutionContext, **arguments: str | None
    ) -> dict[str, str]:
        """The contract's `--name value` arguments; the root is Dagster's, so both sides see the same lakehouse."""
        base = {"--run_id": context.run_id, "--lakehouse_root": lakehouse.root}
        return {**base, **{f"--{name}": value for name, value in arguments.items() if value is not None}}

    def pipes_transport(self, lakehouse: LakehouseResource) -> tuple[PipesS3ContextInjector, PrefixedS3MessageReader]:
        """Context and messages on S3 under `<root>/_dagster_pipes/`, which the jobs' roles can reach."""
        if not lakehouse.root.startswith("s3://"):
            raise ValueError(
                f"LAKEHOUSE_EXECUTION={self.execution_name()} needs an s3:// LAKEHOUSE_ROOT (the jobs run on AWS), "
                f"not {lakehouse.root!r}"
            )
        bucket, _, prefix = lakehouse.root.removeprefix("s3://").rstrip("/").partition("/")
        base = f"{prefix}/{PIPES_PREFIX}" if prefix else PIPES_PREFIX
        client = self.s3_client()
        injector = PipesS3ContextInjector(bucket=bucket, client=client, key_prefix=f"{base}/context/")
        reader = PrefixedS3MessageReader(
            key_prefix=f"{base}/messages", bucket=bucket, client=client, interval=self.pipes_poll_seconds
        )
        return injector, reader

    def run_step(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, step: str, **arguments: str | None
    ) -> StepOutput:
        invocation = self.launch(context, lakehouse, step, self.job_arguments(lakehouse, context, **arguments))
        outcomes = [
            outcome
            for message in invocation.get_custom_messages()
            if isinstance(message, dict) and message.get("message") == steps.OUTCOME_MESSAGE
            for outcome in steps.outcomes_from_message(message)
        ]
        return StepOutput(outcomes, list(invocation.get_results(implicit_materializations=False)))

    def ingest(
        self,
        context: AssetExecutionContext,
        lakehouse: LakehouseResource,
        contract: DatasetContract,
        only_versions: Sequence[str] | None,
    ) -> StepOutput:
        versions = json.dumps(list(only_versions)) if only_versions is not None else None
        return self.run_step(context, lakehouse, "ingest", dataset=contract.name, only_versions=versions)

    def process(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contract: DatasetContract
    ) -> StepOutput:
        return self.run_step(
            context,
            lakehouse,
            "process",
            dataset=contract.name,
            rejection_warn_share=str(lakehouse.rejection_warn_share),
            rejection_max_share=str(lakehouse.rejection_max_share),
            rejection_min_rows=str(lakehouse.rejection_min_rows),
            batch_run_ids=",".join(batch_run_ids(context.run)),
        )

    def archive(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contracts: Sequence[DatasetContract]
    ) -> StepOutput:
        return self.run_step(context, lakehouse, "archive", datasets=",".join(c.name for c in contracts))

    def analytics(self, context: AssetExecutionContext, lakehouse: LakehouseResource, table: str) -> StepOutput:
        return self.run_step(context, lakehouse, "analytics", table=table)

    def catalog(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, catalog: GlueCatalogResource
    ) -> StepOutput:
        register = "true" if catalog.enabled else "false"
        return self.run_step(context, lakehouse, "catalog", glue_database=catalog.database, register_tables=register)

    def maintain(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contract: DatasetContract
    ) -> StepOutput:
        return self.run_step(context, lakehouse, "maintenance", datasets=contract.name)


class GlueExecution(RemoteExecution):
    """The stack's Glue jobs (`LAKEHOUSE_EXECUTION=glue`), started with `PipesGlueClient` and waited for."""

    # Glue job name per step (`JOB_STEPS`).
    job_names: dict[str, str]

    def execution_name(self) -> str:
        return GLUE

    def glue_client(self) -> Any:
        return boto3.client("glue")

    def launch(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, step: str, arguments: dict[str, str]
    ) -> PipesClientCompletedInvocation:
        injector, reader = self.pipes_transport(lakehouse)
        client = PipesGlueClient(context_injector=injector, message_reader=reader, client=self.glue_client())
        params = {"JobName": self.job_names[step], "Arguments": arguments}
        return client.run(context=context, start_job_run_params=params)


class EmrServerlessExecution(RemoteExecution):
    """The same scripts on the stack's EMR Serverless application (`LAKEHOUSE_EXECUTION=emr_serverless`)."""

    application_id: str
    execution_role_arn: str
    # Where `lakehouse deploy` put the code: `s3://<artifacts bucket>/<artifacts prefix>` (jobs and zip under it).
    artifacts_uri: str
    # EMR 7 runs Python 3.9; the code targets 3.11: a packed virtualenv (`venv-pack`, with dagster-pipes)
    # given as `spark.archives` provides it. Empty: the image's own Python (a custom image with 3.11).
    python_archive: str = ""
    poll_seconds: float = 10.0

    def execution_name(self) -> str:
        return EMR_SERVERLESS

    def emr_client(self) -> Any:
        return boto3.client("emr-serverless")

    def code_uri(self, key: str) -> str:
        return f"{self.artifacts_uri.rstrip('/')}/{key}"

    def spark_submit_parameters(self) -> str:
        conf = {
            "spark.submit.pyFiles": self.code_uri("glue_scripts/lakehouse_glue.zip"),
            "spark.jars": EMR_DELTA_JARS,
            # Delta's settings as every writer has them, the DynamoDB log store's table and region included.
            **delta_spark_conf_from_environment(),
        }
        if self.python_archive:
            python = "./environment/bin/python"
            conf |= {
                "spark.archives": f"{self.python_archive}#environment",
                "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": python,
                "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": python,
                "spark.executorEnv.PYSPARK_PYTHON": python,
            }
        return " ".join(f"--conf {key}={value}" for key, value in conf.items())

    def start_job_run_params(self, context: Any, step: str, arguments: Mapping[str, str]) -> dict[str, Any]:
        """The `StartJobRun` request for one step (Pipes adds its driver environment and tags to it)."""
        subject = arguments.get("--dataset") or arguments.get("--table")
        return {
            "applicationId": self.application_id,
            "executionRoleArn": self.execution_role_arn,
            "name": f"lakehouse-{step}" + (f"-{subject}" if subject else "") + f"-{context.run_id[:8]}",
            "jobDriver": {
                "sparkSubmit": {
                    "entryPoint": self.code_uri(f"glue_scripts/jobs/{step}.py"),
                    "entryPointArguments": [item for pair in arguments.items() for item in pair],
                    "sparkSubmitParameters": self.spark_submit_parameters(),
                }
            },
        }

    def launch(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, step: str, arguments: dict[str, str]
    ) -> PipesClientCompletedInvocation:
        injector, reader = self.pipes_transport(lakehouse)
        client = PipesEMRServerlessClient(
            client=self.emr_client(), context_injector=injector, message_reader=reader, poll_interval=self.poll_seconds
        )
        return client.run(context=context, start_job_run_params=self.start_job_run_params(context, step, arguments))
