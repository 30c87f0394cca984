"""Where the Spark steps run: in this process, on AWS Glue, or on EMR Serverless (`LAKEHOUSE_EXECUTION`).

The asset and check definitions are the same for all three; their bodies hand the Spark work to the
`execution` resource, one of:

- `SparkExecution` (`local`, the default): calls the step functions of `glue_scripts.jobs` in this
  process, on the `pyspark` resource's session. This is the path `lakehouse run` always took.
- `GlueExecution` (`glue`): starts the stack's Glue jobs (`<stack>-ingest`, `-process`, `-archive`)
  with dagster-aws's `PipesGlueClient`, arguments per the job contract in infra/README.md.
- `EmrServerlessExecution` (`emr_serverless`): starts the same scripts on the stack's EMR Serverless
  application with `PipesEMRServerlessClient` (entry point = the job script on S3, the package zip
  as `spark.submit.pyFiles`, Delta from the release's own jars).

A remote job runs the very step function the local runner calls and reports its result back through
Dagster Pipes: the materializations with the same metadata, every check result of a processed table,
and its stage outcome (a custom message; the asset turns it into the per-file events of
`landing/files`, as in-process). Pipes' context and messages go through S3, under
`<root>/_dagster_pipes/`: the jobs' roles may read and write there and nowhere else outside the root,
and S3 needs no log configuration (the stack's EMR application logs to S3, not CloudWatch).

The checks: a remote process job measures every check of its table where the data is, right after
the merge. Dagster runs a table's checks in their own step (the definitions are shared with the local
path), so the process step keeps the reported results and the check step returns them
(`reported_checks`). Both steps run in the same run and process (the automation plans a table's
checks with it; the executor is in-process), which is what the hand-over relies on: checks
executed alone, without their table, fail with the reason under a remote execution.
"""

from __future__ import annotations

import json
import os
import random
import string
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetExecutionContext,
    AssetKey,
    ConfigurableResource,
    DagsterRun,
    MaterializeResult,
    MetadataValue,
    PipesClientCompletedInvocation,
)
from dagster._core.definitions.metadata.external_metadata import (
    EXTERNAL_METADATA_TYPE_INFER,
    metadata_map_from_external,
)
from dagster_aws.pipes import (
    PipesEMRServerlessClient,
    PipesGlueClient,
    PipesS3ContextInjector,
    PipesS3MessageReader,
)
from dagster_pyspark import LazyPySparkResource

from glue_scripts import jobs
from glue_scripts.contracts import DatasetContract
from lakehouse_assets.delta_conf import delta_spark_conf_from_environment

if TYPE_CHECKING:
    from lakehouse_assets.resources import LakehouseResource

LOCAL, GLUE, EMR_SERVERLESS = "local", "glue", "emr_serverless"
EXECUTIONS = (LOCAL, GLUE, EMR_SERVERLESS)
PIPES_PREFIX = "_dagster_pipes"
# EMR 7 ships Delta in the image, its DynamoDB log store included; these are its jars (infra/README.md).
EMR_DELTA_JARS = ",".join(
    f"/usr/share/aws/delta/lib/{name}.jar" for name in ("delta-spark", "delta-storage", "delta-storage-s3-dynamodb")
)


# ---------------------------------------------------------------------------------------------
# plain dicts -> Dagster results (one conversion, whether the dict crossed Pipes or not)


