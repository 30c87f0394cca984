"""The three executions: the same assets and checks, their Spark steps in-process, on "Glue", on "EMR Serverless".

No AWS here, so the services are local stand-ins in the manner of dagster-aws's own
`LocalGlueMockClient` (its tests): moto's API (a moto server, the `s3_*` fixtures) answers every
call, and the job a run starts is the real script, downloaded from (moto) S3 where `lakehouse
deploy`'s packaging put it. Pipes context and messages cross moto S3 under `<root>/_dagster_pipes/`,
as they would cross real S3.

- `LAKEHOUSE_EXECUTION` picks and configures the resource; the EMR Serverless path down to the exact
  `StartJobRun` request and a Pipes round trip (a stand-in entry point at the job's key that reports
  through the jobs' own Pipes code).
- The whole `lakehouse_job` on a small generated data set, once in-process on a folder and once with
  `LAKEHOUSE_EXECUTION=glue` on moto S3: Dagster in a process of its own (`dagster job execute`, the
  multiprocess executor) with no `java` on its PATH and no `JAVA_HOME`, its Glue endpoint a proxy to
  moto that also runs each started job's real script, in this process on the shared Spark session.
  The same tables, the same materialization metadata, the same check results, the counts the
  generator's manifest promises, every table registered in (moto) Glue.
- End to end: one real ingest job process through `PipesEMRServerlessClient` (the packaged job runs).
"""

from __future__ import annotations

import base64
import copy
import http.server
import json
import os
import runpy
import shutil
import subprocess
import sys
import threading
import traceback
import urllib.error
import urllib.request
import uuid
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from dagster import (
    AssetKey,
    DagsterEvent,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    in_process_executor,
)
from dagster_pipes import PipesContext
from pyspark.sql import SparkSession

from glue_scripts import stages
from glue_scripts.contracts import CONTRACTS
from glue_scripts.delta_tables import read_table
from glue_scripts.storage import PROCESSED, REJECTED, LocalStore, S3Store, Store
from lakehouse_assets.analytics import analytics_assets
from lakehouse_assets.assets import all_assets
from lakehouse_assets.catalog import glue_tables
from lakehouse_assets.execution import (
    JOB_STEPS,
    EmrServerlessExecution,
    Execution,
    GlueExecution,
    LocalExecution,
    execution_from_environment,
)
from lakehouse_assets.freshness import freshness_checks
from lakehouse_assets.jobs import lakehouse_job
from lakehouse_assets.maintenance import maintenance_assets
from lakehouse_assets.resources import GlueCatalogResource, LakehouseResource
from lakehouse_assets.tooling.deploy import PACKAGE_KEY, job_scripts, package_glue_scripts
from lakehouse_assets.tooling.generator import generate
from tests.generated_data import expected_per_file, per_file
from tests.spark_settings import spark_conf_for_tests, submit_args

TINY: dict[str, Any] = {"scale": 2.5e-5, "days": 2, "dirty_share": 0.3, "seed": 7}
ARTIFACTS_PREFIX = "deploy/"
STACK = "lakehouse-test"
# What Dagster adds to what a job reported: where the run is.
GLUE_RUN_METADATA = {"AWS Glue Job Run ID", "AWS Glue Job Name", "AWS Glue Job Run URL"}
EMR_RUN_METADATA = {"AWS EMR Serverless Application ID", "AWS EMR Serverless Job Run ID"}
# Columns that differ between two runs by nature: who and when.
RUN_COLUMNS = {"run_id", "processed_at", "rejected_at", "ingested_at", "resolved_at", "resolved_run_id"}


# --- the stand-ins --------------------------------------------------------------------------------


def pyspark_submit_args() -> str:
    """What spark-submit would be given for a job here: local Spark with Delta and s3a at the moto endpoint."""
    return submit_args(spark_conf_for_tests(cores=1, driver_memory="1g", short_lived=True))


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


@dataclass
class LocalRun:
    """A job run: the script in a subprocess, its output in files (a pipe could fill up and stall Spark)."""

    process: subprocess.Popen
    stdout: Path
    stderr: Path

    def state(self) -> str | None:
        """None while running, else the exit code as 'ok' / 'failed'."""
        code = self.process.poll()
        return None if code is None else ("ok" if code == 0 else "failed")

    def error(self) -> str:
        return self.stderr.read_text()[-4000:]


