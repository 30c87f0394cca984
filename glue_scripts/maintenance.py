"""Table maintenance: compaction (OPTIMIZE) and clean-up (VACUUM), apart from the runs that load data.

Every batch adds files: an append or a merge writes a few files per partition it touches, so a
table fed daily ends with many small files, and every merge leaves the files it replaced behind for
time travel. Compacting and vacuuming on every run would make each run pay for the whole table;
here it is a separate step, run on a schedule (`maintenance/*` assets, nightly), which rewrites
only partitions with more than one small file (Delta's bin-packing `OPTIMIZE`) and deletes only
files unreferenced for longer than the retention (7 days by default, Delta's own safety default,
so readers and time travel within that window keep working).
"""

from __future__ import annotations

from dataclasses import dataclass

from delta.tables import DeltaTable
from pyspark.sql import SparkSession

from glue_scripts.delta_tables import table_exists, table_version

DEFAULT_RETENTION_HOURS = 168


@dataclass(frozen=True)
class MaintenanceOutcome:
    path: str
    files_before: int
    files_after: int
    files_compacted: int
    table_version: int


def table_files(spark: SparkSession, path: str) -> int:
    detail = DeltaTable.forPath(spark, path).detail().first()
    assert detail is not None  # DESCRIBE DETAIL is one row
    return int(detail.numFiles)


def maintain_table(
    spark: SparkSession, path: str, retention_hours: int = DEFAULT_RETENTION_HOURS
) -> MaintenanceOutcome | None:
    """OPTIMIZE then VACUUM one table; None when the table does not exist yet."""
    if not table_exists(spark, path):
        return None
    table = DeltaTable.forPath(spark, path)
    files_before = table_files(spark, path)
    compaction = table.optimize().executeCompaction().first()
    assert compaction is not None  # OPTIMIZE answers one row (its metrics)
    metrics = compaction.metrics
    table.vacuum(retention_hours)
    return MaintenanceOutcome(
        path=path,
        files_before=files_before,
        files_after=table_files(spark, path),
        files_compacted=int(metrics.numFilesRemoved),
        table_version=table_version(spark, path),
    )
