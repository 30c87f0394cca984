"""The GitHub OIDC deploy role (infra/cloudformation/github-oidc.yaml): who may assume it, and what it may do.

The linters run on it with the lakehouse template (test_cloudformation.py). Here, without an AWS
account, the role is held to three things that can be checked statically:

- trust: only deploy.yml's job (its repository and GitHub environment) with the STS audience;
- least privilege: every action is one `lakehouse deploy` calls itself or a resource handler of
  lakehouse.yaml's resource types calls (the handler permissions in AWS's resource schemas, which
  cfn-lint ships), on a resource of a type that action is authorized on (AWS's service authorization
  data, also shipped by cfn-lint), named the way lakehouse.yaml names it; `Resource: "*"` only for
  actions that have no resource-level permissions, each justified;
- wiring: the outputs are exactly the variables deploy.yml reads, and the policies fit IAM's size limit.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse_assets.spark.delta_conf import DEFAULT_TABLE
from tests.infra.test_cloudformation import (
    ECS_TEMPLATE,
    OIDC_TEMPLATE,
    TEMPLATE,
    as_list,
    load_template,
    resources,
    sub_text,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY_WORKFLOW = REPO / ".github" / "workflows" / "deploy.yml"

# What lakehouse_assets/tooling/deploy.py calls itself (boto3), and the S3 reads CloudFormation makes with the
# caller's credentials (DefinitionS3Location; TemplateURL once the template outgrows a request body).
DEPLOY_CALLS = {
    "s3:ListBucket",  # head_bucket
    "s3:CreateBucket",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutEncryptionConfiguration",
    "s3:PutObject",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "cloudformation:GetTemplateSummary",
    "cloudformation:DescribeStacks",  # describe_stack and the waiters
    "cloudformation:DescribeStackEvents",  # failure_reasons
    "cloudformation:CreateStack",
    "cloudformation:UpdateStack",
    "cloudformation:TagResource",  # the stack's lakehouse:stack tag
    # deploy.yml pushes the Dagster image (podman push) after checking for its tag (batch-get-image).
    "ecr:GetAuthorizationToken",
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
}

# For each resource type of lakehouse.yaml and dagster-ecs.yaml, the calls the deploy role cannot do
# without (create, read, update, delete, tag). A new resource type in either template fails the test
# until it is added here and to the role.
REQUIRED_PER_TYPE = {
    "AWS::S3::Bucket": {
        "s3:CreateBucket",
        "s3:PutEncryptionConfiguration",
        "s3:PutBucketPublicAccessBlock",
        "s3:PutBucketVersioning",
        "s3:PutBucketNotification",
        "s3:PutLifecycleConfiguration",
        "s3:PutBucketOwnershipControls",
        "s3:PutBucketTagging",
        "s3:ListBucket",
    },
    "AWS::S3::BucketPolicy": {"s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"},
    "AWS::IAM::Role": {
        "iam:CreateRole",
        "iam:GetRole",
        "iam:PutRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:DeleteRole",
        "iam:UpdateAssumeRolePolicy",
        "iam:TagRole",
    },
    "AWS::Glue::Database": {"glue:CreateDatabase", "glue:GetDatabase", "glue:UpdateDatabase", "glue:DeleteDatabase"},
    "AWS::Glue::Job": {
        "glue:CreateJob",
        "glue:GetJob",
        "glue:UpdateJob",
        "glue:DeleteJob",
        "glue:TagResource",
        "iam:PassRole",
    },
    "AWS::Glue::Trigger": {
        "glue:CreateTrigger",
        "glue:GetTrigger",
        "glue:UpdateTrigger",
        "glue:DeleteTrigger",
        "glue:TagResource",
    },
    "AWS::EMRServerless::Application": {
        "emr-serverless:CreateApplication",
        "emr-serverless:GetApplication",
        "emr-serverless:UpdateApplication",
        "emr-serverless:DeleteApplication",
        "emr-serverless:TagResource",
    },
    "AWS::Athena::WorkGroup": {
        "athena:CreateWorkGroup",
        "athena:GetWorkGroup",
        "athena:UpdateWorkGroup",
        "athena:DeleteWorkGroup",
        "athena:TagResource",
    },
    "AWS::SNS::Topic": {
        "sns:CreateTopic",
        "sns:GetTopicAttributes",
        "sns:SetTopicAttributes",
        "sns:DeleteTopic",
        "sns:TagResource",
    },
    "AWS::SNS::Subscription": {"sns:Subscribe", "sns:Unsubscribe", "sns:GetSubscriptionAttributes"},
    "AWS::DynamoDB::Table": {
        "dynamodb:CreateTable",
        "dynamodb:DescribeTable",
        "dynamodb:UpdateTable",
        "dynamodb:DeleteTable",
        "dynamodb:DescribeTimeToLive",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:TagResource",
    },
    "AWS::Logs::LogGroup": {
        "logs:CreateLogGroup",
        "logs:PutRetentionPolicy",
        "logs:DeleteLogGroup",
        "logs:DescribeLogGroups",
        "logs:TagResource",
    },
    "AWS::StepFunctions::StateMachine": {
        "states:CreateStateMachine",
        "states:DescribeStateMachine",
        "states:UpdateStateMachine",
        "states:DeleteStateMachine",
        "states:TagResource",
        "s3:GetObject",
        "iam:PassRole",
    },
    "AWS::Events::Rule": {
        "events:PutRule",
        "events:DescribeRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:DeleteRule",
        "events:TagResource",
        "iam:PassRole",
    },
    # dagster-ecs.yaml
    "AWS::ECS::Cluster": {"ecs:CreateCluster", "ecs:DescribeClusters", "ecs:DeleteCluster", "ecs:TagResource"},
    "AWS::ECS::TaskDefinition": {
        "ecs:RegisterTaskDefinition",
        "ecs:DescribeTaskDefinition",
        "ecs:DeregisterTaskDefinition",
        "ecs:TagResource",
        "iam:PassRole",
    },
    "AWS::ECS::Service": {
        "ecs:CreateService",
        "ecs:DescribeServices",
        "ecs:UpdateService",
        "ecs:DeleteService",
        "ecs:TagResource",
    },
    "AWS::SecretsManager::Secret": {
        "secretsmanager:CreateSecret",
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetRandomPassword",
        "secretsmanager:DeleteSecret",
        "secretsmanager:TagResource",
    },
    "AWS::SecretsManager::SecretTargetAttachment": {
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "rds:DescribeDBInstances",
    },
    "AWS::RDS::DBSubnetGroup": {
        "rds:CreateDBSubnetGroup",
        "rds:DescribeDBSubnetGroups",
        "rds:ModifyDBSubnetGroup",
        "rds:DeleteDBSubnetGroup",
        "rds:AddTagsToResource",
    },
    "AWS::RDS::DBInstance": {
        "rds:CreateDBInstance",
        "rds:DescribeDBInstances",
        "rds:ModifyDBInstance",
        "rds:DeleteDBInstance",
        "rds:AddTagsToResource",
    },
    "AWS::EC2::SecurityGroup": {
        "ec2:CreateSecurityGroup",
        "ec2:DescribeSecurityGroups",
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DeleteSecurityGroup",
        "ec2:CreateTags",
    },
    "AWS::EC2::SecurityGroupIngress": {
        "ec2:AuthorizeSecurityGroupIngress",
        "ec2:RevokeSecurityGroupIngress",
        "ec2:DescribeSecurityGroupRules",
    },
    "AWS::EC2::SecurityGroupEgress": {
        "ec2:AuthorizeSecurityGroupEgress",
        "ec2:RevokeSecurityGroupEgress",
        "ec2:DescribeSecurityGroupRules",
    },
    "AWS::ElasticLoadBalancingV2::LoadBalancer": {
        "elasticloadbalancing:CreateLoadBalancer",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:ModifyLoadBalancerAttributes",
        "elasticloadbalancing:DeleteLoadBalancer",
        "elasticloadbalancing:AddTags",
    },
    "AWS::ElasticLoadBalancingV2::TargetGroup": {
        "elasticloadbalancing:CreateTargetGroup",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:ModifyTargetGroupAttributes",
        "elasticloadbalancing:DeleteTargetGroup",
        "elasticloadbalancing:AddTags",
    },
    "AWS::ElasticLoadBalancingV2::Listener": {
        "elasticloadbalancing:CreateListener",
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:ModifyListener",
        "elasticloadbalancing:DeleteListener",
    },
}

# Actions without resource-level permissions, granted on Resource "*" (justified in the policy's metadata).
WILDCARD_RESOURCE_ACTIONS = {
    "cloudformation:GetTemplateSummary",
    "emr-serverless:CreateApplication",
    "logs:DescribeLogGroups",
    "lakeformation:DescribeResource",
    "lakeformation:ListResources",
    "lakeformation:DescribeLakeFormationIdentityCenterConfiguration",
    "ecr:GetAuthorizationToken",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
    "secretsmanager:GetRandomPassword",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSecurityGroupRules",
    "ec2:DescribeVpcs",
    "ec2:DescribeSubnets",
    "ec2:DescribeAccountAttributes",
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeInternetGateways",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerAttributes",
    "elasticloadbalancing:DescribeTargetGroups",
    "elasticloadbalancing:DescribeTargetGroupAttributes",
    "elasticloadbalancing:DescribeListeners",
    "elasticloadbalancing:DescribeTags",
    "rds:DescribeDBEngineVersions",
    "rds:DescribeEvents",
}

# Actions that have resource types, but are called in a form that names none, so IAM authorizes them only on
# Resource "*": GetTemplateSummary with the template's body, not a stack's name.
CALLED_WITHOUT_A_RESOURCE = {"cloudformation:GetTemplateSummary"}

# Parameter values to render ARNs with, and the longest each may be (the policy size limit holds for those).
SAMPLE = {
    "AWS::Partition": "aws",
    "AWS::Region": "eu-west-1",
    "AWS::AccountId": "123456789012",
    "GitHubOwner": "acme",
    "GitHubRepository": "lakehouse",
    "GitHubEnvironment": "production",
    "LakehouseStackName": "lakehouse-prod",
    "ArtifactsBucket": "acme-lakehouse-artifacts",
    "ArtifactsKeyPrefix": "",
    "LakehouseBucketName": "acme-lakehouse-data",
    "GlueDatabaseName": "lakehouse",
    "DeltaLogTableName": "lakehouse_delta_log",
    "DagsterVpcId": "vpc-0123456789abcdef0",
}
LONGEST = {
    **SAMPLE,
    "AWS::Partition": "aws-us-gov",
    "AWS::Region": "ap-southeast-3",
    "LakehouseStackName": "s" * 25,
    "ArtifactsBucket": "a" * 63,
    "ArtifactsKeyPrefix": "p" * 100 + "/",
    "LakehouseBucketName": "b" * 63,
    "GlueDatabaseName": "d" * 255,
    "DeltaLogTableName": "t" * 255,
    "DagsterVpcId": "vpc-" + "f" * 17,
}
# IAM's limit for a customer managed policy, in characters without whitespace.
MANAGED_POLICY_LIMIT = 6144


@pytest.fixture(scope="module")
def oidc() -> dict[str, Any]:
    return load_template(OIDC_TEMPLATE)


@pytest.fixture(scope="module")
def lakehouse() -> dict[str, Any]:
    return load_template(TEMPLATE)


@pytest.fixture(scope="module")
def dagster() -> dict[str, Any]:
    return load_template(ECS_TEMPLATE)


def render(value: Any, values: dict[str, str], branch: int = 1) -> Any:
    """The value with !Sub and !Ref resolved from `values`; !If takes its `branch` (1 true, 2 false)."""
    if isinstance(value, dict):
        if "Fn::Sub" in value:
            return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], sub_text(value))
        if "Ref" in value:
            return values[value["Ref"]]
        if "Fn::If" in value:
            return render(value["Fn::If"][branch], values, branch)
        return {key: render(item, values, branch) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, values, branch) for item in value]
    return value


def policies(oidc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources(oidc, "AWS::IAM::ManagedPolicy")


def statements(oidc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    found = [(name, s) for name, p in policies(oidc).items() for s in p["Properties"]["PolicyDocument"]["Statement"]]
    assert all(s["Effect"] == "Allow" for _, s in found)
    return found


def granted_actions(oidc: dict[str, Any]) -> set[str]:
    return {action for _, statement in statements(oidc) for action in as_list(statement["Action"])}


def cfnlint_data() -> Path:
    """AWS's resource schemas and service authorization data, as cfn-lint (a dev dependency) ships them."""
    module = pytest.importorskip("cfnlint.data", reason="cfn-lint is not installed: make install")
    return Path(module.__file__).parent