def start_script(
    s3: Any, workdir: Path, script_uri: str, zip_uri: str, argv: list[str], env: dict[str, str]
) -> LocalRun:
    """Download the script and the package zip from S3 and run the script with the zip first on the path."""
    run_dir = workdir / uuid.uuid4().hex[:8]
    run_dir.mkdir(parents=True)
    script, package = run_dir / Path(split_s3(script_uri)[1]).name, run_dir / "lakehouse_glue.zip"
    s3.download_file(*split_s3(script_uri), str(script))
    s3.download_file(*split_s3(zip_uri), str(package))
    environment = {key: value for key, value in os.environ.items() if not key.startswith("DAGSTER_PIPES")}
    environment |= {"PYTHONPATH": str(package), "PYSPARK_SUBMIT_ARGS": pyspark_submit_args(), **env}
    stdout, stderr = run_dir / "stdout", run_dir / "stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [sys.executable, str(script), *argv], env=environment, stdout=out, stderr=err, cwd=run_dir
        )
    return LocalRun(process, stdout, stderr)


class GlueJobRuns:
    """What the Glue proxy runs: each started job's script, in a thread here, one at a time (one Glue "worker").

    The script is the one `lakehouse deploy` uploaded (downloaded from moto S3) with the job's default
    and run arguments; it runs on the shared Spark session, with the repository's `glue_scripts` as
    the package (the packaged zip on a job's path is proven by the EMR Serverless ingest test).
    """

    def __init__(self, s3: Any, workdir: Path) -> None:
        self.s3, self.workdir = s3, workdir
        self.started: list[dict[str, Any]] = []
        self.threads: dict[str, threading.Thread] = {}
        self.failures: dict[str, str] = {}
        self.one_at_a_time = threading.Lock()

    def start(self, job: dict[str, Any], run_id: str, arguments: dict[str, str]) -> None:
        self.started.append({"JobName": job["Name"], "Arguments": arguments})
        script = self.workdir / run_id / "script.py"
        script.parent.mkdir(parents=True)
        self.s3.download_file(*split_s3(job["Command"]["ScriptLocation"]), str(script))
        merged = {**job.get("DefaultArguments", {}), **arguments}  # a run's arguments win, as on Glue
        argv = [str(script), "--JOB_NAME", job["Name"], "--JOB_RUN_ID", run_id]
        argv += [item for pair in merged.items() for item in pair]

        def job_run() -> None:
            with self.one_at_a_time:
                PipesContext._instance = None  # the jobs open Pipes once per process: one "process" per run here
                try:
                    runpy.run_path(str(script), run_name="glue_job")["main"](argv)
                except BaseException as error:
                    self.failures[run_id] = "".join(traceback.format_exception(error))[-4000:]

        self.threads[run_id] = threading.Thread(target=job_run, name=f"glue-{job['Name']}")
        self.threads[run_id].start()

    def state(self, run_id: str) -> tuple[str, str | None]:
        """Glue's `JobRunState` (and error) after waiting a while: `GetJobRun` answers as the run ends."""
        self.threads[run_id].join(timeout=20)
        if self.threads[run_id].is_alive():
            return "RUNNING", None
        failure = self.failures.get(run_id)
        return ("FAILED", failure) if failure else ("SUCCEEDED", None)


class GlueProxy(http.server.ThreadingHTTPServer):
    """An HTTP endpoint for Glue's JSON API: every request goes to moto; `StartJobRun` also starts the job."""

    def __init__(self, moto_endpoint: str, glue: Any, runs: GlueJobRuns) -> None:
        super().__init__(("127.0.0.1", 0), GlueProxyHandler)
        self.moto_endpoint, self.glue, self.runs = moto_endpoint, glue, runs

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class GlueProxyHandler(http.server.BaseHTTPRequestHandler):
    server: GlueProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(self.server.moto_endpoint + self.path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request) as response:
                status, reply, kind = response.status, response.read(), response.headers.get("Content-Type")
        except urllib.error.HTTPError as error:
            status, reply, kind = error.code, error.read(), error.headers.get("Content-Type")
        action = self.headers.get("X-Amz-Target", "").removeprefix("AWSGlue.")
        if status == 200 and action == "StartJobRun":
            started = json.loads(body)
            job = self.server.glue.get_job(JobName=started["JobName"])["Job"]
            self.server.runs.start(job, json.loads(reply)["JobRunId"], started.get("Arguments", {}))
        elif status == 200 and action == "GetJobRun":
            answer = json.loads(reply)
            state, error_message = self.server.runs.state(answer["JobRun"]["Id"])
            answer["JobRun"]["JobRunState"] = state
            if error_message:
                answer["JobRun"]["ErrorMessage"] = error_message
            reply = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind or "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)


