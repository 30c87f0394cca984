"""Where the Spark steps run: in this process, on AWS Glue, or on EMR Serverless (`LAKEHOUSE_EXECUTION`).

The asset definitions are the same for all three; their bodies hand the Spark work to the
`execution` resource (`base.Execution`): `local.LocalExecution` (the default) or one of
`remote`'s executions.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from lakehouse_assets.execution.base import EMR_SERVERLESS, EXECUTIONS, GLUE, LOCAL, Execution, StepOutput
from lakehouse_assets.execution.local import LocalExecution
from lakehouse_assets.execution.remote import JOB_STEPS, EmrServerlessExecution, GlueExecution, RemoteExecution

__all__ = [
    "EMR_SERVERLESS",
    "EXECUTIONS",
    "GLUE",
    "LOCAL",
    "EmrServerlessExecution",
    "Execution",
    "GlueExecution",
    "LocalExecution",
    "RemoteExecution",
    "StepOutput",
    "execution_from_environment",
    "execution_name",
]


def execution_name(environ: Mapping[str, str] | None = None) -> str:
    environ = os.environ if environ is None else environ
    name = environ.get("LAKEHOUSE_EXECUTION", LOCAL)
    if name not in EXECUTIONS:
        raise ValueError(f"unknown LAKEHOUSE_EXECUTION {name!r}; expected one of {', '.join(EXECUTIONS)}")
    return name


def execution_from_environment(environ: Mapping[str, str] | None = None) -> Execution:
    """The `execution` resource `LAKEHOUSE_EXECUTION` asks for, configured from the environment.

    glue: `LAKEHOUSE_STACK` names the jobs `<stack>-<step>` (ingest, process, archive, analytics,
    catalog, maintenance), or set each with `LAKEHOUSE_GLUE_<STEP>_JOB`.
    emr_serverless: `LAKEHOUSE_EMR_APPLICATION_ID`, `LAKEHOUSE_EMR_EXECUTION_ROLE_ARN`,
    `LAKEHOUSE_ARTIFACTS_URI` (`s3://<artifacts bucket>/<prefix>`), optional `LAKEHOUSE_EMR_PYTHON_ARCHIVE`;
    the jobs' Delta log store table is `LAKEHOUSE_DELTA_LOG_TABLE` in this process's region (`spark.delta_conf`).
    Both read Pipes' messages from S3 every `LAKEHOUSE_PIPES_POLL_SECONDS` (default 5).
    """
    environ = os.environ if environ is None else environ
    name = execution_name(environ)
    if name == LOCAL:
        return LocalExecution()
    poll = float(
        environ.get("LAKEHOUSE_PIPES_POLL_SECONDS", RemoteExecution.model_fields["pipes_poll_seconds"].default)
    )
    if name == GLUE:
        stack = environ.get("LAKEHOUSE_STACK")

        def job(step: str) -> str:
            job_name = environ.get(f"LAKEHOUSE_GLUE_{step.upper()}_JOB") or (f"{stack}-{step}" if stack else None)
            if not job_name:
                raise ValueError(f"LAKEHOUSE_EXECUTION=glue needs LAKEHOUSE_STACK or LAKEHOUSE_GLUE_{step.upper()}_JOB")
            return job_name

        return GlueExecution(job_names={step: job(step) for step in JOB_STEPS}, pipes_poll_seconds=poll)
    names = ("LAKEHOUSE_EMR_APPLICATION_ID", "LAKEHOUSE_EMR_EXECUTION_ROLE_ARN", "LAKEHOUSE_ARTIFACTS_URI")
    missing = [variable for variable in names if not environ.get(variable)]
    if missing:
        raise ValueError(f"LAKEHOUSE_EXECUTION=emr_serverless needs {', '.join(missing)}")
    return EmrServerlessExecution(
        application_id=environ["LAKEHOUSE_EMR_APPLICATION_ID"],
        execution_role_arn=environ["LAKEHOUSE_EMR_EXECUTION_ROLE_ARN"],
        artifacts_uri=environ["LAKEHOUSE_ARTIFACTS_URI"],
        python_archive=environ.get("LAKEHOUSE_EMR_PYTHON_ARCHIVE", ""),
        pipes_poll_seconds=poll,
    )