@cache
def iam_reference() -> dict[str, Any]:
    return json.loads((cfnlint_data() / "AdditionalSpecs" / "Policies.json").read_text())


@cache
def handler_permissions(kind: str) -> set[str]:
    """Every permission the resource type's handlers (and its tagging) may call, from its AWS schema."""
    providers = json.loads((cfnlint_data() / "schemas" / "providers" / "us-east-1.json").read_text())
    schema = json.loads((cfnlint_data() / "schemas" / "resources" / f"{providers[kind]}.json").read_text())
    found = set(schema.get("tagging", {}).get("permissions", []))
    for handler in schema.get("handlers", {}).values():
        found |= set(handler.get("permissions", []))
    return found


def resource_types(action: str) -> list[str]:
    """The resource types `action` is authorized on; empty: no resource-level permissions (Resource "*")."""
    service, name = action.split(":")
    return iam_reference()[service]["Actions"][name.lower()].get("Resources", [])


def arn_patterns(action: str) -> list[re.Pattern[str]]:
    service = action.split(":")[0]
    types = {key.lower(): value for key, value in iam_reference()[service]["Resources"].items()}
    patterns = []
    for kind in resource_types(action):
        for arn_format in types[kind.lower()]["ARNFormats"]:
            regex = re.sub(r"\\\$\\\{(Partition|Region|Account)\\\}", "[^:]+", re.escape(arn_format))
            patterns.append(re.compile(regex.replace(re.escape(".*"), ".*")))
    return patterns


