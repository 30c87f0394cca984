"""The Step Functions definition: validated by asl-validator, then executed by moto's ASL interpreter.

moto 5.2.5 really interprets a state machine when its Step Functions backend is switched to the
parser (`mock_aws(config={"stepfunctions": {"execute_state_machine": True}})`): Pass, Choice, Wait,
Parallel, Map, intrinsic functions, Retry/Catch, and service integrations that call moto's own
Glue, S3, SNS and Step Functions backends. Where it differs from AWS, the `moto_sfn` fixture
patches it (the test says what AWS does; nothing in the definition bends to moto):

1. `glue:startJobRun.sync` crashes (`'NoneType' object has no attribute 'interrupt_all'`): moto's
   Glue integration supports only `.sync`, so no callback endpoint is created, and the shared
   `_eval_integration_pattern` calls `interrupt_all()` on `None` in its `finally`. Patch: the Glue
   integration also declares `waitForTaskToken` (as moto's Batch and ECS ones do), so the endpoint
   exists, and its `_eval_sync` is handed no endpoint, so no thread waits for a task token; the
   `.sync` polling of GetJobRun is moto's own, unchanged.
2. AWS SDK integrations pass the state's parameters to boto3 as written and return boto3's response
   as is. Step Functions takes and returns PascalCase members even where the API is camelCase
   (`StateMachineArn` for ListExecutions' `stateMachineArn`, `Executions[].ExecutionArn`) and
   returns GetObject's Body as a string, not a `StreamingBody`. Patch: request and response go
   through moto's own `_to_boto_request` / `_from_boto_response` (used by its optimised
   integrations), against the operation's botocore shapes.
3. Retry back-off and Wait states really sleep (30 s, 60 s). Patch: both record the seconds asked
   for and sleep milliseconds.
4. Glue job runs do nothing and always succeed. Mirror: `FakeGlue` wraps moto's
   `FakeJob.start_job_run` to record each run's arguments, to do what the job contract
   (infra/README.md) asks of a process job (write the archive manifest of the landing files it
   accounted for), and, when a test says so, to fail a run (moto's own job-run state model, ending
   in FAILED), to hold it RUNNING, or to refuse it with ConcurrentRunsExceededException.
5. A Parallel branch or Map iteration failing with a `States.*` error (States.TaskFailed from a
   failed Glue job) becomes `States.Runtime`: moto re-raises it through `CustomErrorName`, which
   refuses `States.` names. AWS re-raises the branch's own error. Patch: re-raised as `ErrorName`.
6. S3 CopyObject ignores `x-amz-copy-source-if-match` (moto checks only if-none-match). Mirror: S3's
   check (412 PreconditionFailed when the source's ETag differs) wraps moto's copy_object.
7. S3 errors from AWS SDK integrations are named `s3.NoSuchKeyException` / `s3.s3Exception`; Step
   Functions names them `S3.NoSuchKeyException` / `S3.S3Exception`. Patch: moto's table of service
   error names gets `s3 -> S3`.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.glue import models as glue_models
from moto.glue.exceptions import ConcurrentRunsExceededException
from moto.s3 import responses as s3_responses
from moto.s3.exceptions import PreconditionFailed as S3PreconditionFailed
from moto.stepfunctions.parser.asl.component.common.error_name.error_name import ErrorName
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import iteration_worker
from moto.stepfunctions.parser.asl.component.state.exec.state_parallel import branches_decl
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
    state_task_service_glue,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function

REPO = Path(__file__).resolve().parents[2]
ASL_PATH = REPO / "infra" / "stepfunctions" / "lakehouse.asl.json"
ASL_VALIDATOR = REPO / "infra" / "node_modules" / ".bin" / "asl-validator"

REGION = "us-east-1"
ACCOUNT = "123456789012"
BUCKET = "lakehouse-sfn-test"
PREFIX = "lakehouse/"
JOBS = {
    "IngestJobName": "lh-ingest",
    "ProcessJobName": "lh-process",
    "AnalyticsJobName": "lh-analytics",
    "CatalogJobName": "lh-catalog",
}
ANALYTICS_TABLES = ("daily_sales", "top_products")
SUBSTITUTIONS = {
    "LakehouseBucket": BUCKET,
    "LandingPrefix": f"{PREFIX}landing/",
    "ManifestPrefix": f"{PREFIX}audit/archive_manifests/",
    "AlertTopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:lh-alerts",
    **JOBS,
}
LANDED = {
    "products": ["products.csv"],
    "orders": ["2025-04-01.csv", "2025-04-02.csv"],
    "order_items": ["2025-04-01.csv", "2025-04-02.csv"],
}


def substitute(definition: str, substitutions: dict[str, str]) -> str:
    """What CloudFormation does with DefinitionSubstitutions: every `${Name}` replaced, none left."""
    names = set(re.findall(r"\$\{(\w+)\}", definition))
    missing = names - substitutions.keys()
    assert not missing, f"no substitution for {sorted(missing)}"
    for name, value in substitutions.items():
        definition = definition.replace("${" + name + "}", value)
    return definition


def definition_names() -> set[str]:
    return set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))


# --- static validation -------------------------------------------------------------------------


def run_asl_validator(path: Path) -> subprocess.CompletedProcess[str]:
    if not ASL_VALIDATOR.exists():
        pytest.skip(f"asl-validator not installed ({ASL_VALIDATOR}): run `make install-infra-tools`")
    if shutil.which("node") is None:
        pytest.skip("node not found: asl-validator needs Node.js")
    return subprocess.run(
        [str(ASL_VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


def test_definition_is_valid_asl_as_committed_and_as_deployed(tmp_path: Path) -> None:
    committed = run_asl_validator(ASL_PATH)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    deployed = tmp_path / "deployed.asl.json"
    deployed.write_text(substitute(ASL_PATH.read_text(), SUBSTITUTIONS))
    result = run_asl_validator(deployed)
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_broken_definition(tmp_path: Path) -> None:
    """The validator is live: a Task with neither Next nor End and a Catch to a missing state fail."""
    broken = json.loads(ASL_PATH.read_text())
    del broken["States"]["RegisterCatalog"]["Next"]
    broken["States"]["ListLanding"]["Catch"][0]["Next"] = "NoSuchState"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    result = run_asl_validator(path)
    assert result.returncode != 0
    assert "RegisterCatalog" in result.stdout + result.stderr or "NoSuchState" in result.stdout + result.stderr


def test_nothing_is_hard_coded() -> None:
    """Buckets, prefixes, job names and ARNs only through substitutions."""
    text = ASL_PATH.read_text()
    assert definition_names() == set(SUBSTITUTIONS)
    assert not re.search(r"arn:aws:(?!states:::)", text), "an ARN other than a service integration"
    assert "lakehouse/" not in text and "s3://" not in text


def every_state(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches", []):
            yield from every_state(branch["States"])
        if "ItemProcessor" in state:
            yield from every_state(state["ItemProcessor"]["States"])


def test_every_task_has_a_timeout_and_glue_tasks_retry_transient_errors() -> None:
    states = dict(every_state(json.loads(ASL_PATH.read_text())["States"]))
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert all("TimeoutSeconds" in state for state in tasks.values()), [
        n for n, s in tasks.items() if "TimeoutSeconds" not in s
    ]
    glue = {name: state for name, state in tasks.items() if "glue:startJobRun.sync" in state["Resource"]}
    assert set(glue) == {
        "IngestProducts",
        "ProcessProducts",
        "IngestOrders",
        "ProcessOrders",
        "IngestOrderItems",
        "ProcessOrderItems",
        "AnalyticsDailySales",
        "AnalyticsTopProducts",
        "RegisterCatalog",
    }
    for state in glue.values():
        (retrier,) = state["Retry"]
        assert "Glue.ConcurrentRunsExceededException" in retrier["ErrorEquals"]
        assert "States.TaskFailed" not in retrier["ErrorEquals"]  # a failed job is not retried blindly
        assert retrier["BackoffRate"] > 1 and retrier["MaxDelaySeconds"] <= 600
    archive = {name for name, state in tasks.items() if "aws-sdk:s3:" in state["Resource"]}
    assert archive == {"ListLanding", "ReadManifest", "CopyToArchive", "DeleteFromLanding"}


def main_path(states: dict[str, Any], start: str) -> list[str]:
    """The states from `start` on, following each state's Next (a Parallel counts as one state)."""
    path = [start]
    while "Next" in states[path[-1]]:
        path.append(states[path[-1]]["Next"])
    return path