class LocalEmrServerless:
    """moto's EMR Serverless API, recording each `StartJobRun` request and running its entry point here."""

    def __init__(self, emr: Any, s3: Any, workdir: Path) -> None:
        self.emr, self.s3, self.workdir = emr, s3, workdir
        self.requests: list[dict[str, Any]] = []
        self.runs: dict[str, LocalRun] = {}

    @property
    def meta(self) -> Any:
        return self.emr.meta

    def start_job_run(self, **params: Any) -> dict[str, Any]:
        self.requests.append(copy.deepcopy(params))
        response = self.emr.start_job_run(**params)
        submit = params["jobDriver"]["sparkSubmit"]
        conf = dict(
            item.strip().split("=", 1) for item in submit["sparkSubmitParameters"].split("--conf") if item.strip()
        )
        driver_env = {
            key.removeprefix("spark.emr-serverless.driverEnv."): value
            for key, value in conf.items()
            if key.startswith("spark.emr-serverless.driverEnv.")
        }
        self.runs[response["jobRunId"]] = start_script(
            self.s3,
            self.workdir,
            submit["entryPoint"],
            conf["spark.submit.pyFiles"],
            list(submit["entryPointArguments"]),
            driver_env,
        )
        return response

    def get_job_run(self, applicationId: str, jobRunId: str) -> dict[str, Any]:
        response = self.emr.get_job_run(applicationId=applicationId, jobRunId=jobRunId)
        state = self.runs[jobRunId].state()
        response["jobRun"]["state"] = {None: "RUNNING", "ok": "SUCCESS", "failed": "FAILED"}[state]
        if state == "failed":
            response["jobRun"]["stateDetails"] = self.runs[jobRunId].error()
        return response

    def get_dashboard_for_job_run(self, applicationId: str, jobRunId: str, **kwargs: Any) -> dict[str, str]:
        return {"url": f"https://emr-serverless.local/{applicationId}/{jobRunId}"}

    def get_application(self, applicationId: str) -> dict[str, Any]:
        # moto accepts only "SPARK" at creation; AWS (and the stack's `Type: Spark`) says "Spark",
        # which is what PipesEMRServerlessClient looks for.
        response = self.emr.get_application(applicationId=applicationId)
        response["application"]["type"] = response["application"]["type"].capitalize()
        return response

    def cancel_job_run(self, applicationId: str, jobRunId: str) -> dict[str, Any]:
        self.runs[jobRunId].process.terminate()
        return {"applicationId": applicationId, "jobRunId": jobRunId}


# The stand-in clients the resources below hand to dagster-aws's Pipes clients.
CLIENTS: dict[str, Any] = {}


class StandInEmrServerlessExecution(EmrServerlessExecution):
    def emr_client(self) -> Any:
        return CLIENTS["emr-serverless"]


# --- helpers -------------------------------------------------------------------------------------


def deploy_code(s3: Any, bucket: str, scripts: dict[str, bytes] | None = None) -> None:
    """What `lakehouse deploy` uploads: the package zip and the job scripts (or stand-ins at their keys)."""
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key=f"{ARTIFACTS_PREFIX}{PACKAGE_KEY}", Body=package_glue_scripts())
    for path in job_scripts():
        body = (scripts or {}).get(path.stem, path.read_bytes())
        s3.put_object(Bucket=bucket, Key=f"{ARTIFACTS_PREFIX}glue_scripts/jobs/{path.name}", Body=body)