# --- trust -----------------------------------------------------------------------------------------


def test_only_the_deploy_jobs_environment_of_this_repository_may_assume_the_role(oidc: dict[str, Any]) -> None:
    (role,) = resources(oidc, "AWS::IAM::Role").values()
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {
        "Federated": {
            "Fn::If": ["CreateOidcProvider", {"Ref": "GitHubOidcProvider"}, {"Ref": "ExistingOidcProviderArn"}]
        }
    }
    # StringEquals only: no StringLike, so no wildcard subject (another branch, a pull request, a fork).
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": {
                "Fn::Sub": "repo:${GitHubOwner}/${GitHubRepository}:environment:${GitHubEnvironment}"
            },
        }
    }
    assert render(statement["Condition"]["StringEquals"], SAMPLE)["token.actions.githubusercontent.com:sub"] == (
        "repo:acme/lakehouse:environment:production"
    )
    for name in ("GitHubOwner", "GitHubRepository", "GitHubEnvironment"):
        pattern = oidc["Parameters"][name]["AllowedPattern"]
        assert re.fullmatch(pattern, SAMPLE[name])
        assert not re.fullmatch(pattern, "*") and not re.fullmatch(pattern, "a*") and not re.fullmatch(pattern, "a?")


def test_the_trusted_environment_is_the_one_deploy_yml_runs_in(oidc: dict[str, Any]) -> None:
    job = yaml.safe_load(DEPLOY_WORKFLOW.read_text())["jobs"]["deploy"]
    assert job["environment"] == oidc["Parameters"]["GitHubEnvironment"]["Default"] == "production"


