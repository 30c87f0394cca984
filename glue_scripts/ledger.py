"""The file ledger (`audit/file_loads/<dataset>`): what happened to every delivered file, stage by stage.

One append-only Delta table per data set records, per file version (key + content digest), when it
reached the raw table, when its rows were accounted for in processed/rejected (with the counts:
read = accepted + rejected + waiting for a parent), or held by the rejection limit (and later
released by an operator), and when it was archived or quarantined. Every stage asks the ledger
which files still need it, which is what makes a rerun after a crash, or a file landed twice,
leave the tables as one delivery would. The reconciliation check reads the counts back from here.

One table per data set, because the data sets are processed concurrently (the products and orders
Glue jobs of the Step Functions workflow run in parallel): each ledger then has one writer at a
time, which is all Delta's default S3 log store can guarantee. A stage reads its data set's ledger
once (`stages_by_version`; the process stage with its checks' batch, `stages_and_batch_entries`)
and appends to it once (`record`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce
from typing import TypedDict, Unpack

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from glue_scripts.contracts import CONTRACTS
from glue_scripts.delta_tables import ensure_table, read_table
from glue_scripts.small_frames import rows_frame
from glue_scripts.storage import AUDIT, Store, StoredObject

LEDGER_PREFIX = f"{AUDIT}/file_loads"
STAGE_RAW = "raw"
STAGE_PROCESSED = "processed"
STAGE_ARCHIVED = "archived"
STAGE_QUARANTINED = "quarantined"
# Over the rejection limit: counted, rejected rows recorded, nothing merged, the file kept in landing.
STAGE_HELD = "held"
# An operator accepted a held file's rejections (`lakehouse release`): the next run processes it.
STAGE_RELEASED = "released"
BATCH_STAGES = (STAGE_PROCESSED, STAGE_HELD)

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
        # Added after the first release: ledgers written before it lack the column (read as null).
        StructField("rows_waiting", LongType()),
    ]
)
ENTRY_COLUMNS = [f.name for f in LEDGER_SCHEMA.fields if f.name != "recorded_at"]


class EntryCounts(TypedDict, total=False):
    """`LedgerEntry`'s optional fields, as `for_object` takes them."""

    rows_read: int | None
    rows_accepted: int | None
    rows_rejected: int | None
    detail: str | None
    rows_waiting: int | None


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
    rows_waiting: int | None = None

    @classmethod
    def for_object(
        cls, dataset: str, obj: StoredObject, stage: str, run_id: str, **counts: Unpack[EntryCounts]
    ) -> LedgerEntry:
        return cls(dataset, obj.key, obj.digest, stage, run_id, **counts)

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


def ledger_key(dataset: str) -> str:
    return f"{LEDGER_PREFIX}/{dataset}"


def ledger_path(store: Store, dataset: str) -> str:
    return store.spark_path(ledger_key(dataset))


def ensure_ledger(spark: SparkSession, store: Store, dataset: str) -> str:
    path = ledger_path(store, dataset)
    ensure_table(spark, path, LEDGER_SCHEMA)
    return path


def read_ledger(spark: SparkSession, store: Store, dataset: str | None = None) -> DataFrame:
    """One data set's ledger, or (no `dataset`) all of them together."""
    names = [dataset] if dataset is not None else list(CONTRACTS)
    ledgers = [with_every_column(read_table(spark, ensure_ledger(spark, store, name))) for name in names]
    return reduce(DataFrame.unionByName, ledgers)


def with_every_column(entries: DataFrame) -> DataFrame:
    """A ledger written before a column was added reads with that column null."""
    for column in LEDGER_SCHEMA.fields:
        if column.name not in entries.columns:
            entries = entries.withColumn(column.name, F.lit(None).cast(column.dataType))
    return entries.select(*LEDGER_SCHEMA.fieldNames())


def record(spark: SparkSession, store: Store, entries: list[LedgerEntry], now: datetime) -> None:
    """Append entries, one commit per data set (a stage's entries are all of one data set)."""
    by_dataset: dict[str, list[LedgerEntry]] = {}
    for entry in entries:
        by_dataset.setdefault(entry.dataset, []).append(entry)
    for dataset, dataset_entries in by_dataset.items():
        rows = [
            tuple(now if name == "recorded_at" else getattr(e, name) for name in LEDGER_SCHEMA.fieldNames())
            for e in dataset_entries
        ]
        # mergeSchema: a ledger created before `rows_waiting` existed gains the column on its next append.
        rows_frame(spark, rows, LEDGER_SCHEMA).write.format("delta").mode("append").option("mergeSchema", "true").save(
            ensure_ledger(spark, store, dataset)
        )


def stages_by_version(spark: SparkSession, store: Store, dataset: str, version_ids: list[str]) -> dict[str, set[str]]:
    """The stages each of these file versions has reached (versions with no entry are left out)."""
    return stages_and_batch_entries(spark, store, dataset, version_ids, ())[0]


