"""The CloudFormation template: cfn-lint and checkov clean, and the facts the design relies on.

No AWS account is reachable here, so the template is proven statically: AWS's own schema and rules
(cfn-lint), a security scanner (checkov, every skipped check justified in the template's metadata),
and structural assertions: least-privilege IAM, the bucket's protections, Glue 5 jobs with Delta,
and a state machine whose substitutions match the definition's `${...}` names exactly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse_assets.execution.remote import JOB_STEPS
from lakehouse_assets.maintenance import MAINTENANCE_CRON

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "cloudformation" / "lakehouse.yaml"
# The GitHub deploy role's template; its own structure is tested in test_github_oidc.py.
OIDC_TEMPLATE = REPO / "infra" / "cloudformation" / "github-oidc.yaml"
# The Dagster ECS stack's template; its own structure is tested in test_dagster_ecs.py.
ECS_TEMPLATE = REPO / "infra" / "cloudformation" / "dagster-ecs.yaml"
TEMPLATES = {path.name: path for path in (TEMPLATE, OIDC_TEMPLATE, ECS_TEMPLATE)}
ASL = REPO / "infra" / "stepfunctions" / "lakehouse.asl.json"
# Where `make install-infra-tools` links the linters it installs (TOOLS in the Makefile).
TOOLS_BIN = Path.home() / ".cache" / "lakehouse" / "tools" / "bin"

# Allow statements whose Resource is "*" because the actions have no resource-level permissions.
WILDCARD_RESOURCE_ACTIONS = {
    "cloudwatch:PutMetricData",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags (!Sub, !Ref, ...) as their long forms."""


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=CfnLoader)  # a SafeLoader subclass


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE)


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def sub_text(value: Any) -> str:
    """The literal text of a !Sub (or a plain string), for prefix/suffix checks."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else sub[0]
    return value if isinstance(value, str) else json.dumps(value)


# --- linters -------------------------------------------------------------------------------------


def tool(name: str, *candidates: Path) -> str:
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        pytest.skip(
            f"{name} not found (looked in {', '.join(map(str, candidates))} and PATH): make install-infra-tools"
        )
    return found


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_cfn_lint_is_clean(name: str) -> None:
    cfn_lint = tool("cfn-lint", Path(sys.executable).with_name("cfn-lint"))
    result = subprocess.run([cfn_lint, str(TEMPLATES[name])], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_checks_iam_action_names(tmp_path: Path) -> None:
    """The policies' action lists are checked against AWS's list of actions, not only as strings."""
    cfn_lint = tool("cfn-lint", Path(sys.executable).with_name("cfn-lint"))
    broken = tmp_path / "github-oidc.yaml"
    broken.write_text(OIDC_TEMPLATE.read_text().replace("- s3:GetBucketWebsite\n", "- s3:GetBucketWebsites\n", 1))
    result = subprocess.run([cfn_lint, str(broken)], capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 4  # warnings only
    assert "W3037 'getbucketwebsites' is not one of" in result.stdout


# The fewest checks checkov must pass on each template: a template it stopped recognising passes none.
CHECKOV_MIN_PASSED = {"lakehouse.yaml": 40, "github-oidc.yaml": 20, "dagster-ecs.yaml": 50}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_checkov_is_clean_and_every_skip_is_justified(name: str) -> None:
    checkov = tool("checkov", TOOLS_BIN / "checkov")
    template = load_template(TEMPLATES[name])
    result = subprocess.run(
        [checkov, "-f", str(TEMPLATES[name]), "--framework", "cloudformation", "--output", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        # No calls home: the guideline mapping comes from a server this machine does not reach.
        env={**os.environ, "BC_SKIP_MAPPING": "TRUE"},
    )
    report = json.loads(result.stdout)
    summary = report["summary"]
    failed = [f"{c['check_id']} {c['resource']}" for c in report["results"]["failed_checks"]]
    assert summary["failed"] == 0, failed
    assert summary["passed"] > CHECKOV_MIN_PASSED[name]
    declared = sorted(
        (skip["id"], logical)
        for logical, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    )
    # Exactly the skips the template declares are the ones checkov applied.
    skipped = sorted((c["check_id"], c["resource"].split(".", 1)[1]) for c in report["results"]["skipped_checks"])
    assert skipped == declared
    for logical, resource in template["Resources"].items():
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
            assert len(skip.get("comment", "").split()) >= 10, f"{logical}: {skip['id']} skipped without a reason"


# --- IAM -----------------------------------------------------------------------------------------


def allow_statements(template: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            found += [(name, s) for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, policy in resources(template, kind).items():
            found += [(name, s) for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    return found


def test_no_wildcard_actions_and_wildcard_resources_only_where_justified(template: dict[str, Any]) -> None:
    statements = allow_statements(template)
    assert len(statements) > 15
    for owner, statement in statements:
        actions = as_list(statement["Action"])
        for action in actions:
            assert action != "*" and not action.endswith(":*") and "*" not in action, f"{owner}: {action}"
        if "*" in as_list(statement["Resource"]):
            assert set(actions) <= WILDCARD_RESOURCE_ACTIONS, f"{owner}: Resource * for {actions}"
            justification = template["Resources"][owner]["Metadata"]["lakehouse"]["wildcard_justification"]
            assert any(a in justification for a in actions), f"{owner}: Resource * not explained"
            if "cloudwatch:PutMetricData" in actions:
                assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"] == "Glue"
    managed = [r for r in resources(template, "AWS::IAM::Role").values() if r["Properties"].get("ManagedPolicyArns")]
    assert not managed, "no AWS managed policies: they grant far more than these roles need"


def test_roles_trust_only_their_service_in_this_account(template: dict[str, Any]) -> None:
    expected = {
        "GlueJobRole": "glue.amazonaws.com",
        "EmrServerlessJobRole": "emr-serverless.amazonaws.com",
        "StateMachineRole": "states.amazonaws.com",
        "EventsRole": "events.amazonaws.com",
    }
    roles = resources(template, "AWS::IAM::Role")
    assert set(roles) == set(expected)
    for name, service in expected.items():
        (statement,) = roles[name]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": service}
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_the_state_machine_role_touches_only_landing_archived_and_manifests(template: dict[str, Any]) -> None:
    statements = {s["Sid"]: s for owner, s in allow_statements(template) if owner == "StateMachineRole"}
    assert sub_text(statements["RemoveArchivedFilesFromLanding"]["Resource"]).endswith("/landing/*")
    assert sub_text(statements["WriteTheArchive"]["Resource"]).endswith("/archived/*")
    reads = [sub_text(r) for r in statements["ReadLandedFilesAndManifests"]["Resource"]]
    assert [r.rsplit("}/", 1)[1] for r in reads] == ["landing/*", "audit/archive_manifests/*"]
    jobs = {sub_text(r).rsplit("/", 1)[1] for r in statements["RunTheGlueJobs"]["Resource"]}
    # The archive and maintenance jobs are not the pipeline's (it archives natively; maintenance is scheduled).
    assert jobs == {"${IngestJob}", "${ProcessJob}", "${AnalyticsJob}", "${CatalogJob}"}
    assert statements["SeeItsOwnQueue"]["Action"] == "states:ListExecutions"
    assert sub_text(statements["SeeItsOwnQueue"]["Resource"]).endswith(":stateMachine:${AWS::StackName}-pipeline")


# --- storage --------------------------------------------------------------------------------------


def test_bucket_is_encrypted_private_versioned_tls_only_and_sends_events(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["LakehouseBucket"]
    properties = bucket["Properties"]
    assert bucket["DeletionPolicy"] == bucket["UpdateReplacePolicy"] == "Retain"
    (rule,) = properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and rule["BucketKeyEnabled"]
    assert all(properties["PublicAccessBlockConfiguration"].values())
    assert len(properties["PublicAccessBlockConfiguration"]) == 4
    assert properties["VersioningConfiguration"]["Status"] == "Enabled"
    assert properties["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    (statement,) = template["Resources"]["LakehouseBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert len(statement["Resource"]) == 2  # the bucket and every object in it


# --- Glue and EMR Serverless -------------------------------------------------------------------


def test_glue_jobs_are_glue_5_with_delta_and_the_contracted_scripts(template: dict[str, Any]) -> None:
    jobs = resources(template, "AWS::Glue::Job")
    assert set(jobs) == {"IngestJob", "ProcessJob", "ArchiveJob", "AnalyticsJob", "CatalogJob", "MaintenanceJob"}
    for name, job in jobs.items():
        properties = job["Properties"]
        stage = name.removesuffix("Job").lower()
        assert properties["GlueVersion"] == "5.0", name
        assert properties["Command"]["Name"] == "glueetl"
        assert sub_text(properties["Command"]["ScriptLocation"]) == (
            f"s3://${{ArtifactsBucket}}/${{ArtifactsKeyPrefix}}glue_scripts/jobs/{stage}.py"
        )
        arguments = properties["DefaultArguments"]
        assert arguments["--datalake-formats"] == "delta", name
        # Delta's settings, the DynamoDB log store's included, as lakehouse deploy writes them (tooling/test_deploy.py).
        assert arguments["--conf"] == {"Ref": "GlueSparkConf"}, name
        assert sub_text(arguments["--extra-jars"]) == (
            "s3://${ArtifactsBucket}/${ArtifactsKeyPrefix}glue_scripts/jars/delta-storage-s3-dynamodb.jar"
        )
        assert sub_text(arguments["--extra-py-files"]).endswith("glue_scripts/lakehouse_glue.zip")
        assert sub_text(arguments["--lakehouse_root"]) == "s3://${LakehouseBucket}/${LakehousePrefix}"
        assert arguments["--job-bookmark-option"] == "job-bookmark-disable"  # the ledger tracks files
        assert properties["MaxRetries"] == 0
        assert sub_text(properties["Name"]) == f"${{AWS::StackName}}-{stage}"  # what the Dagster side expects
        # The same default arguments for every job: the contract in infra/README.md.
        assert arguments == jobs["IngestJob"]["Properties"]["DefaultArguments"], name
        assert job["Metadata"] == jobs["IngestJob"]["Metadata"], name
    # Each step's job as the Dagster side names it (`<stack>-<step>`, lakehouse_assets/execution).
    assert {name.removesuffix("Job").lower() for name in jobs} == set(JOB_STEPS)
    timeouts = {name: job["Properties"]["Timeout"] for name, job in jobs.items()}
    # Maintenance (OPTIMIZE and VACUUM of every table) may take longer than any batch step.
    assert max(t for name, t in timeouts.items() if name != "MaintenanceJob") <= 120 < timeouts["MaintenanceJob"]
    # One run per data set at once for the staged jobs and maintenance (Dagster runs one per data set),
    # one per table for analytics; catalog and archive one at a time.
    concurrency = {name: job["Properties"]["ExecutionProperty"]["MaxConcurrentRuns"] for name, job in jobs.items()}
    assert concurrency == {
        "IngestJob": 3,
        "ProcessJob": 3,
        "ArchiveJob": 1,
        "AnalyticsJob": 2,
        "CatalogJob": 1,
        "MaintenanceJob": 3,
    }
    for name in jobs:
        assert template["Outputs"][f"{name}Name"]["Value"] == {"Ref": name}


def test_the_maintenance_job_runs_nightly_on_its_own_unless_the_schedule_is_empty(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["MaintenanceSchedule"]
    assert parameter["Type"] == "String"
    assert parameter["Default"] == "cron(0 3 * * ? *)"
    for allowed in ("", parameter["Default"], "cron(30 1 ? * SUN *)"):
        assert re.fullmatch(parameter["AllowedPattern"], allowed), allowed
    for refused in ("rate(1 day)", "0 3 * * *", "cron(0 3 * * ? *) "):
        assert not re.fullmatch(parameter["AllowedPattern"], refused), refused
    # Where Dagster runs maintenance (its ECS stack), the schedule is to be empty: said where it is set.
    assert "Dagster" in parameter["Description"] and "empty" in parameter["Description"]
    assert template["Conditions"]["HasMaintenanceSchedule"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MaintenanceSchedule"}, ""]}]
    }
    (name,) = resources(template, "AWS::Glue::Trigger")
    trigger = template["Resources"][name]
    assert trigger["Condition"] == "HasMaintenanceSchedule"
    properties = trigger["Properties"]
    assert sub_text(properties["Name"]) == "${AWS::StackName}-maintenance-schedule"
    assert properties["Type"] == "SCHEDULED"
    assert properties["Schedule"] == {"Ref": "MaintenanceSchedule"}
    assert properties["StartOnCreation"] is True
    # Every data set (the job's default --datasets), under a fixed run id.
    assert properties["Actions"] == [
        {"JobName": {"Ref": "MaintenanceJob"}, "Arguments": {"--run_id": "nightly-maintenance"}}
    ]
    # The same hour as Dagster's automation (lakehouse_assets/maintenance.py), in Glue's cron form.
    minute, hour, *_ = MAINTENANCE_CRON.split()
    assert parameter["Default"] == f"cron({minute} {hour} * * ? *)"


def test_the_delta_log_table_is_on_demand_with_delta_s_key_schema_and_ttl(template: dict[str, Any]) -> None:
    (table,) = resources(template, "AWS::DynamoDB::Table").values()
    assert table["Properties"] == {
        "TableName": {"Ref": "DeltaLogTableName"},
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": "tablePath", "AttributeType": "S"},
            {"AttributeName": "fileName", "AttributeType": "S"},
        ],
        "KeySchema": [
            {"AttributeName": "tablePath", "KeyType": "HASH"},
            {"AttributeName": "fileName", "KeyType": "RANGE"},
        ],
        "TimeToLiveSpecification": {"AttributeName": "expireTime", "Enabled": True},
    }
    assert template["Outputs"]["DeltaLogTable"]["Value"] == {"Ref": "DeltaLogTable"}
    # deploy gives both (no default here to drift from lakehouse_assets/spark/delta_conf.py)
    assert "Default" not in template["Parameters"]["DeltaLogTableName"]
    assert "Default" not in template["Parameters"]["GlueSparkConf"]


def test_only_the_spark_roles_commit_through_the_delta_log_table_with_what_the_log_store_calls(
    template: dict[str, Any],
) -> None:
    granted = {}
    for name, role in resources(template, "AWS::IAM::Role").items():
        for policy in role["Properties"].get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                if any(action.startswith("dynamodb:") for action in as_list(statement["Action"])):
                    granted[name] = statement
    assert granted == {
        role: {
            "Sid": "CommitThroughTheDeltaLogTable",
            "Effect": "Allow",
            "Action": ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"],
            "Resource": {"Fn::GetAtt": ["DeltaLogTable", "Arn"]},
        }
        for role in ("GlueJobRole", "EmrServerlessJobRole")
    }


def test_glue_installs_the_jobs_packages_the_runtime_lacks_at_the_pinned_versions(template: dict[str, Any]) -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    pinned = dict(re.findall(r'"(dagster-pipes|openpyxl)==([^"]+)"', pyproject))
    default = template["Parameters"]["GlueAdditionalPythonModules"]["Default"]
    assert default == f"dagster-pipes=={pinned['dagster-pipes']},openpyxl=={pinned['openpyxl']}"


def test_emr_serverless_release_matches_spark_3_5_4_and_delta_3_3_0(template: dict[str, Any]) -> None:
    app = template["Resources"]["EmrApplication"]["Properties"]
    assert app["ReleaseLabel"] == {"Ref": "EmrReleaseLabel"}
    assert template["Parameters"]["EmrReleaseLabel"]["Default"] == "emr-7.8.0"
    assert app["AutoStopConfiguration"]["Enabled"] is True
    assert "MaximumCapacity" in app


# --- the pipeline ----------------------------------------------------------------------------------


def test_state_machine_substitutions_are_exactly_the_definitions_names(template: dict[str, Any]) -> None:
    machine = template["Resources"]["StateMachine"]["Properties"]
    names = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    assert set(machine["DefinitionSubstitutions"]) == names
    assert "DefinitionString" not in machine and "Definition" not in machine
    assert machine["DefinitionS3Location"]["Key"] == {"Fn::Sub": "${ArtifactsKeyPrefix}${StateMachineDefinitionKey}"}
    assert machine["StateMachineName"] == {"Fn::Sub": "${AWS::StackName}-pipeline"}
    assert machine["LoggingConfiguration"]["IncludeExecutionData"] is False


def glue_tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in states.items():
        if state["Type"] == "Task" and "glue:startJobRun" in state["Resource"]:
            yield name, state
        for branch in state.get("Branches", []):
            yield from glue_tasks(branch["States"])


def test_the_state_machine_may_run_every_job_its_definition_starts_within_the_job_s_timeout(
    template: dict[str, Any],
) -> None:
    substitutions = template["Resources"]["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    tasks = dict(glue_tasks(json.loads(ASL.read_text())["States"]))
    started: set[str] = set()
    for name, task in tasks.items():
        (substitution,) = re.fullmatch(r"\$\{(\w+)\}", task["Parameters"]["JobName"]).groups()
        job = substitutions[substitution]["Ref"]
        started.add(job)
        # A task waits just past the job's own timeout (5 minutes more), so the job's timeout is the one reported.
        assert task["TimeoutSeconds"] == template["Resources"][job]["Properties"]["Timeout"] * 60 + 300, name
    assert started == {"IngestJob", "ProcessJob", "AnalyticsJob", "CatalogJob"}
    (statement,) = [s for owner, s in allow_statements(template) if s.get("Sid") == "RunTheGlueJobs"]
    assert {sub_text(arn).rsplit("/${", 1)[1].rstrip("}") for arn in statement["Resource"]} == started
    # startJobRun.sync starts the run, polls it, and stops it when the execution is stopped or times out.
    assert statement["Action"] == ["glue:StartJobRun", "glue:GetJobRun", "glue:GetJobRuns", "glue:BatchStopJobRun"]


def test_eventbridge_starts_the_pipeline_on_object_created_under_landing(template: dict[str, Any]) -> None:
    rule = template["Resources"]["LandingRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.s3"] and pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "LakehouseBucket"}]
    assert pattern["detail"]["object"]["key"] == [{"prefix": {"Fn::Sub": "${LakehousePrefix}/landing/"}}]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": "StateMachine"} and target["RoleArn"] == {"Fn::GetAtt": ["EventsRole", "Arn"]}
    assert "InputTransformer" not in target and "Input" not in target  # the event itself, no Lambda
    assert not resources(template, "AWS::Lambda::Function")