def test_the_oidc_provider_is_created_unless_an_existing_one_is_given(oidc: dict[str, Any]) -> None:
    provider = oidc["Resources"]["GitHubOidcProvider"]
    assert provider["Condition"] == "CreateOidcProvider"
    assert oidc["Conditions"]["CreateOidcProvider"] == {"Fn::Equals": [{"Ref": "ExistingOidcProviderArn"}, ""]}
    assert provider["Properties"]["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["Properties"]["ClientIdList"] == ["sts.amazonaws.com"]
    existing = oidc["Parameters"]["ExistingOidcProviderArn"]
    assert existing["Default"] == ""
    pattern = existing["AllowedPattern"]
    assert re.fullmatch(pattern, "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")
    assert re.fullmatch(pattern, "arn:aws-us-gov:iam::123456789012:oidc-provider/token.actions.githubusercontent.com")
    assert not re.fullmatch(pattern, "arn:aws:iam::123456789012:oidc-provider/accounts.google.com")
    assert oidc["Outputs"]["OidcProviderArn"]["Value"] == {
        "Fn::If": ["CreateOidcProvider", {"Ref": "GitHubOidcProvider"}, {"Ref": "ExistingOidcProviderArn"}]
    }


# --- least privilege -----------------------------------------------------------------------------


def test_every_action_is_one_deploy_or_a_handler_of_the_stacks_resource_types_calls(
    oidc: dict[str, Any], lakehouse: dict[str, Any], dagster: dict[str, Any]
) -> None:
    kinds = {resource["Type"] for template in (lakehouse, dagster) for resource in template["Resources"].values()}
    assert kinds == set(REQUIRED_PER_TYPE), "a resource type was added or removed: update the deploy role"
    called = set(DEPLOY_CALLS)
    for kind in kinds:
        called |= handler_permissions(kind)
    granted = granted_actions(oidc)
    assert granted - called == set()
    for kind, required in REQUIRED_PER_TYPE.items():
        assert required <= handler_permissions(kind) | DEPLOY_CALLS, kind  # the table itself is grounded
        assert required - granted == set(), kind


def test_no_attach_policy_no_delete_stack_no_data_access(oidc: dict[str, Any]) -> None:
    granted = granted_actions(oidc)
    assert not {a for a in granted if "*" in a}
    forbidden = {
        "iam:AttachRolePolicy",  # an AWS managed policy (AdministratorAccess) on a stack role
        "iam:PutRolePermissionsBoundary",
        "iam:CreatePolicy",
        "iam:CreateUser",
        "cloudformation:DeleteStack",
        "s3:DeleteBucket",
        "s3:DeleteObject",
        "sts:AssumeRole",
    }
    assert granted & forbidden == set()
    object_statements = [s for _, s in statements(oidc) if {"s3:GetObject", "s3:PutObject"} & set(as_list(s["Action"]))]
    bucket = "arn:aws:s3:::acme-lakehouse-artifacts/"
    objects = sorted(arn for s in object_statements for arn in render(as_list(s["Resource"]), SAMPLE))
    # Objects of the artifacts bucket under the deploy's own prefixes, nothing in the data bucket.
    assert objects == [
        bucket + "cloudformation/*",
        bucket + "cloudformation/*",
        bucket + "glue_scripts/*",
        bucket + "stepfunctions/*",
        bucket + "stepfunctions/*",
    ]


def test_every_resource_is_of_a_type_its_actions_are_authorized_on(oidc: dict[str, Any]) -> None:
    for owner, statement in statements(oidc):
        arns = as_list(statement["Resource"])
        for action in as_list(statement["Action"]):
            if not resource_types(action) or action in CALLED_WITHOUT_A_RESOURCE:
                assert arns == ["*"], f"{owner} {statement['Sid']}: {action} has no resource-level permissions"
                continue
            assert "*" not in arns, f"{owner} {statement['Sid']}: {action} can be narrowed to a resource"
            for branch in (1, 2):
                for arn in render(arns, SAMPLE, branch):
                    assert any(p.fullmatch(arn) for p in arn_patterns(action)), f"{action} on {arn}"


def test_resource_star_only_for_actions_without_resource_level_permissions(oidc: dict[str, Any]) -> None:
    wildcard = [(owner, s) for owner, s in statements(oidc) if "*" in as_list(s["Resource"])]
    assert {a for _, s in wildcard for a in as_list(s["Action"])} == WILDCARD_RESOURCE_ACTIONS
    for owner, statement in wildcard:
        justification = oidc["Resources"][owner]["Metadata"]["lakehouse"]["wildcard_justification"]
        for action in as_list(statement["Action"]):
            assert action in justification, f"{owner}: Resource * for {action} not explained"
    (create,) = [s for _, s in wildcard if s["Action"] == "emr-serverless:CreateApplication"]
    assert create["Condition"] == {"StringEquals": {"aws:RequestTag/lakehouse:stack": {"Ref": "LakehouseStackName"}}}


def test_roles_are_passed_only_to_their_services(
    oidc: dict[str, Any], lakehouse: dict[str, Any], dagster: dict[str, Any]
) -> None:
    passing = {s["Sid"]: s for _, s in statements(oidc) if "iam:PassRole" in as_list(s["Action"])}
    assert sorted(passing) == ["PassTheDagsterStacksRolesToEcsTasks", "PassTheStacksRolesToTheirServices"]
    assert all(s["Action"] == "iam:PassRole" for s in passing.values())
    lakehouse_roles = passing["PassTheStacksRolesToTheirServices"]
    services = lakehouse_roles["Condition"]["StringEquals"]["iam:PassedToService"]
    assert sorted(services) == ["events.amazonaws.com", "glue.amazonaws.com", "states.amazonaws.com"]
    passed = sorted(sub_text(arn).rsplit(":role/", 1)[1] for arn in lakehouse_roles["Resource"])
    assert passed == [
        "${LakehouseStackName}-EventsRole-*",
        "${LakehouseStackName}-GlueJobRole-*",
        "${LakehouseStackName}-StateMachineRole-*",
    ]
    # Each passed role is the one its service's resources use in lakehouse.yaml.
    users = {
        "GlueJobRole": [j["Properties"]["Role"] for j in resources(lakehouse, "AWS::Glue::Job").values()],
        "StateMachineRole": [lakehouse["Resources"]["StateMachine"]["Properties"]["RoleArn"]],
        "EventsRole": [t["RoleArn"] for t in lakehouse["Resources"]["LandingRule"]["Properties"]["Targets"]],
    }
    for role, references in users.items():
        assert all(reference == {"Fn::GetAtt": [role, "Arn"]} for reference in references), role

    # The Dagster stack's three roles, to ECS tasks only: exactly the roles its task definitions take.
    dagster_roles = passing["PassTheDagsterStacksRolesToEcsTasks"]
    assert dagster_roles["Condition"] == {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}}
    passed = sorted(sub_text(arn).rsplit(":role/", 1)[1] for arn in dagster_roles["Resource"])
    taken = {
        reference["Fn::GetAtt"][0]
        for definition in resources(dagster, "AWS::ECS::TaskDefinition").values()
        for reference in (definition["Properties"]["ExecutionRoleArn"], definition["Properties"]["TaskRoleArn"])
    }
    assert passed == sorted(f"${{LakehouseStackName}}-dagster-{role}-*" for role in taken)
    assert sorted(taken) == sorted(resources(dagster, "AWS::IAM::Role"))


