"""Data-quality measurements over the lakehouse tables, as plain Spark functions.

Dagster's asset checks (and, on AWS, the Glue job reporting through Pipes) turn these figures
into pass/fail results; keeping the measuring here lets every runner compute them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from glue_scripts.contracts import DatasetContract, ForeignKey
from glue_scripts.ledger import LedgerEntry, rows_by_version

SAMPLE_SIZE = 10


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
