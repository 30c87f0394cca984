"""The file ledger (`audit/file_loads`): what happened to every delivered file, stage by stage.

One append-only Delta table records, per file version (key + content digest), when it reached
the raw table, when its rows were accounted for in processed/rejected (with the counts), and when
it was archived or quarantined. Every stage asks the ledger which files still need it, which is
what makes a rerun after a crash, or a file landed twice, leave the tables as one delivery would.
The reconciliation check reads the counts back from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from glue_scripts.delta_tables import ensure_table, read_table
from glue_scripts.storage import AUDIT, Store, StoredObject

LEDGER_KEY = f"{AUDIT}/file_loads"
STAGE_RAW = "raw"
STAGE_PROCESSED = "processed"
STAGE_ARCHIVED = "archived"
STAGE_QUARANTINED = "quarantined"

LEDGER_SCHEMA = StructType(
    [
        StructField("dataset", StringType(), nullable=False),
        StructField("source_file", StringType(), nullable=False),
        StructField("source_file_digest", StringType(), nullable=False),
        StructField("stage", StringType(), nullable=False),
        StructField("run_id", StringType(), nullable=False),
        StructField("rows_read", LongType()),
        StructField("rows_accepted", LongType()),
        StructField("rows_rejected", LongType()),
        StructField("detail", StringType()),
        StructField("recorded_at", TimestampType(), nullable=False),
    ]
)


@dataclass(frozen=True)
class LedgerEntry:
    dataset: str
    source_file: str
    source_file_digest: str
    stage: str
    run_id: str
    rows_read: int | None = None
    rows_accepted: int | None = None
    rows_rejected: int | None = None
    detail: str | None = None

    @classmethod
    def for_object(
        cls, dataset: str, obj: StoredObject, stage: str, run_id: str, **counts: int | str | None
    ) -> LedgerEntry:
        return cls(dataset, obj.key, obj.digest, stage, run_id, **counts)  # type: ignore[arg-type]

    @property
    def version_id(self) -> str:
        return f"{self.source_file}#{self.source_file_digest}"


def version_column() -> Column:
    """The file version of a row (`<source_file>#<digest>`), as `StoredObject.version_id` spells it."""
    return F.concat_ws("#", "source_file", "source_file_digest")


def rows_by_version(table: DataFrame, version_ids: list[str]) -> dict[str, int]:
    """Row count per file version in a table with lineage columns (raw, rejected)."""
    if not version_ids:
        return {}
    rows = table.where(version_column().isin(version_ids)).groupBy(version_column().alias("v")).count().collect()
    return {row.v: row["count"] for row in rows}


def ledger_path(store: Store) -> str:
    return store.spark_path(LEDGER_KEY)


def read_ledger(spark: SparkSession, store: Store) -> DataFrame:
    return read_table(spark, ensure_ledger(spark, store))


def ensure_ledger(spark: SparkSession, store: Store) -> str:
    path = ledger_path(store)
    ensure_table(spark, path, LEDGER_SCHEMA)
    return path


def record(spark: SparkSession, store: Store, entries: list[LedgerEntry], now: datetime) -> None:
    if not entries:
        return
    rows = [(*(getattr(e, f.name) for f in LEDGER_SCHEMA.fields[:-1]), now) for e in entries]
    spark.createDataFrame(rows, LEDGER_SCHEMA).write.format("delta").mode("append").save(ensure_ledger(spark, store))


def versions_at_stage(spark: SparkSession, store: Store, dataset: str, stage: str, version_ids: list[str]) -> set[str]:
    """Which of these file versions already have an entry for `stage`."""
    if not version_ids:
        return set()
    version = version_column()
    found = (
        read_ledger(spark, store)
        .where((F.col("dataset") == dataset) & (F.col("stage") == stage) & version.isin(version_ids))
        .select(version.alias("version_id"))
        .distinct()
        .collect()
    )
    return {row.version_id for row in found}


def latest_processed_entries(spark: SparkSession, store: Store, dataset: str) -> list[LedgerEntry]:
    """The `processed` entries of the last run that processed `dataset` (what the checks look at)."""
    entries = read_ledger(spark, store).where((F.col("dataset") == dataset) & (F.col("stage") == STAGE_PROCESSED))
    last = entries.orderBy(F.col("recorded_at").desc()).select("run_id").first()
    if last is None:
        return []
    rows = entries.where(F.col("run_id") == last.run_id).collect()
    return [LedgerEntry(**{f.name: row[f.name] for f in LEDGER_SCHEMA.fields[:-1]}) for row in rows]