def test_names_are_the_ones_the_lakehouse_template_gives(oidc: dict[str, Any], lakehouse: dict[str, Any]) -> None:
    arns = [sub_text(arn) for _, s in statements(oidc) for arn in as_list(s["Resource"]) if arn != "*"]
    arns += [
        sub_text(branch)
        for _, s in statements(oidc)
        if isinstance(s["Resource"], dict) and "Fn::If" in s["Resource"]
        for branch in s["Resource"]["Fn::If"][1:]
    ]

    def covered(name: str) -> bool:
        return any(arn.endswith(name.replace("${AWS::StackName}", "${LakehouseStackName}")) for arn in arns)

    name_properties = {
        "AWS::Glue::Job": "Name",
        "AWS::Glue::Trigger": "Name",
        "AWS::Athena::WorkGroup": "Name",
        "AWS::SNS::Topic": "TopicName",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::StepFunctions::StateMachine": "StateMachineName",
    }
    named = [
        sub_text(resource["Properties"][prop])
        for kind, prop in name_properties.items()
        for resource in resources(lakehouse, kind).values()
    ]
    assert len(named) == 11  # 6 jobs, the maintenance trigger, workgroup, topic, log group, state machine
    assert [name for name in named if not covered(name)] == []
    # CloudFormation names the roles and the rule <stack>-<logical id>-<suffix>.
    for kind in ("AWS::IAM::Role", "AWS::Events::Rule"):
        for logical in resources(lakehouse, kind):
            assert covered(f"${{AWS::StackName}}-{logical}-*"), logical
    generated_bucket = lakehouse["Resources"]["LakehouseBucket"]["Properties"]["BucketName"]["Fn::If"][1]
    assert covered(sub_text(generated_bucket))
    assert lakehouse["Parameters"]["GlueDatabaseName"]["Default"] == oidc["Parameters"]["GlueDatabaseName"]["Default"]
    assert covered(":database/${GlueDatabaseName}")
    assert lakehouse["Parameters"]["DeltaLogTableName"].get("Default") in (None, DEFAULT_TABLE)
    assert oidc["Parameters"]["DeltaLogTableName"]["Default"] == DEFAULT_TABLE
    assert covered(":table/${DeltaLogTableName}")
    assert covered(":stack/${LakehouseStackName}/*")