def test_analytics_after_processed_catalog_after_analytics_archive_last() -> None:
    states = json.loads(ASL_PATH.read_text())["States"]
    assert main_path(states, "Parents") == [
        "Parents",  # products and orders, each ingest then process
        "IngestOrderItems",
        "ProcessOrderItems",
        "Analytics",
        "RegisterCatalog",
        "Archive",
        "Succeeded",
    ]
    # Every step after the processed tables catches its failure: alert, then fail, nothing archived.
    for name in ("Parents", "IngestOrderItems", "ProcessOrderItems", "Analytics", "RegisterCatalog", "Archive"):
        (catch,) = states[name]["Catch"]
        assert (catch["ErrorEquals"], catch["Next"]) == (["States.ALL"], "NotifyFailure"), name

    analytics = states["Analytics"]
    assert analytics["Type"] == "Parallel"
    assert analytics["ResultPath"] == "$.runs.analytics"
    tables = []
    for branch in analytics["Branches"]:
        (task,) = branch["States"].values()
        assert task["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
        assert task["Parameters"]["JobName"] == "${AnalyticsJobName}"
        arguments = task["Parameters"]["Arguments"]
        assert set(arguments) == {"--table", "--run_id.$"}
        assert arguments["--run_id.$"] == "$$.Execution.Name"
        tables.append(arguments["--table"])
        # The same waiting and retrying as every other Glue task.
        assert task["ResultSelector"] == states["RegisterCatalog"]["ResultSelector"]
        assert task["Retry"] == states["RegisterCatalog"]["Retry"]
        assert task["End"] is True
    assert tables == list(ANALYTICS_TABLES)


# --- execution in moto's interpreter -------------------------------------------------------------


@dataclass
class JobRun:
    job: str
    arguments: dict[str, str]
    run_id: str = ""


@dataclass
class FakeGlue:
    """What the Glue jobs do in these tests (moto's job runs do nothing by themselves)."""

    runs: list[JobRun] = field(default_factory=list)
    fail: set[tuple[str, str | None]] = field(default_factory=set)  # (job, dataset or table): run ends FAILED
    refuse: dict[tuple[str, str | None], int] = field(default_factory=dict)  # ConcurrentRunsExceeded n times
    hold: set[tuple[str, str | None]] = field(default_factory=set)  # runs stay RUNNING until released
    held: list[Any] = field(default_factory=list)
    on_run: Callable[[JobRun], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, job: Any, arguments: dict[str, str] | None, original: Callable[..., str], **kwargs: Any) -> str:
        arguments = dict(arguments or {})
        key = (job.name, subject(arguments))
        with self.lock:
            if self.refuse.get(key, 0) > 0:
                self.refuse[key] -= 1
                raise ConcurrentRunsExceededException(f"Job with name {job.name} already running")
        run = JobRun(job.name, arguments)
        if self.on_run:
            self.on_run(run)
        if job.name == JOBS["ProcessJobName"] and key not in self.fail:
            write_manifest(arguments)
        run.run_id = original(job, arguments=arguments, **kwargs)
        fake_run = job.get_job_run(run.run_id)
        if key in self.fail:
            fake_run._transitions = [("STARTING", "RUNNING"), ("RUNNING", "FAILED")]
        if key in self.hold:
            fake_run._transitions = [("STARTING", "RUNNING"), ("RUNNING", "RUNNING")]
            self.held.append(fake_run)
        with self.lock:
            self.runs.append(run)
        return run.run_id

    def release(self) -> None:
        for fake_run in self.held:
            fake_run._transitions = [("RUNNING", "SUCCEEDED")]
        self.held.clear()

    def calls(self) -> list[tuple[str, str | None]]:
        return [(run.job, subject(run.arguments)) for run in self.runs]


def subject(arguments: dict[str, str]) -> str | None:
    """What a run works on: its data set (ingest, process) or its table (analytics); None for the catalog."""
    return arguments.get("--dataset", arguments.get("--table"))


def write_manifest(arguments: dict[str, str]) -> None:
    """The process job's contract: every landing file version it accounted for, and where it goes."""
    dataset = arguments["--dataset"]
    s3 = boto3.client("s3", region_name=REGION)
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}landing/{dataset}/")
    files = [
        {
            "key": item["Key"],
            "etag": item["ETag"],
            "copy_source": urllib.parse.quote(f"{BUCKET}/{item['Key']}"),
            "archive_key": f"{PREFIX}archived/{dataset}/2025/04/16/{item['Key'].rsplit('/', 1)[1]}",
        }
        for item in listing.get("Contents", [])
    ]
    body = json.dumps({"dataset": dataset, "run_id": arguments["--run_id"], "files": files})
    s3.put_object(Bucket=BUCKET, Key=arguments["--archive_manifest_key"], Body=body.encode())