def dagster_metadata(metadata: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """Metadata from `glue_scripts` (raw values or Pipes' typed `{"raw_value", "type"}`) as Pipes converts it."""
    external = {
        key: value
        if isinstance(value, dict) and set(value) == {"raw_value", "type"}
        else {"raw_value": value, "type": EXTERNAL_METADATA_TYPE_INFER}
        for key, value in metadata.items()
    }
    return dict(metadata_map_from_external(external))


def materialize_result(materialization: Mapping[str, Any]) -> MaterializeResult:
    return MaterializeResult(
        asset_key=AssetKey.from_user_string(materialization["asset_key"]),
        metadata=dagster_metadata(materialization["metadata"]),
    )


def check_result(result: Mapping[str, Any]) -> AssetCheckResult:
    """A `glue_scripts.quality` check result as Dagster's, as an in-process check returns it."""
    return AssetCheckResult(
        asset_key=AssetKey.from_user_string(result["asset_key"]),
        check_name=result["check_name"],
        passed=result["passed"],
        severity=AssetCheckSeverity(result["severity"]),
        metadata=dagster_metadata(result["metadata"]),
        description=result.get("description"),
    )


def batch_run_ids(run: DagsterRun) -> list[str]:
    """The run and the runs it re-executes: their processed files are the batch its checks look at."""
    return list(dict.fromkeys(i for i in (run.run_id, run.parent_run_id, run.root_run_id) if i))


@dataclass
class StepOutput:
    """What an asset body gets back from a runner: the stage outcomes and the results to yield."""

    outcomes: list[Any]
    results: list[MaterializeResult] = field(default_factory=list)


# Check results reported by remote process jobs, until their check steps (same run, same process) ask.
_reported_checks: dict[tuple[str, AssetCheckKey], AssetCheckResult] = {}
_reported_lock = threading.Lock()


# ---------------------------------------------------------------------------------------------
# local: in this process


class SparkExecution(ConfigurableResource):
    """In-process execution (`LAKEHOUSE_EXECUTION=local`): the step functions on the `pyspark` session."""

    def ingest(
        self,
        context: AssetExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        contract: DatasetContract,
        only_versions: Sequence[str] | None,
    ) -> StepOutput:
        report = jobs.ingest_step(
            pyspark.spark_session, lakehouse.store(), contract, context.run_id, jobs.utc_now(), only_versions
        )
        return _local_output(report)

    def process(
        self,
        context: AssetExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        contract: DatasetContract,
    ) -> StepOutput:
        # No batch run ids: in-process, the asset checks measure the table in their own steps.
        report = jobs.process_step(
            pyspark.spark_session,
            lakehouse.store(),
            contract,
            context.run_id,
            jobs.utc_now(),
            lakehouse.rejection_policy(),
        )
        return _local_output(report)

    def archive(
        self,
        context: AssetExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        contracts: Sequence[DatasetContract],
    ) -> StepOutput:
        report = jobs.archive_step(pyspark.spark_session, lakehouse.store(), contracts, context.run_id, jobs.utc_now())
        return _local_output(report)

    def reported_checks(self, context: AssetCheckExecutionContext) -> list[AssetCheckResult] | None:
        """The results a remote job reported for these checks in this run; None in-process (measure them here)."""
        return None


def _local_output(report: jobs.StepReport) -> StepOutput:
    return StepOutput(report.outcomes, [materialize_result(m) for m in report.materializations])


# ---------------------------------------------------------------------------------------------
# remote: a job per step, through Dagster Pipes


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


class RemoteExecution(SparkExecution):
    """A job per step, started through a Pipes client; subclasses say which service runs it."""

    # How often Dagster looks for new Pipes message chunks on S3.
    pipes_poll_seconds: float = 5.0

    def job_arguments(self, lakehouse: LakehouseResource, context: Any, **arguments: str | None) -> dict[str, str]:
        """The contract's `--name value` arguments; the root is Dagster's, so both sides see the same lakehouse."""
        base = {"--run_id": context.run_id, "--lakehouse_root": lakehouse.root}
        return {**base, **{f"--{name}": value for name, value in arguments.items() if value is not None}}

    def launch(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, job: str, arguments: dict[str, str]
    ) -> PipesClientCompletedInvocation:
        raise NotImplementedError

    def s3_client(self) -> Any:
        return boto3.client("s3")

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

    def execution_name(self) -> str:
        return "remote"

    def ingest(self, context, lakehouse, pyspark, contract, only_versions) -> StepOutput:
        versions = json.dumps(list(only_versions)) if only_versions is not None else None
        arguments = self.job_arguments(lakehouse, context, dataset=contract.name, only_versions=versions)
        return self._output(context, self.launch(context, lakehouse, "ingest", arguments))

    def process(self, context, lakehouse, pyspark, contract) -> StepOutput:
        arguments = self.job_arguments(
            lakehouse,
            context,
            dataset=contract.name,
            rejection_warn_share=str(lakehouse.rejection_warn_share),
            rejection_max_share=str(lakehouse.rejection_max_share),
            rejection_min_rows=str(lakehouse.rejection_min_rows),
            batch_run_ids=",".join(batch_run_ids(context.run)),
        )
        return self._output(context, self.launch(context, lakehouse, "process", arguments))

    def archive(self, context, lakehouse, pyspark, contracts) -> StepOutput:
        arguments = self.job_arguments(lakehouse, context, datasets=",".join(c.name for c in contracts))
        return self._output(context, self.launch(context, lakehouse, "archive", arguments))

    def reported_checks(self, context: AssetCheckExecutionContext) -> list[AssetCheckResult] | None:
        results = []
        for key in sorted(context.selected_asset_check_keys, key=lambda k: k.to_user_string()):
            with _reported_lock:
                result = _reported_checks.pop((context.run.run_id, key), None)
            if result is None:
                raise RuntimeError(
                    f"no result for {key.to_user_string()} from this run's process job: under "
                    f"LAKEHOUSE_EXECUTION={self.execution_name()} the job measures the checks, "
                    "so run them with their table"
                )
            results.append(result)
        return results

    def _output(self, context: AssetExecutionContext, invocation: PipesClientCompletedInvocation) -> StepOutput:
        outcomes = [
            outcome
            for message in invocation.get_custom_messages()
            if isinstance(message, dict) and message.get("message") == jobs.OUTCOME_MESSAGE
            for outcome in jobs.outcomes_from_message(message)
        ]
        results: list[MaterializeResult] = []
        for result in invocation.get_results(implicit_materializations=False):
            if isinstance(result, AssetCheckResult):
                key = AssetCheckKey(result.asset_key, result.check_name)
                with _reported_lock:
                    _reported_checks[(context.run_id, key)] = result
            else:
                results.append(result)
        return StepOutput(outcomes, results)


class GlueExecution(RemoteExecution):
    """The stack's Glue jobs (`LAKEHOUSE_EXECUTION=glue`), started with `PipesGlueClient` and waited for."""

    ingest_job: str
    process_job: str
    archive_job: str

    def execution_name(self) -> str:
        return GLUE

    def glue_client(self) -> Any:
        return boto3.client("glue")

    def launch(self, context, lakehouse, job, arguments) -> PipesClientCompletedInvocation:
        injector, reader = self.pipes_transport(lakehouse)
        client = PipesGlueClient(context_injector=injector, message_reader=reader, client=self.glue_client())
        job_name = {"ingest": self.ingest_job, "process": self.process_job, "archive": self.archive_job}[job]
        return client.run(context=context, start_job_run_params={"JobName": job_name, "Arguments": arguments})


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

    def start_job_run_params(self, context: Any, job: str, arguments: Mapping[str, str]) -> dict[str, Any]:
        """The `StartJobRun` request for one step (Pipes adds its driver environment and tags to it)."""
        dataset = arguments.get("--dataset")
        return {
            "applicationId": self.application_id,
            "executionRoleArn": self.execution_role_arn,
            "name": f"lakehouse-{job}" + (f"-{dataset}" if dataset else "") + f"-{context.run_id[:8]}",
            "jobDriver": {
                "sparkSubmit": {
                    "entryPoint": self.code_uri(f"glue_scripts/jobs/{job}.py"),
                    "entryPointArguments": [item for pair in arguments.items() for item in pair],
                    "sparkSubmitParameters": self.spark_submit_parameters(),
                }
            },
        }

    def launch(self, context, lakehouse, job, arguments) -> PipesClientCompletedInvocation:
        injector, reader = self.pipes_transport(lakehouse)
        client = PipesEMRServerlessClient(
            client=self.emr_client(), context_injector=injector, message_reader=reader, poll_interval=self.poll_seconds
        )
        return client.run(context=context, start_job_run_params=self.start_job_run_params(context, job, arguments))


# ---------------------------------------------------------------------------------------------
# choosing one from the environment


def execution_from_environment(environ: Mapping[str, str] | None = None) -> SparkExecution:
    """The `execution` resource `LAKEHOUSE_EXECUTION` asks for, configured from the environment.

    glue: `LAKEHOUSE_STACK` names the jobs `<stack>-ingest|process|archive`, or set each with
    `LAKEHOUSE_GLUE_INGEST_JOB`, `..._PROCESS_JOB`, `..._ARCHIVE_JOB`.
    emr_serverless: `LAKEHOUSE_EMR_APPLICATION_ID`, `LAKEHOUSE_EMR_EXECUTION_ROLE_ARN`,
    `LAKEHOUSE_ARTIFACTS_URI` (`s3://<artifacts bucket>/<prefix>`), optional `LAKEHOUSE_EMR_PYTHON_ARCHIVE`;
    the jobs' Delta log store table is `LAKEHOUSE_DELTA_LOG_TABLE` in this process's region (`delta_conf`).
    """
    environ = os.environ if environ is None else environ
    execution = environ.get("LAKEHOUSE_EXECUTION", LOCAL)
    if execution == LOCAL:
        return SparkExecution()
    if execution == GLUE:
        stack = environ.get("LAKEHOUSE_STACK")

        def job(step: str) -> str:
            name = environ.get(f"LAKEHOUSE_GLUE_{step.upper()}_JOB") or (f"{stack}-{step}" if stack else None)
            if not name:
                raise ValueError(f"LAKEHOUSE_EXECUTION=glue needs LAKEHOUSE_STACK or LAKEHOUSE_GLUE_{step.upper()}_JOB")
            return name

        return GlueExecution(ingest_job=job("ingest"), process_job=job("process"), archive_job=job("archive"))
    if execution == EMR_SERVERLESS:
        names = ("LAKEHOUSE_EMR_APPLICATION_ID", "LAKEHOUSE_EMR_EXECUTION_ROLE_ARN", "LAKEHOUSE_ARTIFACTS_URI")
        missing = [name for name in names if not environ.get(name)]
        if missing:
            raise ValueError(f"LAKEHOUSE_EXECUTION=emr_serverless needs {', '.join(missing)}")
        return EmrServerlessExecution(
            application_id=environ["LAKEHOUSE_EMR_APPLICATION_ID"],
            execution_role_arn=environ["LAKEHOUSE_EMR_EXECUTION_ROLE_ARN"],
            artifacts_uri=environ["LAKEHOUSE_ARTIFACTS_URI"],
            python_archive=environ.get("LAKEHOUSE_EMR_PYTHON_ARCHIVE", ""),
        )
    raise ValueError(f"unknown LAKEHOUSE_EXECUTION {execution!r}; expected one of {', '.join(EXECUTIONS)}")