def test_names_are_the_ones_the_dagster_template_gives(oidc: dict[str, Any], dagster: dict[str, Any]) -> None:
    """The Dagster stack is <stack>-dagster (deploy.py): its resources' names, as the role names them."""
    from lakehouse_assets.tooling.deploy import DAGSTER_STACK_SUFFIX

    assert DAGSTER_STACK_SUFFIX == "-dagster"
    arns = [sub_text(arn) for _, s in statements(oidc) for arn in as_list(s["Resource"]) if arn != "*"]

    def covered(suffix: str) -> bool:
        name = suffix.replace("${AWS::StackName}", "${LakehouseStackName}-dagster")
        return any(arn.endswith(name) for arn in arns)

    props = {name: r["Properties"] for name, r in dagster["Resources"].items()}
    assert covered(":cluster/" + sub_text(props["Cluster"]["ClusterName"]))
    assert covered(":log-group:" + sub_text(props["LogGroup"]["LogGroupName"]))
    assert covered(":secret:" + sub_text(props["DbSecret"]["Name"]) + "-*")
    assert covered(":db:" + sub_text(props["Db"]["DBInstanceIdentifier"]))
    assert covered(":subgrp:" + sub_text(props["DbSubnetGroup"]["DBSubnetGroupName"]))
    assert covered(":loadbalancer/app/" + sub_text(props["LoadBalancer"]["Name"]) + "/*")
    assert covered(":targetgroup/" + sub_text(props["WebserverTargetGroup"]["Name"]) + "/*")
    assert covered(":service/${AWS::StackName}/*")
    families = [sub_text(d["Family"]) for d in props.values() if "Family" in d]
    assert families == ["${AWS::StackName}-webserver", "${AWS::StackName}-daemon", "${AWS::StackName}-run"]
    assert covered(":task-definition/${AWS::StackName}-*:*")
    assert covered(":stack/${AWS::StackName}/*")
    for logical in resources(dagster, "AWS::IAM::Role"):
        assert covered(f":role/${{AWS::StackName}}-{logical}-*"), logical
    # The security groups' ids are generated: their changes are held to the Dagster VPC.
    (change,) = [s for _, s in statements(oidc) if s["Sid"] == "ChangeSecurityGroupsOfTheDagsterVpc"]
    assert render(change["Condition"], SAMPLE) == {
        "ArnEquals": {"ec2:Vpc": "arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0123456789abcdef0"}
    }