def create_glue_jobs(glue: Any, artifacts: str, root: str) -> dict[str, str]:
    """The stack's Glue jobs as moto holds them: the contract's scripts and default arguments."""
    names = {}
    for step in JOB_STEPS:
        name = f"{STACK}-{step}"
        glue.create_job(
            Name=name,
            Role="arn:aws:iam::123456789012:role/glue",
            GlueVersion="5.0",
            Command={
                "Name": "glueetl",
                "ScriptLocation": f"s3://{artifacts}/{ARTIFACTS_PREFIX}glue_scripts/jobs/{step}.py",
                "PythonVersion": "3",
            },
            ExecutionProperty={"MaxConcurrentRuns": 3},
            DefaultArguments={
                "--job-language": "python",
                "--datalake-formats": "delta",
                "--conf": "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension --conf "
                "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
                "--conf spark.sql.session.timeZone=UTC "
                "--conf spark.databricks.delta.allFilesInCrc.enabled=false "
                "--conf spark.delta.logStore.s3.impl=io.delta.storage.S3DynamoDBLogStore "
                "--conf spark.delta.logStore.s3a.impl=io.delta.storage.S3DynamoDBLogStore "
                "--conf spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName=lakehouse_delta_log "
                "--conf spark.io.delta.storage.S3DynamoDBLogStore.ddb.region=us-east-1",
                "--extra-jars": f"s3://{artifacts}/{ARTIFACTS_PREFIX}glue_scripts/jars/delta-storage-s3-dynamodb.jar",
                "--extra-py-files": f"s3://{artifacts}/{ARTIFACTS_PREFIX}{PACKAGE_KEY}",
                "--additional-python-modules": "dagster-pipes==1.13.27",
                "--lakehouse_root": root,
                "--glue_database": "lakehouse",
                "--job-bookmark-option": "job-bookmark-disable",
            },
        )
        names[step] = name
    return names


def land(store: Store, folder: Path) -> int:
    landed = 0
    for dataset in CONTRACTS:
        for file in sorted((folder / dataset).glob("*.csv")):
            store.write_bytes(f"landing/{dataset}/{file.name}", file.read_bytes())
            landed += 1
    return landed


def definitions(root: str, execution: Execution) -> Definitions:
    """The lakehouse's loading job (not the sensors), with these resources, in this process."""
    return Definitions(
        assets=[*all_assets, *analytics_assets, glue_tables, *maintenance_assets],
        asset_checks=[freshness_checks],
        jobs=[lakehouse_job],
        resources={"lakehouse": LakehouseResource(root=root), "execution": execution, "catalog": GlueCatalogResource()},
        executor=in_process_executor,
    )


def materializations(events: Iterable[DagsterEvent]) -> dict[str, dict[str, Any]]:
    found = {}
    for event in events:
        if event.event_type == DagsterEventType.ASSET_MATERIALIZATION:
            materialization = event.step_materialization_data.materialization
            if materialization.asset_key.path[0] != "landing":
                found[materialization.asset_key.to_user_string()] = {
                    key: getattr(value, "value", value) for key, value in materialization.metadata.items()
                }
    return found


def check_evaluations(events: Iterable[DagsterEvent]) -> dict[tuple[str, str], tuple[bool, str, dict[str, Any]]]:
    return {
        (e.asset_key.to_user_string(), e.check_name): (
            e.passed,
            e.severity.value,
            {key: getattr(value, "value", value) for key, value in e.metadata.items()},
        )
        for event in events
        if event.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        for e in [event.event_specific_data]
    }


def table_rows(spark: SparkSession, store: Store, zone: str) -> dict[str, list[tuple]]:
    tables = {}
    for contract in CONTRACTS.values():
        frame = read_table(spark, stages.table_path(store, zone, contract))
        columns = sorted(c for c in frame.columns if c not in RUN_COLUMNS)
        tables[contract.name] = sorted(tuple(str(v) for v in row) for row in frame.select(*columns).collect())
    return tables


def decode(value: str) -> Any:
    return json.loads(zlib.decompress(base64.b64decode(value)))


# --- quick: choosing and configuring --------------------------------------------------------------


