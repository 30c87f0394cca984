"""Data-quality measurements over the lakehouse tables, as plain Spark functions.

Dagster's asset checks (and, on AWS, the Glue job reporting through Pipes) turn these figures
into pass/fail results; keeping the measuring here lets every runner compute them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from glue_scripts.contracts import EXTRA_FIELDS, LINEAGE_FIELDS, SOURCE_FILE, DatasetContract, ForeignKey
from glue_scripts.delta_tables import read_table
from glue_scripts.ledger import LedgerEntry, latest_processed_entries, rows_by_version, version_column
from glue_scripts.storage import PROCESSED, RAW, Store, table_key

SAMPLE_SIZE = 10
# Operating thresholds of the rejection checks (Dagster's resource and the process job default to these).
DEFAULT_REJECTION_WARN_SHARE = 0.05
DEFAULT_REJECTION_MAX_SHARE = 0.5


@dataclass(frozen=True)
class KeyReport:
    rows: int
    null_keys: int
    duplicate_keys: int
    sample_duplicates: list[int] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.null_keys == 0 and self.duplicate_keys == 0


def primary_key_report(table: DataFrame, contract: DatasetContract) -> KeyReport:
    """Null and repeated primary keys over the whole table (one aggregation + one small sample)."""
    key = contract.primary_key
    per_key = table.groupBy(key).count()
    totals = per_key.agg(
        F.sum("count").alias("rows"),
        F.sum(F.when(F.col(key).isNull(), F.col("count")).otherwise(0)).alias("nulls"),
        F.sum(F.when(F.col(key).isNotNull() & (F.col("count") > 1), 1).otherwise(0)).alias("duplicates"),
    ).first()
    duplicates = int(totals.duplicates or 0)
    sample = []
    if duplicates:
        sample = [row[0] for row in per_key.where(F.col("count") > 1).select(key).limit(SAMPLE_SIZE).collect()]
    return KeyReport(int(totals.rows or 0), int(totals.nulls or 0), duplicates, sorted(sample))


@dataclass(frozen=True)
class OrphanReport:
    rows_checked: int
    orphan_rows: int
    sample_orphan_keys: list[int] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.orphan_rows == 0


def orphan_report(child: DataFrame, parent: DataFrame, fk: ForeignKey) -> OrphanReport:
    """Child rows whose foreign key is missing from the parent table (left anti join)."""
    keys = parent.select(F.col(fk.parent_column).alias("__parent_key")).distinct()
    if fk.broadcast_parent:
        keys = F.broadcast(keys)
    orphans = child.join(keys, child[fk.column] == keys["__parent_key"], "left_anti")
    orphan_rows = orphans.count()
    sample = []
    if orphan_rows:
        sample = [row[0] for row in orphans.select(fk.column).distinct().limit(SAMPLE_SIZE).collect()]
    return OrphanReport(child.count(), orphan_rows, sorted(sample))


@dataclass(frozen=True)
class ReconciliationReport:
    files: int
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    unbalanced_files: list[str]

    @property
    def passed(self) -> bool:
        return not self.unbalanced_files

    @property
    def rejection_share(self) -> float:
        return self.rows_rejected / self.rows_read if self.rows_read else 0.0


def reconciliation_report(entries: list[LedgerEntry], raw: DataFrame) -> ReconciliationReport:
    """Per file of the last batch: read = accepted + rejected, and read = its rows in raw."""
    in_raw = rows_by_version(raw, [entry.version_id for entry in entries])
    unbalanced = [
        entry.source_file
        for entry in entries
        if (entry.rows_accepted or 0) + (entry.rows_rejected or 0) != (entry.rows_read or 0)
        or in_raw.get(entry.version_id, 0) != (entry.rows_read or 0)
    ]
    return ReconciliationReport(
        files=len(entries),
        rows_read=sum(entry.rows_read or 0 for entry in entries),
        rows_accepted=sum(entry.rows_accepted or 0 for entry in entries),
        rows_rejected=sum(entry.rows_rejected or 0 for entry in entries),
        unbalanced_files=sorted(unbalanced),
    )


@dataclass(frozen=True)
class SchemaDriftReport:
    files: int
    extra_columns: list[str]
    files_with_extra_columns: list[str]

    @property
    def passed(self) -> bool:
        return not self.extra_columns


def schema_drift_report(entries: list[LedgerEntry], raw: DataFrame) -> SchemaDriftReport:
    """Columns outside the contract in the files of the last batch, from their rows in raw (`extra_fields`).

    Read from the rows, so a file without rows shows none; the workbook lineage keys are not columns.
    """
    versions = [entry.version_id for entry in entries]
    found = []
    if versions:
        found = (
            raw.where(version_column().isin(versions))
            .select(SOURCE_FILE, F.explode(F.map_keys(EXTRA_FIELDS)).alias("column"))
            .where(~F.col("column").isin(*LINEAGE_FIELDS))
            .distinct()
            .collect()
        )
    return SchemaDriftReport(
        files=len(entries),
        extra_columns=sorted({row.column for row in found}),
        files_with_extra_columns=sorted({row[SOURCE_FILE] for row in found}),
    )


# ---------------------------------------------------------------------------------------------
# Check results as plain dicts: one definition for every runner.
#
# Dagster's asset checks (in-process) and the Glue / EMR Serverless process job (which reports through
# Dagster Pipes) both turn the reports above into results through these functions, so a check passes
# or fails, and says why, the same way wherever the Spark code ran. A result is a JSON-ready dict in
# the shape Pipes' `report_asset_check` takes: `asset_key` (user string), `check_name`, `passed`,
# `severity` ("ERROR" or "WARN"), `metadata` (raw values, or `{"raw_value": ..., "type": ...}`).

PRIMARY_KEY_CHECK = "primary_key"
RECONCILIATION_CHECK = "rows_reconciled"
REJECTION_RATE_CHECK = "rejection_rate"
REJECTION_LIMIT_CHECK = "rejection_limit"
SCHEMA_DRIFT_CHECK = "schema_drift"
ERROR = "ERROR"
WARN = "WARN"


def foreign_key_check_name(fk: ForeignKey) -> str:
    return f"{fk.column}_in_{fk.parent}"


def json_metadata(value: Any) -> dict[str, Any]:
    """A metadata value Dagster shows as JSON (lists and dicts), in Pipes' typed form."""
    return {"raw_value": value, "type": "json"}