def test_the_stack_name_is_short_enough_for_untruncated_generated_names(
    oidc: dict[str, Any], lakehouse: dict[str, Any], dagster: dict[str, Any]
) -> None:
    pattern = oidc["Parameters"]["LakehouseStackName"]["AllowedPattern"]
    assert re.fullmatch(pattern, "s" * 25) and not re.fullmatch(pattern, "s" * 26)
    assert not re.fullmatch(pattern, "Lakehouse")  # the data bucket is named after it
    longest_role = max(resources(lakehouse, "AWS::IAM::Role"), key=len)
    assert len(f"{'s' * 25}-{longest_role}-{'X' * 13}") <= 64  # IAM's limit for a role name
    assert len(f"{'s' * 25}-123456789012-ap-southeast-3") <= 63  # S3's, for the generated bucket name
    longest_dagster_role = max(resources(dagster, "AWS::IAM::Role"), key=len)
    assert len(f"{'s' * 25}-dagster-{longest_dagster_role}-{'X' * 13}") <= 64
    # Load balancer and target group names are at most 32 characters.
    for logical in ("LoadBalancer", "WebserverTargetGroup"):
        name = sub_text(dagster["Resources"][logical]["Properties"]["Name"])
        assert len(name.replace("${LakehouseStackName}", "s" * 25)) <= 32, logical


