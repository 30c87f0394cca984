"""Data-quality measurements over the lakehouse tables, as plain Spark functions.

Dagster's asset checks (and, on AWS, the Glue job reporting through Pipes) turn these figures
into pass/fail results; keeping the measuring here lets every runner compute them the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from glue_scripts.contracts import EXTRA_FIELDS, LINEAGE_FIELDS, DatasetContract, ForeignKey
from glue_scripts.delta_tables import read_table
from glue_scripts.ledger import STAGE_HELD, LedgerEntry, batch_entries, version_column
from glue_scripts.storage import PROCESSED, RAW, Store, table_key

SAMPLE_SIZE = 10
# Operating thresholds of the rejection checks (Dagster's resource and the process job default to these).
DEFAULT_REJECTION_WARN_SHARE = 0.05
DEFAULT_REJECTION_MAX_SHARE = 0.5
DEFAULT_REJECTION_MIN_ROWS = 20
# The settings that change them, named in the messages of a held batch.
MAX_SHARE_SETTING = "LAKEHOUSE_REJECTION_MAX_SHARE"
MIN_ROWS_SETTING = "LAKEHOUSE_REJECTION_MIN_ROWS"


def release_command(files: list[str]) -> str:
    """The command that lets held files through once someone has looked at their rejected rows."""
    return f"lakehouse release {' '.join(files)} --accept-rejections"


@dataclass(frozen=True)
class RejectionPolicy:
    """Warn above `warn_share` of a batch's decided rows rejected; hold it above `max_share`.

    Decided rows are accepted + rejected: rows waiting for a parent count for neither. The limit
    applies from `min_rows` decided rows up, so one stale row in a one-row correction holds nothing.
    """

    warn_share: float = DEFAULT_REJECTION_WARN_SHARE
    max_share: float = DEFAULT_REJECTION_MAX_SHARE
    min_rows: int = DEFAULT_REJECTION_MIN_ROWS

    def hold_reason(self, accepted: int, rejected: int) -> str | None:
        """Why a batch with these counts is held, or None when it is not."""
        decided = accepted + rejected
        if decided == 0 or decided < self.min_rows or rejected / decided <= self.max_share:
            return None
        return (
            f"rejected {rejected:,} of {decided:,} rows ({rejected / decided:.1%}), over the rejection limit of "
            f"{self.max_share:.1%} ({MAX_SHARE_SETTING}; applied from {self.min_rows:,} rows, {MIN_ROWS_SETTING})"
        )


DEFAULT_POLICY = RejectionPolicy()


@dataclass(frozen=True)
class KeyReport:
    """A table's primary keys, and its size: rows, and partitions (None for an unpartitioned table)."""

    rows: int
    null_keys: int
    duplicate_keys: int
    sample_duplicates: list[int] = field(default_factory=list)
    partitions: int | None = None

    @property
    def passed(self) -> bool:
        return self.null_keys == 0 and self.duplicate_keys == 0


def primary_key_report(table: DataFrame, contract: DatasetContract) -> KeyReport:
    """Null and repeated primary keys over the whole table, with its rows and partitions.

    One aggregation reads the table once for both: each row counts once under its key and, in a
    partitioned table, once under its partition value (the grouping sets (key) and (partition)).
    One small sample follows when keys repeat.
    """
    key, partition = contract.primary_key, contract.partition_column
    partition_type = table.schema[partition].dataType if partition else "string"
    levels = [
        F.struct(
            F.lit(True).alias("per_key"),
            F.col(key).alias("key"),
            F.lit(None).cast(partition_type).alias("partition"),
        )
    ]
    if partition:
        levels.append(
            F.struct(
                F.lit(False).alias("per_key"),
                F.lit(None).cast(table.schema[key].dataType).alias("key"),
                F.col(partition).alias("partition"),
            )
        )
    groups = table.select(F.explode(F.array(*levels)).alias("level")).select("level.*")
    counts = groups.groupBy("per_key", "key", "partition").count()
    per_key, repeated = F.col("per_key"), F.col("key").isNotNull() & (F.col("count") > 1)
    totals = counts.agg(
        F.sum(F.when(per_key, F.col("count"))).alias("rows"),
        F.sum(F.when(per_key & F.col("key").isNull(), F.col("count"))).alias("nulls"),
        F.count(F.when(per_key & repeated, True)).alias("duplicates"),
        F.count(F.when(~per_key, F.col("partition"))).alias("partitions"),
    ).first()
    assert totals is not None  # an aggregation without grouping is one row
    duplicates = int(totals.duplicates)
    sample = []
    if duplicates:
        sample = [row[0] for row in counts.where(per_key & repeated).select("key").limit(SAMPLE_SIZE).collect()]
    partitions = int(totals.partitions) if partition else None
    return KeyReport(int(totals.rows or 0), int(totals.nulls or 0), duplicates, sorted(sample), partitions)