def test_the_environment_chooses_the_execution() -> None:
    assert type(execution_from_environment({})) is LocalExecution
    glue = execution_from_environment({"LAKEHOUSE_EXECUTION": "glue", "LAKEHOUSE_STACK": "prod"})
    assert isinstance(glue, GlueExecution)
    assert glue.job_names == {step: f"prod-{step}" for step in JOB_STEPS}
    assert JOB_STEPS == ("ingest", "process", "archive", "analytics", "catalog", "maintenance")
    glue = execution_from_environment(
        {
            "LAKEHOUSE_EXECUTION": "glue",
            "LAKEHOUSE_STACK": "prod",
            "LAKEHOUSE_GLUE_PROCESS_JOB": "big-process",
            "LAKEHOUSE_PIPES_POLL_SECONDS": "2",
        }
    )
    assert isinstance(glue, GlueExecution)
    assert (glue.job_names["process"], glue.job_names["archive"], glue.pipes_poll_seconds) == (
        "big-process",
        "prod-archive",
        2,
    )
    emr = execution_from_environment(
        {
            "LAKEHOUSE_EXECUTION": "emr_serverless",
            "LAKEHOUSE_EMR_APPLICATION_ID": "00abc",
            "LAKEHOUSE_EMR_EXECUTION_ROLE_ARN": "arn:aws:iam::1:role/emr",
            "LAKEHOUSE_ARTIFACTS_URI": "s3://artifacts/deploy/",
        }
    )
    assert isinstance(emr, EmrServerlessExecution)
    assert (emr.application_id, emr.code_uri("glue_scripts/jobs/ingest.py")) == (
        "00abc",
        "s3://artifacts/deploy/glue_scripts/jobs/ingest.py",
    )
    with pytest.raises(ValueError, match="LAKEHOUSE_STACK"):
        execution_from_environment({"LAKEHOUSE_EXECUTION": "glue"})
    with pytest.raises(ValueError, match="LAKEHOUSE_EMR_APPLICATION_ID"):
        execution_from_environment({"LAKEHOUSE_EXECUTION": "emr_serverless"})
    with pytest.raises(ValueError, match="expected one of local, glue, emr_serverless"):
        execution_from_environment({"LAKEHOUSE_EXECUTION": "lambda"})


def test_a_remote_execution_needs_an_s3_root() -> None:
    glue = GlueExecution(job_names={step: step for step in JOB_STEPS})
    with pytest.raises(ValueError, match="needs an s3:// LAKEHOUSE_ROOT"):
        glue.pipes_transport(LakehouseResource(root="/tmp/lakehouse"))


# A stand-in at the ingest job's key: the jobs' own Pipes code reporting a made-up outcome (no Spark).
FAKE_INGEST = b"""
import sys
from glue_scripts import stages
from glue_scripts.job_runtime import dagster_pipes, job_arguments, publish
from glue_scripts.steps import StepReport

args = job_arguments(["dataset", "run_id", "lakehouse_root"], {}, sys.argv)
key = "landing/products/products.csv"
outcome = stages.IngestOutcome(args["dataset"], rows_by_file={key: 3}, versions={key: key + "#d41d8"})
materialization = {"asset_key": "raw/" + args["dataset"], "metadata": {"rows_ingested": 3, "run": args["run_id"]}}
with dagster_pipes() as pipes:
    publish(pipes, "ingest", StepReport([outcome], [materialization]))
"""


@pytest.fixture
def emr_application(s3_endpoint: str) -> str:
    emr = boto3.client("emr-serverless")
    return emr.create_application(name=f"{STACK}-spark", releaseLabel="emr-7.8.0", type="SPARK")["applicationId"]