# --- wiring ------------------------------------------------------------------------------------------


def test_outputs_are_exactly_the_variables_deploy_yml_reads(oidc: dict[str, Any]) -> None:
    workflow = DEPLOY_WORKFLOW.read_text()
    read = set(re.findall(r"\bvars\.([A-Z_]+)", workflow))
    assert read == {
        "AWS_DEPLOY_ROLE_ARN",
        "AWS_REGION",
        "LAKEHOUSE_STACK",
        "LAKEHOUSE_ARTIFACTS_BUCKET",
        "LAKEHOUSE_ECR_REPOSITORY",
    }
    outputs = {
        match.group(1): name
        for name, output in oidc["Outputs"].items()
        if (match := re.match(r"GitHub variable ([A-Z_]+) - ", output.get("Description", "")))
    }
    assert set(outputs) == read
    credentials = next(
        step
        for step in yaml.safe_load(workflow)["jobs"]["deploy"]["steps"]
        if step.get("uses", "").startswith("aws-actions/configure-aws-credentials")
    )
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert oidc["Outputs"][outputs["AWS_DEPLOY_ROLE_ARN"]]["Value"] == {"Fn::GetAtt": ["DeployRole", "Arn"]}
    assert oidc["Outputs"][outputs["AWS_REGION"]]["Value"] == {"Ref": "AWS::Region"}
    assert oidc["Outputs"][outputs["LAKEHOUSE_STACK"]]["Value"] == {"Ref": "LakehouseStackName"}
    assert oidc["Outputs"][outputs["LAKEHOUSE_ARTIFACTS_BUCKET"]]["Value"] == {"Ref": "ArtifactsBucket"}
    assert oidc["Outputs"][outputs["LAKEHOUSE_ECR_REPOSITORY"]]["Value"] == {"Ref": "DagsterImageRepository"}


def test_the_policies_are_attached_to_the_role_and_fit_iams_size_limit(oidc: dict[str, Any]) -> None:
    assert sorted(policies(oidc)) == [
        "DeployArtifactsAndStackPolicy",
        "DeployDagsterComputePolicy",
        "DeployDagsterNetworkPolicy",
        "DeployImagePolicy",
        "DeployStackDataPolicy",
        "DeployStackPipelinePolicy",
        "DeployStackRolesPolicy",
    ]
    role = oidc["Resources"]["DeployRole"]["Properties"]
    assert "Policies" not in role and "ManagedPolicyArns" not in role
    for name, policy in policies(oidc).items():
        assert policy["Properties"]["Roles"] == [{"Ref": "DeployRole"}], name
        for branch in (1, 2):
            document = render(policy["Properties"]["PolicyDocument"], LONGEST, branch)
            size = len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))
            assert size < MANAGED_POLICY_LIMIT, f"{name}: {size} characters with the longest parameter values"