def processed_asset_key(contract: DatasetContract) -> str:
    return f"{PROCESSED}/{contract.name}"


def primary_key_result(contract: DatasetContract, report: KeyReport) -> dict[str, Any]:
    return _result(
        contract,
        PRIMARY_KEY_CHECK,
        report.passed,
        {
            "rows": report.rows,
            "null_keys": report.null_keys,
            "duplicate_keys": report.duplicate_keys,
            "sample_duplicate_keys": json_metadata(report.sample_duplicates),
        },
    )


def foreign_key_result(contract: DatasetContract, fk: ForeignKey, report: OrphanReport) -> dict[str, Any]:
    return _result(
        contract,
        foreign_key_check_name(fk),
        report.passed,
        {
            "rows_checked": report.rows_checked,
            "orphan_rows": report.orphan_rows,
            "sample_orphan_keys": json_metadata(report.sample_orphan_keys),
        },
    )


def reconciliation_result(contract: DatasetContract, report: ReconciliationReport) -> dict[str, Any]:
    return _result(
        contract,
        RECONCILIATION_CHECK,
        report.passed,
        {
            "files": report.files,
            "rows_read": report.rows_read,
            "rows_accepted": report.rows_accepted,
            "rows_rejected": report.rows_rejected,
            "unbalanced_files": json_metadata(report.unbalanced_files),
        },
    )


def rejection_rate_result(contract: DatasetContract, report: ReconciliationReport, warn_share: float) -> dict[str, Any]:
    """Warns (never blocks) when the last batch rejected more than `warn_share` of its rows."""
    return _result(
        contract,
        REJECTION_RATE_CHECK,
        report.rejection_share <= warn_share,
        {
            "rejection_rate": report.rejection_share,
            "threshold": warn_share,
            "rows_read": report.rows_read,
            "rows_rejected": report.rows_rejected,
        },
        severity=WARN,
    )


def rejection_limit_result(contract: DatasetContract, report: ReconciliationReport, max_share: float) -> dict[str, Any]:
    """Fails (blocking: the batch's files are not archived) when the last batch rejected more than `max_share`."""
    return _result(
        contract,
        REJECTION_LIMIT_CHECK,
        report.rejection_share <= max_share,
        {
            "rejection_rate": report.rejection_share,
            "threshold": max_share,
            "files": report.files,
            "rows_read": report.rows_read,
            "rows_rejected": report.rows_rejected,
        },
    )


def schema_drift_result(contract: DatasetContract, report: SchemaDriftReport) -> dict[str, Any]:
    """Warns when files of the last batch had columns the contract does not know (kept in raw's `extra_fields`)."""
    return _result(
        contract,
        SCHEMA_DRIFT_CHECK,
        report.passed,
        {
            "extra_columns": json_metadata(report.extra_columns),
            "files_with_extra_columns": json_metadata(report.files_with_extra_columns),
            "files": report.files,
        },
        severity=WARN,
    )


def _result(
    contract: DatasetContract, check_name: str, passed: bool, metadata: dict[str, Any], severity: str = ERROR
) -> dict[str, Any]:
    return {
        "asset_key": processed_asset_key(contract),
        "check_name": check_name,
        "passed": bool(passed),
        "severity": severity,
        "metadata": metadata,
    }


def check_results(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    rejection_warn_share: float = DEFAULT_REJECTION_WARN_SHARE,
    rejection_max_share: float = DEFAULT_REJECTION_MAX_SHARE,
) -> list[dict[str, Any]]:
    """Every check declared on `processed/<dataset>`, in declaration order, measured the way Dagster's checks do.

    The process job calls this after its merge, so a run on Glue or EMR Serverless reports the same
    results an in-process run's asset checks compute.
    """
    table = read_table(spark, store.spark_path(table_key(PROCESSED, contract.name)))
    results = [primary_key_result(contract, primary_key_report(table, contract))]
    for fk in contract.foreign_keys:
        parent = read_table(spark, store.spark_path(table_key(PROCESSED, fk.parent)))
        results.append(foreign_key_result(contract, fk, orphan_report(table, parent, fk)))
    entries = latest_processed_entries(spark, store, contract.name)
    raw = read_table(spark, store.spark_path(table_key(RAW, contract.name)))
    batch = reconciliation_report(entries, raw)
    results.append(reconciliation_result(contract, batch))
    results.append(rejection_rate_result(contract, batch, rejection_warn_share))
    results.append(rejection_limit_result(contract, batch, rejection_max_share))
    results.append(schema_drift_result(contract, schema_drift_report(entries, raw)))
    return results