def test_emr_serverless_start_job_run_request_and_pipes_round_trip(
    s3_client: Any, s3_root: str, emr_application: str, tmp_path: Path
) -> None:
    artifacts = f"artifacts-{uuid.uuid4().hex[:8]}"
    deploy_code(s3_client, artifacts, scripts={"ingest": FAKE_INGEST})
    stand_in = LocalEmrServerless(boto3.client("emr-serverless"), s3_client, tmp_path)
    CLIENTS["emr-serverless"] = stand_in
    execution = StandInEmrServerlessExecution(
        application_id=emr_application,
        execution_role_arn="arn:aws:iam::123456789012:role/lakehouse-emr",
        artifacts_uri=f"s3://{artifacts}/deploy",
        poll_seconds=0.5,
        pipes_poll_seconds=0.5,
    )
    defs = definitions(s3_root, execution)
    instance = DagsterInstance.ephemeral()
    result = defs.resolve_job_def("lakehouse_job").execute_in_process(
        instance=instance, asset_selection=[AssetKey(["raw", "products"])]
    )
    assert result.success

    (request,) = stand_in.requests
    submit = request["jobDriver"]["sparkSubmit"]
    ours, pipes = submit["sparkSubmitParameters"].split(" --conf spark.emr-serverless.driverEnv.DAGSTER_PIPES", 1)
    assert ours == (
        f"--conf spark.submit.pyFiles=s3://{artifacts}/deploy/glue_scripts/lakehouse_glue.zip "
        "--conf spark.jars=/usr/share/aws/delta/lib/delta-spark.jar,/usr/share/aws/delta/lib/delta-storage.jar,"
        "/usr/share/aws/delta/lib/delta-storage-s3-dynamodb.jar "
        "--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension "
        "--conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
        "--conf spark.sql.session.timeZone=UTC "
        "--conf spark.databricks.delta.allFilesInCrc.enabled=false "
        "--conf spark.delta.logStore.s3.impl=io.delta.storage.S3DynamoDBLogStore "
        "--conf spark.delta.logStore.s3a.impl=io.delta.storage.S3DynamoDBLogStore "
        "--conf spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName=lakehouse_delta_log "
        "--conf spark.io.delta.storage.S3DynamoDBLogStore.ddb.region=us-east-1"
    )
    assert {key: value for key, value in request.items() if key not in ("jobDriver", "tags")} == {
        "applicationId": emr_application,
        "executionRoleArn": "arn:aws:iam::123456789012:role/lakehouse-emr",
        "name": f"lakehouse-ingest-products-{result.run_id[:8]}",
    }
    assert submit["entryPoint"] == f"s3://{artifacts}/deploy/glue_scripts/jobs/ingest.py"
    assert submit["entryPointArguments"] == [
        "--run_id",
        result.run_id,
        "--lakehouse_root",
        s3_root,
        "--dataset",
        "products",
    ]
    assert request["tags"]["dagster/run-id"] == result.run_id
    # Pipes' own settings: context and messages on S3, under the lakehouse root where the job role may go.
    env = dict(item.strip().split("=", 1) for item in ("DAGSTER_PIPES" + pipes).split("--conf"))
    env = {key.removeprefix("spark.emr-serverless.driverEnv."): value for key, value in env.items()}
    bucket, prefix = split_s3(s3_root)
    context, messages = decode(env["DAGSTER_PIPES_CONTEXT"]), decode(env["DAGSTER_PIPES_MESSAGES"])
    assert context["bucket"] == messages["bucket"] == bucket
    assert context["key"].startswith(f"{prefix}/_dagster_pipes/context/")
    assert messages["key_prefix"].startswith(f"{prefix}/_dagster_pipes/messages/")

    # The round trip: what the entry point reported is the materialization, its outcome the file's event.
    (materialization,) = [m for k, m in materializations(result.all_events).items()]
    assert materialization["rows_ingested"] == 3 and materialization["run"] == result.run_id
    assert set(materialization) == {"rows_ingested", "run", *EMR_RUN_METADATA}
    assert instance.get_dynamic_partitions("landed_files") == ["products/products.csv#d41d8"]


# --- the whole graph, in-process and on Glue; a real job process on EMR Serverless ----------------


def without_java(environment: dict[str, str]) -> dict[str, str]:
    """`environment` with no `java` on its PATH and no JAVA_HOME (nor Spark's own variables)."""
    kept = {k: v for k, v in environment.items() if k not in ("JAVA_HOME", "SPARK_HOME", "PYSPARK_SUBMIT_ARGS")}
    path = [d for d in environment.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "java").exists()]
    kept["PATH"] = os.pathsep.join(path)
    assert shutil.which("java", path=kept["PATH"]) is None
    return kept


