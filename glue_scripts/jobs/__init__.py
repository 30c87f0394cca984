"""What the job entry points share: arguments, the Spark session, Dagster Pipes, and the steps themselves.

The scripts next to this file (`ingest.py`, `process.py`, `archive.py`, `catalog.py`) are the AWS Glue
jobs of the contract in infra/README.md; EMR Serverless runs the same files as its entry points. Each
is a few lines around one step function defined here, and those step functions are also what
Dagster's in-process (local) runner calls. So the same code reads the tables, calls the stages in
`glue_scripts.stages`, computes the check results (`glue_scripts.quality`) and builds the metadata
Dagster shows, whichever of the three runners ran it. Everything here is plain Python + PySpark +
`dagster-pipes` (the only extra module the jobs install; ingesting `.xlsx` landings also needs
`openpyxl`, e.g. `--additional-python-modules openpyxl==3.1.5` on Glue), no Dagster.

This lives in `__init__.py` on purpose: `lakehouse deploy` uploads every other `jobs/*.py` as a job
script, while the whole package, this module included, travels in the `--extra-py-files` zip.

- **Arguments** come the Glue way (`awsglue.utils.getResolvedOptions`, names without dashes), or,
  where `awsglue` is not importable (EMR Serverless, a laptop, the tests), from an argparse parser
  that takes the same `--name value` pairs and ignores the rest (`--JOB_NAME`, `--TempDir`, ...).
- **Spark** is the Glue context's session on Glue, otherwise a plain builder (what `spark-submit`
  or `PYSPARK_SUBMIT_ARGS` configured), plus the Glue `--conf` argument's settings when given.
- **Pipes**: launched by Dagster (the Glue client passes `--dagster-pipes-context`/`-messages`
  arguments, the EMR Serverless client `DAGSTER_PIPES_*` driver environment variables), a job
  reports its materializations, every check result of its asset and its stage outcome (a custom
  message, which Dagster turns into per-file events) through S3 or stdout, whichever the Dagster
  side chose. Not launched by Dagster (the Step Functions pipeline), it opens nothing, prints a
  summary and runs unchanged.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from glue_scripts import quality, stages
from glue_scripts.contracts import REJECT_REASONS, RUN_ID, SOURCE_FILE, SOURCE_LINE, DatasetContract
from glue_scripts.delta_tables import read_table
from glue_scripts.storage import ARCHIVED, PROCESSED, RAW, REJECTED, Store

if TYPE_CHECKING:
    from dagster_pipes import PipesContext, PipesParamsLoader
    from pyspark.sql import SparkSession

PREVIEW_ROWS = 5
ARCHIVE_ASSET_KEY = f"{ARCHIVED}/landed_files"
OUTCOME_MESSAGE = "lakehouse_outcomes"
DEFAULT_REJECTION_WARN_SHARE = quality.DEFAULT_REJECTION_WARN_SHARE
DEFAULT_REJECTION_MAX_SHARE = quality.DEFAULT_REJECTION_MAX_SHARE
DEFAULT_REJECTION_MIN_ROWS = quality.DEFAULT_REJECTION_MIN_ROWS


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------------------------------------
# the steps: stage call + what Dagster is told about it


@dataclass
class StepReport:
    """A step's stage outcomes, and the materializations and check results to report, as plain dicts.

    Materializations are `{"asset_key": "raw/orders", "metadata": {...}}`; check results are
    `glue_scripts.quality`'s dicts. Metadata values are raw (int, float, str) or Pipes' typed form
    (`{"raw_value": ..., "type": "json" | "md"}`), which Dagster converts the same way whether the
    dict crossed Pipes or not.
    """

    outcomes: list[Any]
    materializations: list[dict[str, Any]] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)


def ingest_step(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    run_id: str,
    now: datetime,
    only_versions: Sequence[str] | None = None,
) -> StepReport:
    """landing -> raw/<dataset>: all waiting files, or only the file versions named (a sensor batch)."""
    outcome = stages.ingest_landing(spark, store, contract, run_id, now, only_versions=only_versions)
    metadata = {
        "files_ingested": len(outcome.rows_by_file),
        "rows_ingested": outcome.rows_ingested,
        "files_quarantined": len(outcome.quarantined),
        "quarantined": quality.json_metadata(outcome.quarantined),
        "files_already_ingested": len(outcome.already_ingested),
        "files_replayed": quality.json_metadata(outcome.replayed),
        "files_not_in_landing": quality.json_metadata(outcome.not_in_landing),
        "rows_by_file": quality.json_metadata(outcome.rows_by_file),
        "table_version": outcome.table_version,
    }
    return StepReport([outcome], [{"asset_key": f"{RAW}/{contract.name}", "metadata": metadata}])


def process_step(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    run_id: str,
    now: datetime,
    policy: quality.RejectionPolicy = quality.DEFAULT_POLICY,
    batch_run_ids: Sequence[str] | None = None,
) -> StepReport:
    """raw -> processed + rejected, holding a batch over `policy`'s limit; with `batch_run_ids`, also
    every check of processed/<dataset> (over the batch of those runs).

    In-process, Dagster's own asset checks measure the table in their own steps, so the local runner
    passes no run ids; a remote job has the Spark session, so it measures them here, once.
    """
    outcome = stages.process_batch(spark, store, contract, run_id, now, policy)
    decided = outcome.rows_accepted + outcome.rows_rejected
    held_files = {version.rsplit("#", 1)[0]: reason for version, reason in outcome.held.items()}
    still_held = [version.rsplit("#", 1)[0] for version in outcome.still_held]
    batch = {
        "files_processed": len(outcome.files),
        "rows_read": outcome.rows_read,
        "rows_accepted": outcome.rows_accepted,
        "rows_rejected": outcome.rows_rejected,
        "rows_waiting": outcome.rows_waiting,
        "rows_held": outcome.rows_held,
        "rejection_rate": outcome.rows_rejected / decided if decided else 0.0,
        "late_rows_resolved": outcome.late_rows_resolved,
        "late_rows_waiting": outcome.late_rows_waiting,
        "files_held": quality.json_metadata(held_files),
        "files_still_held": quality.json_metadata(still_held),
        "waiting_by_reason": quality.json_metadata(outcome.waiting_by_reason),
    }
    # Every reason, zeros included, so the UI can plot each one over time.
    by_reason = {f"rejected_{reason}": outcome.rejected_by_reason.get(reason, 0) for reason in contract.reason_codes}
    preview = read_table(spark, stages.table_path(store, PROCESSED, contract)).limit(PREVIEW_ROWS).collect()
    processed = {
        **batch,
        **by_reason,
        "dagster/row_count": outcome.processed_rows,
        "table_version": outcome.processed_version,
        **({"partitions": outcome.partitions} if outcome.partitions is not None else {}),
        "partitions_touched": quality.json_metadata(outcome.partitions_touched),
        "files": quality.json_metadata(outcome.files),
        "preview": {"raw_value": markdown_table(preview), "type": "md"},
    }
    rejected = {
        "preview": {"raw_value": rejected_preview(spark, store, contract, run_id, outcome), "type": "md"},
        "rows_rejected": outcome.rows_rejected,
        "rows_waiting": outcome.rows_waiting,
        **by_reason,
        "late_rows_resolved": outcome.late_rows_resolved,
        "late_rows_waiting": outcome.late_rows_waiting,
        "table_version": outcome.rejected_version,
    }
    checks = []
    if batch_run_ids is not None:
        checks = quality.check_results(spark, store, contract, batch_run_ids, policy)
    return StepReport(
        [outcome],
        [
            {"asset_key": f"{PROCESSED}/{contract.name}", "metadata": processed},
            {"asset_key": f"{REJECTED}/{contract.name}", "metadata": rejected},
        ],
        checks,
    )


def rejected_preview(
    spark: SparkSession, store: Store, contract: DatasetContract, run_id: str, outcome: stages.ProcessOutcome
) -> str:
    """The first rows this batch rejected or left waiting, with their reasons (no Spark job when there are none)."""
    if not (outcome.rows_rejected or outcome.rows_waiting):
        return "_no row rejected or waiting in this batch_"
    from pyspark.sql import functions as F

    columns = [SOURCE_FILE, SOURCE_LINE, REJECT_REASONS, *contract.column_names]
    rows = (
        read_table(spark, stages.table_path(store, REJECTED, contract))
        .where(F.col(RUN_ID) == run_id)
        .orderBy(SOURCE_FILE, SOURCE_LINE)
        .select(*columns)
        .limit(PREVIEW_ROWS)
        .collect()
    )
    return markdown_table(rows)


def archive_step(
    spark: SparkSession, store: Store, contracts: Sequence[DatasetContract], run_id: str, now: datetime
) -> StepReport:
    """Move the accounted-for landing files of these data sets to `archived/`, one moment for all."""
    outcomes = [stages.archive_landed(spark, store, contract, run_id, now) for contract in contracts]
    archived = {key: target for outcome in outcomes for key, target in outcome.archived.items()}
    metadata = {"files_archived": len(archived), "archived": quality.json_metadata(archived)}
    return StepReport(outcomes, [{"asset_key": ARCHIVE_ASSET_KEY, "metadata": metadata}])


def markdown_table(rows: list) -> str:
    if not rows:
        return "_empty table_"
    columns = list(rows[0].asDict())
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if row[c] is None else str(row[c]) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


# The outcomes cross Pipes as JSON (a custom message); these rebuild the stage dataclasses from it.
OUTCOME_TYPES: dict[str, type] = {
    "ingest": stages.IngestOutcome,
    "process": stages.ProcessOutcome,
    "archive": stages.ArchiveOutcome,
}


def outcome_message(step: str, report: StepReport) -> dict[str, Any]:
    return {"message": OUTCOME_MESSAGE, "step": step, "outcomes": [dataclasses.asdict(o) for o in report.outcomes]}


def outcomes_from_message(message: Mapping[str, Any]) -> list[Any]:
    kind = OUTCOME_TYPES[message["step"]]
    return [kind(**fields) for fields in message["outcomes"]]


# ---------------------------------------------------------------------------------------------
# the job runtime


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
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
        for name in [*required, *present]:
            parser.add_argument(f"--{name}", required=name in required)
        resolved = vars(parser.parse_known_args(argv[1:])[0])
    else:
        resolved = getResolvedOptions(argv, [*required, *present])
    return {**optional, **{name: resolved[name] for name in [*required, *present]}}


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
        from awsglue.context import GlueContext  # type: ignore[import-not-found]
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