@dataclass
class Waits:
    retries: list[float] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Waits:
    """Patch 3: back-off sleeps and Wait states take milliseconds; the seconds asked for are kept."""
    record = Waits()

    class FastTime:
        @staticmethod
        def sleep(seconds: float) -> None:
            record.retries.append(seconds)
            time.sleep(0.01)

    def fast_wait(self: Any, env: Any, wait_seconds: int) -> None:
        record.waits.append(wait_seconds)
        env.program_state_event.wait(0.05)

    monkeypatch.setattr(retrier_decl, "time", FastTime)
    monkeypatch.setattr(wait_function.WaitFunction, "_wait_interval", fast_wait)
    return record


@pytest.fixture
def moto_sfn(monkeypatch: pytest.MonkeyPatch, waits: Waits) -> Iterator[FakeGlue]:
    """moto with the ASL interpreter on, patches 1, 2 and 4 applied, the stack's resources created."""
    for variable in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    # Patch 1: the Glue integration gets a callback endpoint, as moto's Batch and ECS ones do, but does
    # not listen on it (a .sync task has no task token to wait for): only GetJobRun is polled.
    monkeypatch.setattr(
        state_task_service_glue,
        "_SUPPORTED_INTEGRATION_PATTERNS",
        {ResourceCondition.Sync, ResourceCondition.WaitForTaskToken},
    )
    glue_service = state_task_service_glue.StateTaskServiceGlue
    original_eval_sync = glue_service._eval_sync

    def eval_sync_without_token(self: Any, env: Any, sync_resolver: Any, timeout_seconds: Any, **_: Any) -> Any:
        return original_eval_sync(self, env, sync_resolver, timeout_seconds, None, None)

    monkeypatch.setattr(glue_service, "_eval_sync", eval_sync_without_token)

    # Patch 2: AWS SDK responses in Step Functions' casing, streaming bodies read.
    original_sdk_task = state_task_service_aws_sdk.StateTaskServiceAwsSdk._eval_service_task

    def sdk_task(self: Any, env: Any, resource_runtime_part: Any, normalised_parameters: dict, state_credentials: Any):
        client = boto3.client(self._get_boto_service_name(), region_name=REGION)
        operation = client.meta.service_model.operation_model(
            client.meta.method_to_api_mapping[self._get_boto_service_action()]
        )
        self._to_boto_request(normalised_parameters, operation.input_shape)
        original_sdk_task(self, env, resource_runtime_part, normalised_parameters, state_credentials)
        self._from_boto_response(env.stack[-1], operation.output_shape)

    monkeypatch.setattr(state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_eval_service_task", sdk_task)
    # Patch 7: S3 errors named as Step Functions names them (S3.NoSuchKeyException, S3.S3Exception).
    monkeypatch.setitem(state_task_service_aws_sdk._SERVICE_ERROR_NAMES, "s3", "S3")

    # Patch 5: a failed Parallel branch or Map iteration re-raises the branch's error (States.TaskFailed,
    # States.Timeout, ...) as on AWS; moto wraps it in CustomErrorName, which refuses States.* names.
    monkeypatch.setattr(branches_decl, "CustomErrorName", ErrorName)
    monkeypatch.setattr(iteration_worker, "CustomErrorName", ErrorName)
    # moto logs each failed state with the whole parsed program: pages per failure.
    logger = logging.getLogger("moto.stepfunctions")
    monkeypatch.setattr(logger, "level", logging.CRITICAL)

    # Mirror 6: S3's conditional copy. moto honours x-amz-copy-source-if-none-match but ignores
    # x-amz-copy-source-if-match; S3 answers 412 PreconditionFailed when the source's ETag differs.
    original_copy = s3_responses.S3Response.copy_object

    def copy_object(self: Any) -> Any:
        expected = self.headers.get("x-amz-copy-source-if-match")
        if expected is not None:
            source = urllib.parse.unquote(urllib.parse.urlparse(self.headers["x-amz-copy-source"]).path).lstrip("/")
            bucket, key = source.split("/", 1)
            current = self.backend.get_object(bucket, key)
            if current is not None and expected not in (current.etag, current.etag.strip('"')):
                raise S3PreconditionFailed(failed_condition="x-amz-copy-source-If-Match")
        return original_copy(self)

    monkeypatch.setattr(s3_responses.S3Response, "copy_object", copy_object)

    # Mirror 4: what the jobs do.
    glue = FakeGlue()
    original_start = glue_models.FakeJob.start_job_run

    def start_job_run(job: Any, arguments: dict[str, str] | None = None, **kwargs: Any) -> str:
        return glue.start(job, arguments, original_start, **kwargs)

    monkeypatch.setattr(glue_models.FakeJob, "start_job_run", start_job_run)

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET)
        for dataset, names in LANDED.items():
            for name in names:
                s3.put_object(
                    Bucket=BUCKET, Key=f"{PREFIX}landing/{dataset}/{name}", Body=f"{dataset} {name}\n".encode()
                )
        client = boto3.client("glue", region_name=REGION)
        for name in JOBS.values():
            client.create_job(
                Name=name,
                Role=f"arn:aws:iam::{ACCOUNT}:role/lh-glue",
                Command={"Name": "glueetl", "ScriptLocation": f"s3://artifacts/glue_scripts/jobs/{name}.py"},
                GlueVersion="5.0",
                ExecutionProperty={"MaxConcurrentRuns": 3},
            )
        boto3.client("sns", region_name=REGION).create_topic(Name="lh-alerts")
        yield glue