@pytest.mark.e2e
def test_on_glue_the_dagster_process_needs_no_jvm_and_ends_with_the_local_tables_and_checks(
    s3_spark: SparkSession, s3_endpoint: str, s3_client: Any, s3_root: str, tmp_path: Path
) -> None:
    manifest = generate(tmp_path / "data", **TINY)
    expected = {name: d["expected"]["one_run"] for name, d in manifest["datasets"].items()}
    for name, dataset in manifest["datasets"].items():
        assert all(dataset["dirty_by_kind"].values()), f"every kind of dirty {name} row is in the tiny set"

    # LAKEHOUSE_EXECUTION=glue: Dagster in its own process without Java, the jobs run behind the Glue proxy.
    artifacts = f"artifacts-{uuid.uuid4().hex[:8]}"
    deploy_code(s3_client, artifacts)
    glue = boto3.client("glue")
    names = create_glue_jobs(glue, artifacts, "s3://wrong-bucket/the-default-root")
    database = f"lakehouse_{uuid.uuid4().hex[:8]}"
    s3_store = S3Store(s3_root, s3_client)
    files = land(s3_store, tmp_path / "data")
    runs = GlueJobRuns(s3_client, tmp_path / "glue")
    proxy = GlueProxy(s3_endpoint, glue, runs)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    home = tmp_path / "dagster_home"
    home.mkdir()
    environment = without_java(dict(os.environ)) | {
        "DAGSTER_HOME": str(home),
        "LAKEHOUSE_ROOT": s3_root,
        "LAKEHOUSE_EXECUTION": "glue",
        "LAKEHOUSE_STACK": STACK,
        "LAKEHOUSE_CATALOG": "glue",
        "LAKEHOUSE_GLUE_DATABASE": database,
        "LAKEHOUSE_PIPES_POLL_SECONDS": "1",
        "AWS_ENDPOINT_URL_GLUE": proxy.url,
    }
    command = [sys.executable, "-m", "dagster", "job", "execute", "-m", "lakehouse_assets.definitions"]
    log = tmp_path / "dagster.log"
    with log.open("w") as output:
        dagster = subprocess.Popen([*command, "-j", "lakehouse_job"], env=environment, stdout=output, stderr=output)

    # Meanwhile, in-process on a folder (the same shared Spark session; each side's steps wait on the other's).
    local_store = LocalStore(tmp_path / "local")
    assert land(local_store, tmp_path / "data") == files
    local_run = definitions(local_store.root, LocalExecution()).resolve_job_def("lakehouse_job")
    local = local_run.execute_in_process(instance=DagsterInstance.ephemeral())
    assert local.success
    try:
        returncode = dagster.wait(timeout=900)
    finally:
        dagster.kill()
        proxy.shutdown()
    assert returncode == 0, log.read_text()[-3000:] + "\n".join(runs.failures.values())
    with DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
        entries = [entry for entry in instance.all_logs(run.run_id) if entry.dagster_event]
    events = [entry.dagster_event for entry in entries]
    # The multiprocess executor: each step in a process of its own.
    step_processes = {e.pid for e in events if e.event_type == DagsterEventType.STEP_START}
    assert len(step_processes) == len([e for e in events if e.event_type == DagsterEventType.STEP_START]) == 8

    # The jobs ran as the contract says: ingest data set by data set, parents before children, archive last.
    steps = [
        (run["JobName"], run["Arguments"].get("--dataset") or run["Arguments"].get("--table")) for run in runs.started
    ]
    assert steps[:3] == [(names["ingest"], name) for name in CONTRACTS]
    assert sorted(steps[3:5]) == [(names["process"], "orders"), (names["process"], "products")]
    assert steps[5] == (names["process"], "order_items")
    assert sorted(steps[6:8]) == [(names["analytics"], "daily_sales"), (names["analytics"], "top_products")]
    assert steps[8:] == [(names["catalog"], None), (names["archive"], None)]
    assert {started["Arguments"]["--run_id"] for started in runs.started} == {run.run_id}
    assert all(run["Arguments"]["--lakehouse_root"] == s3_root for run in runs.started)  # Dagster's root wins

    # The same tables, row for row (lineage included; only who and when differ).
    for zone in (PROCESSED, REJECTED):
        assert table_rows(s3_spark, s3_store, zone) == table_rows(s3_spark, local_store, zone), zone

    # The same materializations: the job's metadata has the local keys and values, plus where it ran.
    local_meta, remote_meta = materializations(local.all_events), materializations(events)
    assert set(local_meta) == set(remote_meta)
    for key, metadata in local_meta.items():
        if key == "catalog/glue_tables":
            continue  # registered on "AWS", only recorded locally: below
        assert set(remote_meta[key]) == set(metadata) | GLUE_RUN_METADATA, key
        differs = {"preview"}  # its rows carry run ids and times
        assert {k: v for k, v in remote_meta[key].items() if k in metadata and k not in differs} == {
            k: v for k, v in metadata.items() if k not in differs
        }, key

    # The same check results, every declared one, passed or not, with the same figures.
    local_checks, remote_checks = check_evaluations(local.all_events), check_evaluations(events)
    assert len(local_checks) == 19 and set(remote_checks) == set(local_checks)
    for key, (passed, severity, metadata) in local_checks.items():
        remote_passed, remote_severity, remote_metadata = remote_checks[key]
        assert (remote_passed, remote_severity) == (passed, severity), key
        assert {k: v for k, v in remote_metadata.items() if k not in GLUE_RUN_METADATA} == metadata, key

    # Exactly what the generator's manifest promises for one run over everything, per data set and per file.
    for name, promised in expected.items():
        figures, dataset = remote_meta[f"processed/{name}"], manifest["datasets"][name]
        assert (figures["rows_read"], figures["dagster/row_count"]) == (dataset["rows"], dataset["clean"]), name
        assert (figures["rows_accepted"], figures["rows_rejected"], figures["rows_waiting"]) == (
            promised["accepted"],
            promised["rejected"],
            promised["waiting"],
        )
        assert set(promised["rejected_by_reason"]) <= set(CONTRACTS[name].reason_codes), name
        for reason in CONTRACTS[name].reason_codes:
            assert figures[f"rejected_{reason}"] == promised["rejected_by_reason"].get(reason, 0), (name, reason)
        assert figures["waiting_by_reason"] == promised["waiting_by_reason"], name
    assert per_file(s3_spark, s3_store) == expected_per_file(manifest, one_run=True)
    assert remote_meta["archived/landed_files"]["files_archived"] == files
    assert s3_store.list("landing") == [] and len(s3_store.list("archived")) == files
    # Every table in (moto) Glue's database, as the local run recorded it would register them.
    registered = remote_meta["catalog/glue_tables"]
    assert (
        sorted(registered["tables_created"])
        == local_meta["catalog/glue_tables"]["tables"]
        == sorted(t["Name"] for t in glue.get_tables(DatabaseName=database)["TableList"])
    )
    # The Pipes messages crossed S3 under the root.
    pipes_keys = [o.key for o in s3_store.list("_dagster_pipes")]
    assert any(key.startswith("_dagster_pipes/messages/") for key in pipes_keys)


