"""The steps a job runs, and what Dagster is told about each: a stage call plus its report.

Every runner calls these: Dagster's in-process execution directly, the Glue and EMR Serverless job
scripts (`glue_scripts/jobs/`) through the job runtime. A step returns a `StepReport`: its stage
outcomes and the materializations and check results to report, as plain dicts, so the same dicts
become Dagster events whether they crossed Dagster Pipes or not. A step that materializes a table
also measures that table's checks (`glue_scripts.quality`, `analytics.reconcile_table`), where the
data is.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from glue_scripts import analytics, catalog, quality, stages
from glue_scripts.contracts import REJECT_REASONS, RUN_ID, SOURCE_FILE, SOURCE_LINE, DatasetContract
from glue_scripts.delta_tables import read_table
from glue_scripts.maintenance import maintain_table
from glue_scripts.storage import ARCHIVED, PROCESSED, RAW, REJECTED, Store

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PREVIEW_ROWS = 5
ARCHIVE_ASSET_KEY = f"{ARCHIVED}/landed_files"
CATALOG_ASSET_KEY = "catalog/glue_tables"
MAINTENANCE = "maintenance"
OUTCOME_MESSAGE = "lakehouse_outcomes"


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

    Every runner passes the run ids: the step that writes the table measures its checks, once, where
    the data is.
    """
    # The checks' batch: the entries of these runs read before the merge, in the stage's own read of
    # the ledger, plus those the stage records; reading them back after its append would cost a new
    # snapshot of the ledger.
    waiting, earlier = stages.waiting_batch(spark, store, contract, batch_run_ids or ())
    outcome = stages.process_batch(spark, store, contract, run_id, now, policy, batch=waiting)
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
        recorded = stages.recorded_entries(contract, outcome, run_id) if run_id in batch_run_ids else []
        checks = quality.check_results(
            spark, store, contract, batch_run_ids, policy, entries=earlier + recorded, key_report=outcome.key_report()
        )
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


def analytics_step(spark: SparkSession, store: Store, name: str) -> StepReport:
    """processed -> analytics/<name> (rebuilt when processed changed), then its reconciliation check."""
    outcome = analytics.build_table(spark, store, name)
    reconciliation, versions = analytics.reconcile_table(spark, store, name, outcome.source_versions)
    frame = read_table(spark, store.spark_path(analytics.ANALYTICS_TABLES[name].key))
    schema = [
        {"name": f.name, "type": f.dataType.simpleString(), "description": analytics.COLUMN_DESCRIPTIONS.get(f.name)}
        for f in frame.schema.fields
    ]
    asset_key = f"{analytics.ANALYTICS}/{name}"
    metadata = {
        "dagster/row_count": reconciliation.table_rows,
        "dagster/column_schema": {"raw_value": {"columns": schema}, "type": "table_schema"},
        "table_version": outcome.version,
        "rebuilt": outcome.rebuilt,
        "source_versions": quality.json_metadata(outcome.source_versions),
        "preview": {"raw_value": markdown_table(frame.limit(PREVIEW_ROWS).collect()), "type": "md"},
    }
    check = {
        "asset_key": asset_key,
        "check_name": analytics.RECONCILIATION_CHECK,
        "passed": reconciliation.passed,
        "severity": quality.ERROR,
        "metadata": {
            "expected_from_processed": quality.json_metadata(reconciliation.expected),
            "actual": quality.json_metadata(reconciliation.actual),
            "mismatches": quality.json_metadata(reconciliation.mismatches),
            "source_versions": {"raw_value": json.dumps(versions, sort_keys=True), "type": "text"},
        },
    }
    return StepReport([], [{"asset_key": asset_key, "metadata": metadata}], [check])


def catalog_step(spark: SparkSession, store: Store, database: str, glue: Any = None) -> StepReport:
    """Every lakehouse table's Glue `TableInput`; registered in `database` with the `glue` client, if given.

    Without a client (`LAKEHOUSE_CATALOG=none`) the inputs are only reported, so a laptop without AWS
    runs the whole graph.
    """
    inputs, missing = catalog.lakehouse_table_inputs(spark, store)
    metadata: dict[str, Any] = {
        "catalog": "none" if glue is None else "glue",
        "database": database,
        "tables": quality.json_metadata(sorted(inputs)),
        "tables_not_there_yet": quality.json_metadata(missing),
        "table_inputs": quality.json_metadata(inputs),
    }
    if glue is not None:
        registrations = catalog.register_tables(glue, database, inputs)
        for action in (catalog.CREATED, catalog.UPDATED, catalog.UNCHANGED):
            metadata[f"tables_{action}"] = quality.json_metadata([r.name for r in registrations if r.action == action])
        metadata["changes"] = quality.json_metadata({r.name: r.changes for r in registrations if r.changes})
    return StepReport([], [{"asset_key": CATALOG_ASSET_KEY, "metadata": metadata}])


def maintenance_step(spark: SparkSession, store: Store, contract: DatasetContract) -> StepReport:
    """OPTIMIZE then VACUUM processed/<dataset> and rejected/<dataset> (a table not there yet is skipped)."""
    metadata: dict[str, Any] = {}
    for zone in (PROCESSED, REJECTED):
        outcome = maintain_table(spark, stages.table_path(store, zone, contract))
        if outcome is not None:
            metadata[f"{zone}_files_before"] = outcome.files_before
            metadata[f"{zone}_files_after"] = outcome.files_after
            metadata[f"{zone}_files_compacted"] = outcome.files_compacted
            metadata[f"{zone}_table_version"] = outcome.table_version
    return StepReport([], [{"asset_key": f"{MAINTENANCE}/{contract.name}", "metadata": metadata}])


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
    if not message["outcomes"]:
        return []
    kind = OUTCOME_TYPES[message["step"]]
    return [kind(**fields) for fields in message["outcomes"]]