def create_state_machine() -> str:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    return sfn.create_state_machine(
        name="lh-pipeline",
        definition=substitute(ASL_PATH.read_text(), SUBSTITUTIONS),
        roleArn=f"arn:aws:iam::{ACCOUNT}:role/lh-sfn",
    )["stateMachineArn"]


S3_EVENT = {
    "version": "0",
    "source": "aws.s3",
    "detail-type": "Object Created",
    "detail": {"bucket": {"name": BUCKET}, "object": {"key": f"{PREFIX}landing/orders/2025-04-02.csv"}},
}


def start(state_machine: str) -> str:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    # EventBridge names each execution with a fresh id; moto's interpreter needs a name given.
    name = str(uuid.uuid4())
    return sfn.start_execution(stateMachineArn=state_machine, name=name, input=json.dumps(S3_EVENT))["executionArn"]


def wait_for(execution: str, timeout: float = 60) -> dict[str, Any]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            return described
        assert time.monotonic() < deadline, f"{execution} still running after {timeout} s"
        time.sleep(0.2)


def entered_states(execution: str) -> list[str]:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def history(execution: str) -> str:
    """The execution's events, readable, for assertion messages."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    events = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return "\n".join(
        f"{e['type']}: {json.dumps({k: v for k, v in e.items() if k.endswith('Details')}, default=str)}" for e in events
    )


def keys(prefix: str) -> list[str]:
    listing = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def landed_keys() -> list[str]:
    return sorted(f"{PREFIX}landing/{dataset}/{name}" for dataset, names in LANDED.items() for name in names)


def test_success_runs_the_jobs_in_order_and_archives_exactly_the_manifest_files(moto_sfn: FakeGlue) -> None:
    glue = moto_sfn
    late_key = f"{PREFIX}landing/orders/2025-04-03.csv"

    def land_during_catalog(run: JobRun) -> None:
        # A file that lands while the execution runs, after the process jobs wrote their manifests:
        # it was not processed, so it must stay in landing/ for the next execution.
        if run.job == JOBS["CatalogJobName"]:
            boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=late_key, Body=b"late\n")

    glue.on_run = land_during_catalog
    execution = start(create_state_machine())
    result = wait_for(execution)
    assert result["status"] == "SUCCEEDED", history(execution)
    name = execution.rsplit(":", 1)[1]

    calls = glue.calls()
    assert sorted(calls[:4]) == sorted(
        [
            (JOBS["IngestJobName"], "products"),
            (JOBS["ProcessJobName"], "products"),
            (JOBS["IngestJobName"], "orders"),
            (JOBS["ProcessJobName"], "orders"),
        ]
    )
    for dataset in ("products", "orders"):
        assert calls.index((JOBS["IngestJobName"], dataset)) < calls.index((JOBS["ProcessJobName"], dataset))
    assert calls[4:6] == [(JOBS["IngestJobName"], "order_items"), (JOBS["ProcessJobName"], "order_items")]
    # Both analytics tables once every processed table is written, then the catalog registers them all.
    assert sorted(calls[6:8]) == [(JOBS["AnalyticsJobName"], table) for table in ANALYTICS_TABLES]
    assert calls[8:] == [(JOBS["CatalogJobName"], None)]
    assert all(run.arguments["--run_id"] == name for run in glue.runs)
    manifests = {run.arguments["--archive_manifest_key"] for run in glue.runs if run.job == JOBS["ProcessJobName"]}
    assert manifests == {f"{PREFIX}audit/archive_manifests/{name}/{d}.json" for d in LANDED}

    # Exactly the manifest files moved: gone from landing, in archived/ with their content.
    assert keys(f"{PREFIX}landing/") == [late_key]
    archived = keys(f"{PREFIX}archived/")
    assert archived == sorted(f"{PREFIX}archived/{d}/2025/04/16/{n}" for d, names in LANDED.items() for n in names)
    s3 = boto3.client("s3", region_name=REGION)
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}archived/orders/2025/04/16/2025-04-01.csv")["Body"].read()
    assert body == b"orders 2025-04-01.csv\n"

    output = json.loads(result["output"])
    products, orders = output["parents"]
    assert products["process"]["JobRunState"] == orders["ingest"]["JobRunState"] == "SUCCEEDED"
    assert output["catalog"]["JobRunState"] == "SUCCEEDED"
    daily_sales, top_products = output["analytics"]
    assert daily_sales["JobRunState"] == top_products["JobRunState"] == "SUCCEEDED"
    analytics_runs = {run.arguments["--table"]: run.run_id for run in glue.runs if run.job == JOBS["AnalyticsJobName"]}
    assert [daily_sales["JobRunId"], top_products["JobRunId"]] == [analytics_runs[t] for t in ANALYTICS_TABLES]
    states = entered_states(execution)
    assert "Superseded" not in states and "NotifyFailure" not in states
    order = ["ProcessOrderItems", "Analytics", "RegisterCatalog", "Archive"]
    assert [states.index(name) for name in order] == sorted(states.index(name) for name in order)
    assert states.index("AnalyticsDailySales") > states.index("Analytics")
    assert states.index("AnalyticsTopProducts") > states.index("Analytics")
    assert max(i for i, name in enumerate(states) if name.startswith("Analytics")) < states.index("RegisterCatalog")
    assert states[-1] == "Succeeded"


def subscribe_queue() -> tuple[Any, str]:
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="lh-alerts-test")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(
        TopicArn=SUBSTITUTIONS["AlertTopicArn"], Protocol="sqs", Endpoint=queue_arn
    )
    return sqs, queue_url


def test_a_failed_glue_job_publishes_to_sns_and_fails_leaving_landing_untouched(moto_sfn: FakeGlue) -> None:
    glue = moto_sfn
    glue.fail.add((JOBS["ProcessJobName"], "orders"))
    sqs, queue_url = subscribe_queue()

    execution = start(create_state_machine())
    result = wait_for(execution)

    assert result["status"] == "FAILED"
    assert result["error"] == "LakehousePipelineFailed"
    assert result["cause"].startswith("States.TaskFailed: ")
    states = entered_states(execution)
    assert states[-2:] == ["NotifyFailure", "Failed"]
    assert "IngestOrderItems" not in states and "Archive" not in states
    assert (JOBS["IngestJobName"], "order_items") not in glue.calls()

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"] == "Lakehouse pipeline failed"
    alert = json.loads(envelope["Message"])
    assert alert["execution"] == execution
    assert alert["error"] == "States.TaskFailed"
    cause = json.loads(alert["cause"])
    assert cause["JobName"] == JOBS["ProcessJobName"]
    assert cause["JobRunState"] == "FAILED"
    assert cause["Arguments"]["--dataset"] == "orders"

    assert keys(f"{PREFIX}landing/") == landed_keys()
    assert keys(f"{PREFIX}archived/") == []


def test_a_failed_analytics_run_alerts_before_the_catalog_and_archives_nothing(moto_sfn: FakeGlue) -> None:
    glue = moto_sfn
    glue.fail.add((JOBS["AnalyticsJobName"], "top_products"))
    sqs, queue_url = subscribe_queue()

    execution = start(create_state_machine())
    result = wait_for(execution)

    assert result["status"] == "FAILED", history(execution)
    assert result["cause"].startswith("States.TaskFailed: ")
    states = entered_states(execution)
    assert states[-2:] == ["NotifyFailure", "Failed"]
    assert "RegisterCatalog" not in states and "Archive" not in states
    # The failed table's run was started after every processed table was written; the catalog was not.
    calls = glue.calls()
    failed, last_processed = (JOBS["AnalyticsJobName"], "top_products"), (JOBS["ProcessJobName"], "order_items")
    assert calls.index(failed) > calls.index(last_processed)
    assert (JOBS["CatalogJobName"], None) not in calls

    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    cause = json.loads(json.loads(json.loads(messages[0]["Body"])["Message"])["cause"])
    assert (cause["JobName"], cause["Arguments"]["--table"]) == (JOBS["AnalyticsJobName"], "top_products")
    assert keys(f"{PREFIX}landing/") == landed_keys()
    assert keys(f"{PREFIX}archived/") == []


def test_transient_glue_errors_are_retried_with_backoff(moto_sfn: FakeGlue, waits: Waits) -> None:
    glue = moto_sfn
    glue.refuse[(JOBS["IngestJobName"], "order_items")] = 2

    result = wait_for(start(create_state_machine()))

    assert result["status"] == "SUCCEEDED", result
    assert glue.calls().count((JOBS["IngestJobName"], "order_items")) == 1
    # Two back-offs, FULL jitter: at most 30 s, then at most 60 s.
    assert len(waits.retries) == 2
    assert 0 <= waits.retries[0] <= 30 and 0 <= waits.retries[1] <= 60


def test_executions_queue_oldest_first_and_later_ones_are_superseded(moto_sfn: FakeGlue, waits: Waits) -> None:
    """Three S3 events in a row: the first processes, the second waits then finds landing empty, the third ends."""
    glue = moto_sfn
    glue.hold.add((JOBS["IngestJobName"], "products"))
    state_machine = create_state_machine()

    first = start(state_machine)
    deadline = time.monotonic() + 30
    while not glue.held:
        assert time.monotonic() < deadline, "the first execution never started its products ingest"
        time.sleep(0.05)
    second = start(state_machine)
    time.sleep(0.5)  # the second is now listed after the first
    third = start(state_machine)

    assert wait_for(third)["status"] == "SUCCEEDED"
    assert entered_states(third)[-1] == "Superseded"
    time.sleep(0.5)
    assert boto3.client("stepfunctions", region_name=REGION).describe_execution(executionArn=second)["status"] == (
        "RUNNING"
    )
    assert waits.waits and set(waits.waits) == {60}

    glue.release()
    assert wait_for(first)["status"] == "SUCCEEDED"
    result = wait_for(second)
    assert result["status"] == "SUCCEEDED"
    assert entered_states(second)[-1] == "NothingLanded"
    assert len(glue.runs) == 9  # one execution's jobs: 3 ingest, 3 process, 2 analytics, 1 catalog
    assert keys(f"{PREFIX}landing/") == []


def test_a_file_replaced_after_processing_is_not_archived(moto_sfn: FakeGlue, waits: Waits) -> None:
    """The copy is conditional on the processed version's ETag: new content stays in landing/, loudly."""
    glue = moto_sfn
    replaced = f"{PREFIX}landing/orders/2025-04-01.csv"

    def replace_during_catalog(run: JobRun) -> None:
        if run.job == JOBS["CatalogJobName"]:
            boto3.client("s3", region_name=REGION).put_object(Bucket=BUCKET, Key=replaced, Body=b"corrected\n")

    glue.on_run = replace_during_catalog
    sqs, queue_url = subscribe_queue()
    execution = start(create_state_machine())
    result = wait_for(execution)

    assert result["status"] == "FAILED"
    assert "PreconditionFailed" in result["cause"] or "412" in result["cause"], result["cause"]
    assert len(waits.retries) == 3  # S3 errors are retried (3 attempts) before the failure is reported
    assert len(sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", [])) == 1
    s3 = boto3.client("s3", region_name=REGION)
    assert s3.get_object(Bucket=BUCKET, Key=replaced)["Body"].read() == b"corrected\n"
    assert f"{PREFIX}archived/orders/2025/04/16/2025-04-01.csv" not in keys(f"{PREFIX}archived/")
