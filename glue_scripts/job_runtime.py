"""What every job entry point shares: its arguments, its Spark session and Dagster Pipes.

The scripts in `glue_scripts/jobs/` are the AWS Glue jobs of the contract in infra/README.md, and EMR
Serverless runs the same files. Each is a few lines: arguments, session, one step of
`glue_scripts.steps`, `publish`. Plain Python + PySpark + `dagster-pipes`, no Dagster: launched by
Dagster a job reports through Pipes; launched by the Step Functions pipeline it prints a summary and
runs unchanged (docs/ARCHITECTURE.md, "The job scripts").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from glue_scripts.steps import StepReport, outcome_message

if TYPE_CHECKING:
    from dagster_pipes import PipesContext, PipesParamsLoader
    from pyspark.sql import SparkSession


def job_arguments(
    required: Sequence[str], optional: Mapping[str, str | None] | None = None, argv: Sequence[str] | None = None
) -> dict[str, str | None]:
    """The job's `--name value` arguments: Glue's `getResolvedOptions` where it exists, argparse elsewhere.

    `getResolvedOptions` fails on a name that was not passed, so optional names are asked for only
    when present; missing ones get their default. Unknown arguments (Glue's own, Pipes') are ignored.
    """
    argv = list(sys.argv if argv is None else argv)
    optional = dict(optional or {})
    present = [name for name in optional if f"--{name}" in argv]
    try:
        from awsglue.utils import getResolvedOptions
    except ImportError:
        parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
        for name in [*required, *present]:
            parser.add_argument(f"--{name}", required=name in required)
        resolved = vars(parser.parse_known_args(argv[1:])[0])
    else:
        resolved = getResolvedOptions(argv, [*required, *present])
    return {**optional, **{name: resolved[name] for name in [*required, *present]}}


def given(args: Mapping[str, str | None], name: str) -> str:
    """`args[name]` of a required argument, or of an optional one with a default: never None."""
    value = args[name]
    assert value is not None, f"--{name} has no value"
    return value


def glue_conf_pairs(conf: str | None) -> list[tuple[str, str]]:
    """Glue's `--conf` value (`k=v --conf k2=v2 ...`) as pairs."""
    if not conf:
        return []
    pairs = []
    for item in conf.split("--conf"):
        key, sep, value = item.strip().partition("=")
        if sep and key:
            pairs.append((key.strip(), value.strip()))
    return pairs


def spark_session(conf: str | None = None) -> SparkSession:
    """The Glue context's session on Glue; elsewhere the session spark-submit (or PYSPARK_SUBMIT_ARGS) set up.

    Outside Glue, the Glue `--conf` settings (Delta's extension and catalog, UTC) are applied here,
    so the job behaves the same when the same arguments reach it another way.
    """
    try:
        from awsglue.context import GlueContext
        from pyspark.context import SparkContext
    except ImportError:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName("lakehouse-job")
        for key, value in glue_conf_pairs(conf):
            builder = builder.config(key, value)
        return builder.getOrCreate()
    return GlueContext(SparkContext.getOrCreate()).spark_session


@contextmanager
def dagster_pipes(s3_client: Any = None, argv: Sequence[str] | None = None) -> Iterator[PipesContext | None]:
    """Dagster Pipes when Dagster launched this job, else None (and nothing opened, no warning).

    The Dagster side picks the transports: context and messages on S3 carry a `bucket` in their
    parameters, anything else is Pipes' default (a file, inline data, stdout for CloudWatch). The
    Glue client passes its parameters as `--dagster-pipes-*` arguments (read from `argv`, default
    `sys.argv`), the EMR Serverless client as `DAGSTER_PIPES_*` environment variables.
    """
    from dagster_pipes import PipesEnvVarParamsLoader, open_dagster_pipes

    loaders: list[PipesParamsLoader] = [
        _argv_params_loader(list(sys.argv if argv is None else argv)),
        PipesEnvVarParamsLoader(),
    ]
    loader = next((candidate for candidate in loaders if candidate.is_dagster_pipes_process()), None)
    if loader is None:
        yield None
        return
    client = s3_client
    if client is None:
        import boto3

        client = boto3.client("s3")
    with open_dagster_pipes(
        params_loader=loader, context_loader=_context_loader(client), message_writer=_message_writer(client)
    ) as pipes:
        yield pipes


def _argv_params_loader(argv: Sequence[str]) -> PipesParamsLoader:
    from dagster_pipes import PipesCliArgsParamsLoader, decode_param

    class ArgvParamsLoader(PipesCliArgsParamsLoader):
        """`PipesCliArgsParamsLoader` over a given argument list (the stock one reads `sys.argv`)."""

        def is_dagster_pipes_process(self) -> bool:
            return "--dagster-pipes-context" in argv

        def load_context_params(self) -> Any:
            return decode_param(self.parser.parse_known_args(argv)[0].dagster_pipes_context)

        def load_messages_params(self) -> Any:
            return decode_param(self.parser.parse_known_args(argv)[0].dagster_pipes_messages)

    return ArgvParamsLoader()


def _context_loader(s3_client: Any):
    from dagster_pipes import PipesContextLoader, PipesDefaultContextLoader, PipesS3ContextLoader

    class ContextLoader(PipesContextLoader):
        """S3 when the injector put the context in a bucket, else a file or inline data."""

        @contextmanager
        def load_context(self, params):
            loader = PipesS3ContextLoader(s3_client) if "bucket" in params else PipesDefaultContextLoader()
            with loader.load_context(params) as data:
                yield data

    return ContextLoader()


def _message_writer(s3_client: Any):
    from dagster_pipes import PipesDefaultMessageWriter, PipesMessageWriter, PipesS3MessageWriter

    class MessageWriter(PipesMessageWriter):
        """S3 chunks when the reader watches a bucket, else stdout/stderr or a file (CloudWatch reads stdout)."""

        @contextmanager
        def open(self, params):
            writer = PipesS3MessageWriter(s3_client, interval=2) if "bucket" in params else PipesDefaultMessageWriter()
            with writer.open(params) as channel:
                yield channel

    return MessageWriter()


def publish(pipes: PipesContext | None, step: str, report: StepReport) -> None:
    """Report to Dagster through Pipes, or, not launched by Dagster, print what a run log needs."""
    if pipes is None:
        for materialization in report.materializations:
            print(f"{materialization['asset_key']}: {json.dumps(plain(materialization['metadata']), default=str)}")
        for result in report.checks:
            state = "passed" if result["passed"] else f"FAILED ({result['severity']})"
            print(f"check {result['asset_key']}:{result['check_name']} {state}")
        return
    for materialization in report.materializations:
        pipes.report_asset_materialization(asset_key=materialization["asset_key"], metadata=materialization["metadata"])
    for result in report.checks:
        pipes.report_asset_check(
            check_name=result["check_name"],
            passed=result["passed"],
            severity=result["severity"],
            metadata=result["metadata"],
            asset_key=result["asset_key"],
        )
    pipes.report_custom_message(outcome_message(step, report))


def plain(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata with Pipes' typed values unwrapped (for printing)."""
    return {
        key: value["raw_value"] if isinstance(value, dict) and set(value) == {"raw_value", "type"} else value
        for key, value in metadata.items()
    }
