"""The Dagster ECS stack (infra/cloudformation/dagster-ecs.yaml): the facts its design relies on.

cfn-lint and checkov run on it with the other templates (test_cloudformation.py, TEMPLATES). Here:
nothing reaches the UI from the internet by default, the database is private and encrypted with a
generated password that appears nowhere in clear, each role can do exactly what its tasks need, and
the stack agrees with the image's dagster.yaml and with the lakehouse stack it builds on.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse_assets.execution.remote import JOB_STEPS
from tests.infra.test_cloudformation import as_list, load_template, resources, sub_text

REPO = Path(__file__).resolve().parents[2]
ECS_TEMPLATE = REPO / "infra" / "cloudformation" / "dagster-ecs.yaml"
LAKEHOUSE_TEMPLATE = REPO / "infra" / "cloudformation" / "lakehouse.yaml"
DAGSTER_YAML = REPO / "infra" / "image" / "dagster.yaml"
ENTRYPOINT = REPO / "infra" / "image" / "entrypoint.sh"

# Actions whose Resource is "*" because IAM has no resource-level permissions for them.
WILDCARD_RESOURCE_ACTIONS = {"ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition", "ec2:DescribeNetworkInterfaces"}


@pytest.fixture(scope="module")
def ecs() -> dict[str, Any]:
    return load_template(ECS_TEMPLATE)


@pytest.fixture(scope="module")
def lakehouse() -> dict[str, Any]:
    return load_template(LAKEHOUSE_TEMPLATE)


def statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    policies = template["Resources"][role]["Properties"]["Policies"]
    found = [s for policy in policies for s in policy["PolicyDocument"]["Statement"]]
    assert all(s["Effect"] == "Allow" for s in found)
    return found


def actions(template: dict[str, Any], role: str) -> set[str]:
    return {action for s in statements(template, role) for action in as_list(s["Action"])}


def containers(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: definition["Properties"]["ContainerDefinitions"][0]
        for name, definition in resources(template, "AWS::ECS::TaskDefinition").items()
    }


# --- network -------------------------------------------------------------------------------------


def test_no_ingress_from_anywhere_and_the_load_balancer_is_internal(ecs: dict[str, Any]) -> None:
    rules = [
        rule
        for group in resources(ecs, "AWS::EC2::SecurityGroup").values()
        for rule in group["Properties"].get("SecurityGroupIngress", [])
    ]
    rules += [r["Properties"] for r in resources(ecs, "AWS::EC2::SecurityGroupIngress").values()]
    assert [rule.get("CidrIp") for rule in rules if "CidrIp" in rule] == [{"Ref": "UiAllowedCidr"}]
    assert not [rule for rule in rules if "CidrIpv6" in rule]
    # The other ingress rules name a security group of this stack: load balancer -> webserver -> database.
    sources = sorted(rule["SourceSecurityGroupId"]["Ref"] for rule in rules if "SourceSecurityGroupId" in rule)
    assert sources == ["LoadBalancerSecurityGroup", "TaskSecurityGroup"]

    cidr = ecs["Parameters"]["UiAllowedCidr"]
    assert "Default" not in cidr
    assert re.fullmatch(cidr["AllowedPattern"], "10.20.0.0/16") and not re.fullmatch(cidr["AllowedPattern"], "")
    (assertion,) = ecs["Rules"]["UiNotOpenToTheInternet"]["Assertions"]
    assert assertion["Assert"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "UiAllowedCidr"}, "0.0.0.0/0"]}]}

    (balancer,) = resources(ecs, "AWS::ElasticLoadBalancingV2::LoadBalancer").values()
    assert balancer["Properties"]["Scheme"] == "internal"
    assert balancer["Properties"]["Subnets"] == {"Ref": "PrivateSubnetIds"}
    for service in resources(ecs, "AWS::ECS::Service").values():
        network = service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]
        assert network == {
            "AssignPublicIp": "DISABLED",
            "Subnets": {"Ref": "PrivateSubnetIds"},
            "SecurityGroups": [{"Ref": "TaskSecurityGroup"}],
        }


def test_the_database_is_private_encrypted_and_its_password_generated(ecs: dict[str, Any]) -> None:
    (db,) = resources(ecs, "AWS::RDS::DBInstance").values()
    props = db["Properties"]
    assert props["StorageEncrypted"] is True
    assert props["PubliclyAccessible"] is False
    assert props["Engine"] == "postgres" and props["DBName"] == "dagster"
    assert props["VPCSecurityGroups"] == [{"Ref": "DbSecurityGroup"}]
    assert db["DeletionPolicy"] == "Snapshot" and props["DeletionProtection"] is True
    # The password is a dynamic reference resolved by CloudFormation, never a parameter or a literal.
    assert props["MasterUserPassword"] == {"Fn::Sub": "{{resolve:secretsmanager:${DbSecret}:SecretString:password}}"}
    generated = ecs["Resources"]["DbSecret"]["Properties"]["GenerateSecretString"]
    assert generated == {
        "SecretStringTemplate": '{"username": "dagster"}',
        "GenerateStringKey": "password",
        "PasswordLength": 32,
        "ExcludePunctuation": True,
    }
    assert not [name for name in ecs["Parameters"] if re.search("passw|secret", name, re.IGNORECASE)]
    assert "Default" not in ecs["Parameters"]["ImageUri"]


# --- the tasks -----------------------------------------------------------------------------------


def test_the_password_reaches_the_containers_only_as_a_secret(ecs: dict[str, Any]) -> None:
    for name, container in containers(ecs).items():
        assert container["Secrets"] == [
            {"Name": "LAKEHOUSE_POSTGRES_PASSWORD", "ValueFrom": {"Fn::Sub": "${DbSecret}:password::"}}
        ], name
        assert not [e["Name"] for e in container["Environment"] if "PASSWORD" in e["Name"] or "URL" in e["Name"]]
    # The image's entry point assembles the URL from exactly these parts.
    script = ENTRYPOINT.read_text()
    parts = {"LAKEHOUSE_POSTGRES_HOST", "LAKEHOUSE_POSTGRES_PORT", "LAKEHOUSE_POSTGRES_DB", "LAKEHOUSE_POSTGRES_USER"}
    assert parts | {"LAKEHOUSE_POSTGRES_PASSWORD"} == set(re.findall(r"LAKEHOUSE_POSTGRES_[A-Z]+", script)) - {
        "LAKEHOUSE_POSTGRES_URL"
    }
    for container in containers(ecs).values():
        assert parts <= {e["Name"] for e in container["Environment"]}


def test_every_variable_dagster_yaml_reads_is_set_on_every_task(ecs: dict[str, Any]) -> None:
    read = set(re.findall(r"env: ([A-Z_]+)", DAGSTER_YAML.read_text()))
    assert read == {
        "LAKEHOUSE_POSTGRES_URL",  # assembled by the entry point
        "DAGSTER_RUN_TASK_DEFINITION",
        "LAKEHOUSE_COMPUTE_LOG_BUCKET",
        "LAKEHOUSE_COMPUTE_LOG_PREFIX",
    }
    environments = {name: {e["Name"]: e["Value"] for e in c["Environment"]} for name, c in containers(ecs).items()}
    first = next(iter(environments.values()))
    assert all(environment == first for environment in environments.values())  # one instance, one config
    assert read - {"LAKEHOUSE_POSTGRES_URL"} <= set(first)
    assert first["LAKEHOUSE_EXECUTION"] == {"Ref": "LakehouseExecution"}
    assert first["LAKEHOUSE_ROOT"] == {"Fn::Sub": "s3://${LakehouseBucket}/${LakehousePrefix}"}
    assert first["LAKEHOUSE_ALERT_TOPIC_ARN"] == {"Ref": "AlertTopicArn"}
    assert first["LAKEHOUSE_DELTA_LOG_TABLE"] == {"Ref": "DeltaLogTableName"}
    assert ecs["Parameters"]["LakehouseExecution"]["AllowedValues"] == ["glue", "emr_serverless"]  # never local


def test_the_run_launcher_starts_the_run_task_definition_and_its_container(ecs: dict[str, Any]) -> None:
    launcher = yaml.safe_load(DAGSTER_YAML.read_text())["run_launcher"]["config"]
    run = ecs["Resources"]["RunTaskDefinition"]["Properties"]
    assert run["Family"] == {"Fn::Sub": "${AWS::StackName}-run"}
    assert run["ContainerDefinitions"][0]["Name"] == launcher["container_name"] == "run"
    assert run["TaskRoleArn"] == {"Fn::GetAtt": ["RunTaskRole", "Arn"]}
    environment = {e["Name"]: e["Value"] for e in run["ContainerDefinitions"][0]["Environment"]}
    assert environment["DAGSTER_RUN_TASK_DEFINITION"] == run["Family"]
    (run_task,) = [s for s in statements(ecs, "DagsterRole") if s["Action"] == "ecs:RunTask"]
    assert run_task["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task-definition/${AWS::StackName}-run:*"
    }
    assert run_task["Condition"] == {"ArnEquals": {"ecs:cluster": {"Fn::GetAtt": ["Cluster", "Arn"]}}}
    for name in ("WebserverTaskDefinition", "DaemonTaskDefinition"):
        assert ecs["Resources"][name]["Properties"]["TaskRoleArn"] == {"Fn::GetAtt": ["DagsterRole", "Arn"]}


def test_one_daemon_and_logs_with_retention(ecs: dict[str, Any]) -> None:
    daemon = ecs["Resources"]["DaemonService"]["Properties"]
    assert daemon["DesiredCount"] == 1
    assert daemon["DeploymentConfiguration"] == {"MaximumPercent": 100, "MinimumHealthyPercent": 0}
    assert ecs["Resources"]["LogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    for container in containers(ecs).values():
        logs = container["LogConfiguration"]
        assert logs["LogDriver"] == "awslogs"
        assert logs["Options"]["awslogs-group"] == {"Ref": "LogGroup"}


# --- IAM -----------------------------------------------------------------------------------------


def test_the_run_task_role_runs_the_lakehouse_jobs_and_uses_its_bucket_nothing_more(ecs: dict[str, Any]) -> None:
    assert actions(ecs, "RunTaskRole") == {
        "glue:StartJobRun",
        "glue:GetJobRun",
        "glue:GetJobRuns",
        "glue:BatchStopJobRun",
        "emr-serverless:StartJobRun",
        "emr-serverless:GetJobRun",
        "emr-serverless:CancelJobRun",
        "emr-serverless:TagResource",
        "iam:PassRole",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "s3:GetBucketLocation",
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:CreateTable",
        "glue:UpdateTable",
    }
    by_sid = {s["Sid"]: s for s in statements(ecs, "RunTaskRole")}
    jobs = sorted(sub_text(arn).rsplit(":job/", 1)[1] for arn in by_sid["RunTheLakehouseGlueJobs"]["Resource"])
    # Every step's job (lakehouse_assets/execution: LAKEHOUSE_EXECUTION=glue starts <stack>-<step>).
    assert jobs == sorted(f"${{LakehouseStackName}}-{step}" for step in JOB_STEPS)
    assert by_sid["PassTheEmrJobRole"]["Resource"] == {"Ref": "EmrServerlessJobRoleArn"}
    assert by_sid["PassTheEmrJobRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}
    }
    assert by_sid["ReadWriteTheLakehouseRoot"]["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:s3:::${LakehouseBucket}/${LakehousePrefix}/*"
    }


def test_the_dagster_role_launches_watches_and_stops_run_tasks_nothing_more(ecs: dict[str, Any]) -> None:
    assert actions(ecs, "DagsterRole") == {
        "ecs:RunTask",
        "ecs:TagResource",
        "ecs:DescribeTasks",
        "ecs:StopTask",
        "ecs:DescribeTaskDefinition",
        "ec2:DescribeNetworkInterfaces",
        "iam:PassRole",
        "logs:GetLogEvents",
        "s3:ListBucket",
        "s3:GetObject",
        "sns:Publish",
    }
    by_sid = {s["Sid"]: s for s in statements(ecs, "DagsterRole")}
    assert by_sid["PublishAlerts"]["Resource"] == {"Ref": "AlertTopicArn"}
    passing = by_sid["PassExactlyTheRunTasksRoles"]
    assert passing["Resource"] == [{"Fn::GetAtt": ["RunTaskRole", "Arn"]}, {"Fn::GetAtt": ["ExecutionRole", "Arn"]}]
    assert passing["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    task_arn = {"Fn::Sub": "arn:${AWS::Partition}:ecs:${AWS::Region}:${AWS::AccountId}:task/${Cluster}/*"}
    assert by_sid["WatchAndStopTasksOfThisCluster"]["Resource"] == task_arn
    assert by_sid["TagTheRunTasksItStarts"]["Condition"] == {"StringEquals": {"ecs:CreateAction": "RunTask"}}
    # Read-only on the lakehouse: the sensors list and read, the runs write.
    assert by_sid["ReadTheLakehouseRoot"]["Action"] == "s3:GetObject"


def test_the_execution_role_pulls_logs_and_reads_the_one_secret(ecs: dict[str, Any]) -> None:
    assert actions(ecs, "ExecutionRole") == {
        "ecr:GetAuthorizationToken",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
        "ecr:BatchCheckLayerAvailability",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "secretsmanager:GetSecretValue",
    }
    (secret,) = [s for s in statements(ecs, "ExecutionRole") if s["Action"] == "secretsmanager:GetSecretValue"]
    assert secret["Resource"] == {"Ref": "DbSecret"}


def test_roles_trust_ecs_tasks_of_this_account_and_star_only_where_justified(ecs: dict[str, Any]) -> None:
    roles = resources(ecs, "AWS::IAM::Role")
    assert sorted(roles) == ["DagsterRole", "ExecutionRole", "RunTaskRole"]
    for name, role in roles.items():
        (trust,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}, name
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        assert "ManagedPolicyArns" not in role["Properties"]
        for statement in statements(ecs, name):
            assert not [a for a in as_list(statement["Action"]) if "*" in a]
            if "*" in as_list(statement["Resource"]):
                assert set(as_list(statement["Action"])) <= WILDCARD_RESOURCE_ACTIONS, name
                justification = role["Metadata"]["lakehouse"]["wildcard_justification"]
                assert all(a in justification for a in as_list(statement["Action"]))


# --- the lakehouse stack ---------------------------------------------------------------------------


def test_parameters_are_the_lakehouse_stacks_outputs_and_names(ecs: dict[str, Any], lakehouse: dict[str, Any]) -> None:
    outputs = set(lakehouse["Outputs"])
    for parameter in ("LakehouseBucket", "EmrApplicationId", "EmrServerlessJobRoleArn", "AlertTopicArn"):
        assert parameter in outputs
    assert "GlueDatabase" in outputs
    for name in ("LakehousePrefix", "GlueDatabaseName"):
        assert ecs["Parameters"][name]["Default"] == lakehouse["Parameters"][name]["Default"]
        assert ecs["Parameters"][name]["AllowedPattern"] == lakehouse["Parameters"][name]["AllowedPattern"]
    # The jobs the runs start are the ones the lakehouse stack names <stack>-<step>.
    names = {sub_text(job["Properties"]["Name"]) for job in resources(lakehouse, "AWS::Glue::Job").values()}
    assert {f"${{AWS::StackName}}-{step}" for step in JOB_STEPS} <= names