@dataclass(frozen=True)
class OrphanReport:
    rows_checked: int
    orphan_rows: int
    sample_orphan_keys: list[int] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.orphan_rows == 0


def orphan_report(child: DataFrame, parent: DataFrame, fk: ForeignKey) -> OrphanReport:
    """Child rows whose foreign key is missing from the parent table: one pass of a left join."""
    return orphan_reports(child, {fk.parent: parent}, [fk])[0]


def orphan_reports(
    child: DataFrame, parents: Mapping[str, DataFrame], foreign_keys: Sequence[ForeignKey]
) -> list[OrphanReport]:
    """For each foreign key, the child rows whose key is missing from its parent table.

    One pass: the child read once, left-joined to each parent's keys in turn, and one aggregation
    counts the orphans of every key (a null key is one); a small sample of the missing keys follows
    for a key with orphans.
    """
    joined, orphans = child, []
    for index, fk in enumerate(foreign_keys):
        found = f"__parent_key_{index}"
        keys = parents[fk.parent].select(F.col(fk.parent_column).alias(found)).distinct()
        if fk.broadcast_parent:
            keys = F.broadcast(keys)
        joined = joined.join(keys, F.col(fk.column) == F.col(found), "left")
        orphans.append(F.col(found).isNull())
    counts = [F.count_if(orphan).alias(f"orphans_{index}") for index, orphan in enumerate(orphans)]
    totals = joined.agg(F.count(F.lit(1)).alias("rows"), *counts).first()
    assert totals is not None  # an aggregation without grouping is one row
    reports = []
    for index, (fk, orphan) in enumerate(zip(foreign_keys, orphans, strict=True)):
        orphan_rows = int(totals[f"orphans_{index}"] or 0)
        sample = []
        if orphan_rows:
            keys = joined.where(orphan & F.col(fk.column).isNotNull()).select(fk.column).distinct()
            sample = [row[0] for row in keys.limit(SAMPLE_SIZE).collect()]
        reports.append(OrphanReport(int(totals.rows or 0), orphan_rows, sorted(sample)))
    return reports


@dataclass(frozen=True)
class RawFileProfile:
    """A file version's rows in raw, and the column names outside the contract they carried."""

    rows: int
    extra_columns: tuple[str, ...] = ()


def raw_file_profiles(raw: DataFrame, entries: Sequence[LedgerEntry]) -> dict[str, RawFileProfile]:
    """Per file version of the batch (one query over raw): what the reconciliation and drift checks read."""
    versions = [entry.version_id for entry in entries]
    if not versions:
        return {}
    extra = F.array_distinct(F.flatten(F.collect_list(F.map_keys(EXTRA_FIELDS))))
    found = (
        raw.where(version_column().isin(versions))
        .groupBy(version_column().alias("version_id"))
        .agg(F.count(F.lit(1)).alias("rows"), extra.alias("extra"))
        .collect()
    )
    return {
        row.version_id: RawFileProfile(row.rows, tuple(sorted(set(row.extra) - set(LINEAGE_FIELDS)))) for row in found
    }


