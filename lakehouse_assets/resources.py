"""Resources, keyed by environment: where the lakehouse root is, and which Spark runs the code.

`LAKEHOUSE_ENV` picks the set. `local` (the default) keeps everything on this machine: a folder root
(`./lakehouse_data`, or `LAKEHOUSE_ROOT`) and an in-process Spark session with Delta from the cached
jars. `aws` orchestrates only: an s3:// root, and the Spark steps on AWS Glue or EMR Serverless
(`LAKEHOUSE_EXECUTION`, default glue). Setting `LAKEHOUSE_EXECUTION=glue|emr_serverless` alone also
selects `aws`. The assets are the same in both.

An `s3://bucket/prefix` root gets its boto3 client from dagster-aws's `S3Resource`, nested in the
lakehouse resource: region, endpoint (`AWS_ENDPOINT_URL` for moto, MinIO or LocalStack) and
credentials come from boto3's standard chain unless set on it. The Spark side (s3a) reads the
same environment (`spark.config`).

The Glue Data Catalog is switched by `LAKEHOUSE_CATALOG`: `none` (the default, and what runs locally)
or `glue` (register the tables in the Glue database `LAKEHOUSE_GLUE_DATABASE`, default `lakehouse`,
through `GlueCatalogResource`'s boto3 client). Locally the catalog asset only records what it would
register; the local stand-in for Athena is `lakehouse query`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import boto3
from dagster import ConfigurableResource, EnvVar
from dagster_aws.s3 import S3Resource
from dagster_aws.utils import ResourceWithBoto3Configuration, construct_boto_client_retry_config

from glue_scripts.catalog import DEFAULT_DATABASE
from glue_scripts.quality import (
    DEFAULT_REJECTION_MAX_SHARE,
    DEFAULT_REJECTION_MIN_ROWS,
    DEFAULT_REJECTION_WARN_SHARE,
    MAX_SHARE_SETTING,
    MIN_ROWS_SETTING,
    RejectionPolicy,
)
from glue_scripts.storage import Store, open_store
from lakehouse_assets.alerts import alert_resource
from lakehouse_assets.execution import GLUE, LOCAL, LocalExecution, execution_from_environment, execution_name

DEFAULT_ROOT = "./lakehouse_data"


class LakehouseResource(ConfigurableResource):
    """The lakehouse root (a local folder or `s3://bucket/prefix`) and its operating thresholds."""

    root: str = DEFAULT_ROOT
    # The rejection-rate check warns when a batch rejects more than this share of its decided rows.
    rejection_warn_share: float = DEFAULT_REJECTION_WARN_SHARE
    # A batch rejecting more than this share is held in landing (nothing merged), from `rejection_min_rows` up.
    rejection_max_share: float = DEFAULT_REJECTION_MAX_SHARE
    rejection_min_rows: int = DEFAULT_REJECTION_MIN_ROWS
    # The S3 client for an s3:// root; unset, boto3's defaults (region, AWS_ENDPOINT_URL, credentials chain).
    s3: S3Resource

    def __init__(self, **data: Any) -> None:
        # Dagster drops a class-level default of a nested resource field, so the default is set here.
        data.setdefault("s3", S3Resource())
        super().__init__(**data)

    def rejection_policy(self) -> RejectionPolicy:
        return RejectionPolicy(self.rejection_warn_share, self.rejection_max_share, self.rejection_min_rows)

    def store(self) -> Store:
        if self.root.startswith("s3://"):
            return open_store(self.root, self.s3.get_client())
        return open_store(self.root)


CATALOG_MODES = ("none", "glue")


class GlueCatalogResource(ResourceWithBoto3Configuration):
    """The Glue database Athena reads, and whether to write to it at all.

    `enabled` false (`LAKEHOUSE_CATALOG=none`): the catalog asset records the table inputs it would
    register and makes no AWS call, so a laptop without AWS runs the whole graph. True (`glue`):
    `get_client()` is a boto3 Glue client from the standard chain (credentials, `AWS_DEFAULT_REGION`
    unless `region_name` is set, `AWS_ENDPOINT_URL` for moto or LocalStack unless `endpoint_url` is).
    """

    database: str = DEFAULT_DATABASE
    enabled: bool = False

    def get_client(self) -> Any:
        session = boto3.session.Session(
            profile_name=self.profile_name,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
        )
        return session.client(
            "glue",
            region_name=self.region_name,
            endpoint_url=self.endpoint_url,
            use_ssl=self.use_ssl,
            verify=self.verify,
            config=construct_boto_client_retry_config(self.max_attempts),
        )


def env_or_default(variable: str, default: str) -> str:
    """`EnvVar(variable)` when the environment sets it, else `default`.

    Dagster reads an `EnvVar` where the resource is used (the run, the sensor's tick) and the UI shows
    the variable's name, not its value.
    """
    return EnvVar(variable) if os.environ.get(variable) else default


def catalog_resource() -> GlueCatalogResource:
    """`LAKEHOUSE_CATALOG` (none | glue) and `LAKEHOUSE_GLUE_DATABASE` as a `GlueCatalogResource`."""
    mode = os.environ.get("LAKEHOUSE_CATALOG", "none")
    if mode not in CATALOG_MODES:
        raise ValueError(f"unknown LAKEHOUSE_CATALOG {mode!r}; expected one of {', '.join(CATALOG_MODES)}")
    return GlueCatalogResource(
        database=env_or_default("LAKEHOUSE_GLUE_DATABASE", DEFAULT_DATABASE), enabled=mode == "glue"
    )


def default_root() -> str:
    """The root's value: `LAKEHOUSE_ROOT`, else ./lakehouse_data (for the CLI, which needs it now)."""
    return os.environ.get("LAKEHOUSE_ROOT") or DEFAULT_ROOT


def lakehouse_resource(root: str | None = None) -> LakehouseResource:
    """The root (`root`, else `LAKEHOUSE_ROOT`, else ./lakehouse_data) and the rejection thresholds.

    The shares are read here: `EnvVar` carries strings and whole numbers only.
    """
    min_rows = EnvVar.int(MIN_ROWS_SETTING) if os.environ.get(MIN_ROWS_SETTING) else DEFAULT_REJECTION_MIN_ROWS
    return LakehouseResource(
        root=root or env_or_default("LAKEHOUSE_ROOT", DEFAULT_ROOT),
        rejection_warn_share=float(os.environ.get("LAKEHOUSE_REJECTION_WARN_SHARE", DEFAULT_REJECTION_WARN_SHARE)),
        rejection_max_share=float(os.environ.get(MAX_SHARE_SETTING, DEFAULT_REJECTION_MAX_SHARE)),
        rejection_min_rows=min_rows,
    )


def local_resources(root: str | None = None) -> dict[str, Any]:
    """`local`: a folder (or s3://) root and the Spark steps in this process, with the cached jars."""
    return {
        "lakehouse": lakehouse_resource(root),
        "execution": LocalExecution(),
        "catalog": catalog_resource(),
        # Alerts (failed runs, quarantined files) to LAKEHOUSE_ALERT_TOPIC_ARN; without it, log lines.
        "alerts": alert_resource(),
    }


def aws_resources(root: str | None = None) -> dict[str, Any]:
    """`aws`: Dagster orchestrates, AWS computes. An s3:// root, the Spark steps on AWS Glue or EMR
    Serverless (`LAKEHOUSE_EXECUTION`, default glue; configured from the environment: see execution/)."""
    environ = {"LAKEHOUSE_EXECUTION": GLUE, **os.environ}
    if execution_name(environ) == LOCAL:
        raise ValueError("LAKEHOUSE_ENV=aws runs the Spark steps on AWS: LAKEHOUSE_EXECUTION=glue or emr_serverless")
    return {
        "lakehouse": lakehouse_resource(root),
        "execution": execution_from_environment(environ),
        "catalog": catalog_resource(),
        "alerts": alert_resource(),
    }


RESOURCES_BY_ENVIRONMENT = {"local": local_resources, "aws": aws_resources}


def environment_name(environ: Mapping[str, str] | None = None) -> str:
    """`LAKEHOUSE_ENV` (local | aws); unset, `aws` when `LAKEHOUSE_EXECUTION` names an AWS service, else `local`."""
    environ = os.environ if environ is None else environ
    execution = execution_name(environ)
    name = known_environment(environ.get("LAKEHOUSE_ENV") or ("local" if execution == LOCAL else "aws"))
    if name == "local" and execution != LOCAL:
        raise ValueError(f"LAKEHOUSE_EXECUTION={execution} runs on AWS: LAKEHOUSE_ENV=aws (or unset), not local")
    return name


def known_environment(name: str) -> str:
    if name not in RESOURCES_BY_ENVIRONMENT:
        raise ValueError(f"unknown LAKEHOUSE_ENV {name!r}; expected one of {', '.join(RESOURCES_BY_ENVIRONMENT)}")
    return name


def resources_for_environment(environment: str | None = None, root: str | None = None) -> dict[str, Any]:
    return RESOURCES_BY_ENVIRONMENT[known_environment(environment or environment_name())](root)