def stages_and_batch_entries(
    spark: SparkSession, store: Store, dataset: str, version_ids: Sequence[str], run_ids: Sequence[str]
) -> tuple[dict[str, set[str]], list[LedgerEntry]]:
    """`stages_by_version` of `version_ids` and `batch_entries` of `run_ids`, from one read of the ledger."""
    if not version_ids and not run_ids:
        return {}, []
    version = version_column()
    asked = version.isin(list(version_ids)) if version_ids else F.lit(False)
    in_batch = F.col("stage").isin(*BATCH_STAGES) & F.col("run_id").isin(*run_ids) if run_ids else F.lit(False)
    found = (
        read_ledger(spark, store, dataset)
        .where(asked | in_batch)
        .select(version.alias("version_id"), *ENTRY_COLUMNS)
        .collect()
    )
    reached: dict[str, set[str]] = {}
    wanted = set(version_ids)
    for row in found:
        if row.version_id in wanted:
            reached.setdefault(row.version_id, set()).add(row.stage)
    batch = [row for row in found if row.stage in BATCH_STAGES and row.run_id in run_ids]
    return reached, _entries(batch)


@dataclass(frozen=True)
class RawLoads:
    """What the ledger says of files about to be ingested, from one read.

    `versions`: those of the asked-for file versions that already reached raw. `first_file_by_digest`:
    for each asked-for content digest already loaded into raw (with rows, not as a replay), the first
    file that held it.
    """

    versions: set[str]
    first_file_by_digest: dict[str, str]


def raw_loads(spark: SparkSession, store: Store, dataset: str, objects: Sequence[StoredObject]) -> RawLoads:
    if not objects:
        return RawLoads(set(), {})
    version = version_column()
    ids = {o.version_id for o in objects}
    asked = version.isin(sorted(ids)) | F.col("source_file_digest").isin(sorted({o.digest for o in objects}))
    rows = (
        read_ledger(spark, store, dataset)
        .where((F.col("stage") == STAGE_RAW) & asked)
        .select(version.alias("version_id"), "source_file", "source_file_digest", "detail", "recorded_at")
        .collect()
    )
    first: dict[str, tuple[datetime, str]] = {}
    for row in rows:
        if row.detail is None:
            candidate = (row.recorded_at, row.source_file)
            first[row.source_file_digest] = min(first.get(row.source_file_digest, candidate), candidate)
    return RawLoads({row.version_id for row in rows} & ids, {k: v for k, (_, v) in first.items()})


def archive_targets(spark: SparkSession, store: Store, dataset: str, version_ids: list[str]) -> dict[str, str]:
    """Where these file versions were (or are being) archived: the target of their first `archived` entry."""
    if not version_ids:
        return {}
    version = version_column()
    archived = (F.col("stage") == STAGE_ARCHIVED) & version.isin(version_ids)
    return _earliest(read_ledger(spark, store, dataset).where(archived), version, F.col("detail"))


def _earliest(entries: DataFrame, key: Column, value: Column) -> dict[str, str]:
    """`value` of the earliest recorded entry per `key` (entries of one stage: a handful per file)."""
    first: dict[str, tuple[datetime, str]] = {}
    for row in entries.select(key.alias("k"), value.alias("v"), "recorded_at").collect():
        candidate = (row.recorded_at, row.v)
        first[row.k] = min(first.get(row.k, candidate), candidate)
    return {k: v for k, (_, v) in first.items()}


def versions_at_stage(spark: SparkSession, store: Store, dataset: str, stage: str, version_ids: list[str]) -> set[str]:
    """Which of these file versions already have an entry for `stage`."""
    return {v for v, reached in stages_by_version(spark, store, dataset, version_ids).items() if stage in reached}


def _entries(rows: list) -> list[LedgerEntry]:
    return [LedgerEntry(**{name: row[name] for name in ENTRY_COLUMNS}) for row in rows]


def batch_entries(spark: SparkSession, store: Store, dataset: str, run_ids: Sequence[str]) -> list[LedgerEntry]:
    """The `processed` and `held` entries these runs wrote: the batch the checks of a run look at.

    `run_ids` are a run and the runs it re-executes, so a retry whose first attempt processed the
    batch still checks it; a run that processed no file has no batch.
    """
    return stages_and_batch_entries(spark, store, dataset, (), run_ids)[1]


def held_versions(reached: Mapping[str, set[str]]) -> set[str]:
    """Of `stages_by_version`'s answer: the versions held by the rejection limit and not released."""
    return {v for v, stages in reached.items() if STAGE_HELD in stages and STAGE_RELEASED not in stages}


def released_versions(reached: Mapping[str, set[str]]) -> set[str]:
    return {v for v, stages in reached.items() if STAGE_RELEASED in stages and STAGE_PROCESSED not in stages}