@dataclass(frozen=True)
class ReconciliationReport:
    files: int
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    unbalanced_files: list[str]
    rows_waiting: int = 0
    # landing key -> why the rejection limit held it
    held_files: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.unbalanced_files

    @property
    def rows_decided(self) -> int:
        return self.rows_accepted + self.rows_rejected

    @property
    def rejection_share(self) -> float:
        """Rejected over decided rows (rows waiting for a parent are neither)."""
        return self.rows_rejected / self.rows_decided if self.rows_decided else 0.0


def reconciliation_report(entries: list[LedgerEntry], raw: dict[str, RawFileProfile]) -> ReconciliationReport:
    """Per file of the batch: read = accepted + rejected + waiting, and read = its rows in raw."""
    in_raw = {version: profile.rows for version, profile in raw.items()}
    unbalanced = [
        entry.source_file
        for entry in entries
        if (entry.rows_accepted or 0) + (entry.rows_rejected or 0) + (entry.rows_waiting or 0) != (entry.rows_read or 0)
        or in_raw.get(entry.version_id, 0) != (entry.rows_read or 0)
    ]
    return ReconciliationReport(
        files=len(entries),
        rows_read=sum(entry.rows_read or 0 for entry in entries),
        rows_accepted=sum(entry.rows_accepted or 0 for entry in entries),
        rows_rejected=sum(entry.rows_rejected or 0 for entry in entries),
        unbalanced_files=sorted(unbalanced),
        rows_waiting=sum(entry.rows_waiting or 0 for entry in entries),
        held_files={e.source_file: e.detail or "" for e in entries if e.stage == STAGE_HELD},
    )


@dataclass(frozen=True)
class SchemaDriftReport:
    files: int
    extra_columns: list[str]
    files_with_extra_columns: list[str]

    @property
    def passed(self) -> bool:
        return not self.extra_columns


def schema_drift_report(entries: list[LedgerEntry], raw: dict[str, RawFileProfile]) -> SchemaDriftReport:
    """Columns outside the contract in the files of the batch, from their rows in raw (`extra_fields`).

    Read from the rows, so a file without rows shows none; the workbook lineage keys are not columns.
    """
    drifted = {e.source_file: raw[e.version_id].extra_columns for e in entries if e.version_id in raw}
    return SchemaDriftReport(
        files=len(entries),
        extra_columns=sorted({column for columns in drifted.values() for column in columns}),
        files_with_extra_columns=sorted(file for file, columns in drifted.items() if columns),
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
            "rows_waiting": report.rows_waiting,
            "unbalanced_files": json_metadata(report.unbalanced_files),
        },
    )


def rejection_rate_result(contract: DatasetContract, report: ReconciliationReport, warn_share: float) -> dict[str, Any]:
    """Warns (never blocks) when the batch rejected more than `warn_share` of its decided rows."""
    return _result(
        contract,
        REJECTION_RATE_CHECK,
        report.rejection_share <= warn_share,
        {
            "rejection_rate": report.rejection_share,
            "threshold": warn_share,
            "rows_read": report.rows_read,
            "rows_rejected": report.rows_rejected,
            "rows_waiting": report.rows_waiting,
        },
        severity=WARN,
    )


def rejection_limit_result(
    contract: DatasetContract, report: ReconciliationReport, policy: RejectionPolicy
) -> dict[str, Any]:
    """Fails when the process step held files of the batch (over the limit it applied); says how to go on."""
    metadata: dict[str, Any] = {
        "rejection_rate": report.rejection_share,
        "threshold": policy.max_share,
        "min_rows": policy.min_rows,
        "files": report.files,
        "rows_read": report.rows_read,
        "rows_rejected": report.rows_rejected,
        "rows_waiting": report.rows_waiting,
        "held_files": json_metadata(report.held_files),
    }
    description = None
    if report.held_files:
        files = list(report.held_files)
        metadata["release"] = release_command(files)
        description = (
            f"Held in landing, nothing written to processed/{contract.name}: {', '.join(files)} "
            f"({next(iter(report.held_files.values()))}). Look at their rows in rejected_{contract.name} "
            f"(lakehouse query), then fix and land them again, or raise {MAX_SHARE_SETTING}, or let "
            f"them through as they are: {release_command(files)}"
        )
    return _result(contract, REJECTION_LIMIT_CHECK, not report.held_files, metadata, description=description)