@pytest.mark.e2e
def test_emr_serverless_runner_runs_the_real_ingest_job(
    s3_spark: SparkSession, s3_client: Any, s3_root: str, emr_application: str, tmp_path: Path
) -> None:
    artifacts = f"artifacts-{uuid.uuid4().hex[:8]}"
    deploy_code(s3_client, artifacts)
    store = S3Store(s3_root, s3_client)
    store.write_bytes("landing/products/products.csv", b"product_id,department_id,department,product_name\n1,2,x,y\n")
    stand_in = LocalEmrServerless(boto3.client("emr-serverless"), s3_client, tmp_path)
    CLIENTS["emr-serverless"] = stand_in
    execution = StandInEmrServerlessExecution(
        application_id=emr_application,
        execution_role_arn="arn:aws:iam::123456789012:role/lakehouse-emr",
        artifacts_uri=f"s3://{artifacts}/deploy",
        poll_seconds=1,
        pipes_poll_seconds=1,
    )
    instance = DagsterInstance.ephemeral()
    result = (
        definitions(s3_root, execution)
        .resolve_job_def("lakehouse_job")
        .execute_in_process(instance=instance, asset_selection=[AssetKey(["raw", "products"])])
    )
    assert result.success
    metadata = materializations(result.all_events)["raw/products"]
    assert (metadata["files_ingested"], metadata["rows_ingested"]) == (1, 1)
    version = store.list("landing/products")[0].version_id
    assert instance.get_dynamic_partitions("landed_files") == [version.removeprefix("landing/")]
    assert read_table(s3_spark, stages.table_path(store, "raw", CONTRACTS["products"])).count() == 1