def schema_drift_result(contract: DatasetContract, report: SchemaDriftReport) -> dict[str, Any]:
    """Warns when files of the batch had columns the contract does not know (kept in raw's `extra_fields`)."""
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


def not_evaluated_result(contract: DatasetContract, check_name: str, severity: str) -> dict[str, Any]:
    """A check about the batch, in a run that processed no file of the data set: passed, and says so."""
    return _result(
        contract,
        check_name,
        True,
        {"files": 0, "evaluated": False},
        severity=severity,
        description=f"Not evaluated: this run processed no file of {contract.name}.",
    )


def _result(
    contract: DatasetContract,
    check_name: str,
    passed: bool,
    metadata: dict[str, Any],
    severity: str = ERROR,
    description: str | None = None,
) -> dict[str, Any]:
    result = {
        "asset_key": processed_asset_key(contract),
        "check_name": check_name,
        "passed": bool(passed),
        "severity": severity,
        "metadata": metadata,
    }
    if description:
        result["description"] = description
    return result


def check_results(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    batch_run_ids: Sequence[str],
    policy: RejectionPolicy | None = None,
    entries: Sequence[LedgerEntry] | None = None,
    key_report: KeyReport | None = None,
) -> list[dict[str, Any]]:
    """Every check declared on `processed/<dataset>`, in declaration order, measured the way Dagster's checks do.

    The table checks look at the whole table; the batch checks at the files `batch_run_ids` (the
    run, and the runs it re-executes) processed or held, and are not evaluated when there are none.
    Those files' ledger `entries`, and the table's `key_report`, are measured here unless the caller
    has them. The process job calls this after its merge, so a run on Glue or EMR Serverless reports
    the same results an in-process run's asset checks compute.
    """
    table = read_table(spark, store.spark_path(table_key(PROCESSED, contract.name)))
    results = [primary_key_result(contract, key_report or primary_key_report(table, contract))]
    if contract.foreign_keys:
        parents = {
            fk.parent: read_table(spark, store.spark_path(table_key(PROCESSED, fk.parent)))
            for fk in contract.foreign_keys
        }
        reports = orphan_reports(table, parents, contract.foreign_keys)
        results += [
            foreign_key_result(contract, fk, report) for fk, report in zip(contract.foreign_keys, reports, strict=True)
        ]
    policy = policy or DEFAULT_POLICY
    if entries is None:
        entries = batch_entries(spark, store, contract.name, batch_run_ids)
    entries = sorted(entries, key=lambda entry: (entry.version_id, entry.stage))
    if not entries:
        batch_checks = [(RECONCILIATION_CHECK, ERROR), (REJECTION_RATE_CHECK, WARN), (REJECTION_LIMIT_CHECK, ERROR)]
        batch_checks.append((SCHEMA_DRIFT_CHECK, WARN))
        return results + [not_evaluated_result(contract, name, severity) for name, severity in batch_checks]
    raw = raw_file_profiles(read_table(spark, store.spark_path(table_key(RAW, contract.name))), entries)
    batch = reconciliation_report(entries, raw)
    results.append(reconciliation_result(contract, batch))
    results.append(rejection_rate_result(contract, batch, policy.warn_share))
    results.append(rejection_limit_result(contract, batch, policy))
    results.append(schema_drift_result(contract, schema_drift_report(entries, raw)))
    return results
