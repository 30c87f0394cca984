"""raw -> processed + rejected: the waiting files' rows cast, validated, deduplicated and merged; the
rest kept in `rejected/<dataset>` with their reasons; a batch over the rejection limit held in landing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from glue_scripts import ledger
from glue_scripts.contracts import (
    CONTRACTS,
    LATE_PARENT_REASONS,
    RAW_RECORD,
    REJECT_REASONS,
    RUN_ID,
    SOURCE_FILE,
    SOURCE_FILE_DIGEST,
    SOURCE_LINE,
    DatasetContract,
)
from glue_scripts.delta_tables import ensure_table, read_table, table_version
from glue_scripts.failpoints import failpoint
from glue_scripts.landing import landing_files, raw_schema
from glue_scripts.quality import KeyReport, RejectionPolicy, primary_key_report
from glue_scripts.stages.tables import (
    FROM_REJECTED,
    PROCESSED_AT,
    REJECTED_AT,
    RESOLVED_AT,
    RESOLVED_RUN_ID,
    processed_schema,
    rejected_schema,
    table_path,
)
from glue_scripts.storage import PROCESSED, RAW, REJECTED, Store, StoredObject, table_key
from glue_scripts.validation import (
    KEY_IS_STORED,
    TYPED,
    check_references,
    is_clean,
    is_waiting,
    mark_duplicates,
    mark_stale,
    validate_rows,
)


@dataclass
class ProcessOutcome:
    """A batch's figures. Rows read = accepted + rejected + waiting (for a parent) + held.

    Held rows are the accepted and waiting rows of files held by the rejection limit: nothing of
    those files is merged; their rejected rows are recorded all the same.
    """

    dataset: str
    files: list[str] = field(default_factory=list)
    rows_read: int = 0
    rows_accepted: int = 0
    rows_rejected: int = 0
    rows_waiting: int = 0
    rows_held: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    waiting_by_reason: dict[str, int] = field(default_factory=dict)
    # file version id -> why it is held (this batch), and versions held by an earlier run, still in landing
    held: dict[str, str] = field(default_factory=dict)
    still_held: list[str] = field(default_factory=list)
    late_rows_resolved: int = 0
    late_rows_waiting: int = 0
    # The processed table after the batch: its size and its primary keys, measured once for the
    # outcome and the primary-key check.
    processed_rows: int = 0
    null_keys: int = 0
    duplicate_keys: int = 0
    sample_duplicate_keys: list[int] = field(default_factory=list)
    processed_version: int | None = None
    rejected_version: int | None = None
    partitions: int | None = None
    partitions_touched: list[str] = field(default_factory=list)
    # Accepted rows (new or late) whose key is already stored: updates. None of them: the batch is appended.
    rows_updating_stored: int = 0
    # file version id -> {"rows_read", "rows_accepted", "rows_rejected", "rows_waiting"} (the ledger's counts)
    counts_by_file: dict[str, dict[str, int]] = field(default_factory=dict)

    def key_report(self) -> KeyReport:
        """The processed table's primary keys and size, as the primary-key check reports them."""
        keys = (self.null_keys, self.duplicate_keys, self.sample_duplicate_keys)
        return KeyReport(self.processed_rows, *keys, partitions=self.partitions)


@dataclass(frozen=True)
class Batch:
    """The file versions a process run takes: new ones, and held ones an operator released."""

    files: list[str]
    released: set[str]
    still_held: list[str]


def waiting_batch(
    spark: SparkSession, store: Store, contract: DatasetContract, batch_run_ids: Sequence[str] = ()
) -> tuple[Batch, list[ledger.LedgerEntry]]:
    """Files still in landing whose rows are in raw but not yet accounted for, minus the held ones;
    and, from the same read of the ledger, the `processed` and `held` entries of `batch_run_ids`."""
    ids = [o.version_id for o in landing_files(store, contract.name)]
    reached, entries = ledger.stages_and_batch_entries(spark, store, contract.name, ids, batch_run_ids)
    held = ledger.held_versions(reached)
    files = sorted(
        v
        for v, done in reached.items()
        if ledger.STAGE_RAW in done and ledger.STAGE_PROCESSED not in done and v not in held
    )
    return Batch(files, ledger.released_versions(reached) & set(files), sorted(held)), entries


def candidate_columns(contract: DatasetContract) -> list[str]:
    return [*contract.column_names, RAW_RECORD, SOURCE_FILE, SOURCE_FILE_DIGEST, SOURCE_LINE]


def late_parent_rows(rejected: DataFrame) -> DataFrame:
    """Rows of the rejected table that wait for a parent and are not resolved yet."""
    return rejected.where(F.col(RESOLVED_AT).isNull() & is_waiting())


def check_batch(
    candidates: DataFrame, contract: DatasetContract, parents: dict[str, DataFrame], stored: DataFrame
) -> DataFrame:
    """Every rule, in order, over the batch: the heart of the pipeline, free of any I/O."""
    checked = validate_rows(candidates, contract)
    if contract.foreign_keys:
        checked = check_references(checked, contract, parents)
    checked = mark_duplicates(checked, contract)
    return mark_stale(checked, contract, stored)


def accepted_rows(checked: DataFrame, contract: DatasetContract, run_id: str, now: datetime) -> DataFrame:
    return checked.where(is_clean()).select(
        *[F.col(f"{TYPED}.`{name}`").alias(name) for name in contract.column_names],
        F.col(SOURCE_FILE),
        F.col(SOURCE_LINE),
        F.lit(run_id).alias(RUN_ID),
        F.lit(now).cast("timestamp").alias(PROCESSED_AT),
    )


def rejected_rows(checked: DataFrame, contract: DatasetContract, run_id: str, now: datetime) -> DataFrame:
    """Rejected rows in the rejected table's schema, plus `__resolved` for late rows now accepted."""
    return checked.where(~is_clean() | F.col(FROM_REJECTED)).select(
        *contract.column_names,
        RAW_RECORD,
        REJECT_REASONS,
        SOURCE_FILE,
        SOURCE_FILE_DIGEST,
        SOURCE_LINE,
        F.lit(run_id).alias(RUN_ID),
        F.lit(now).cast("timestamp").alias(REJECTED_AT),
        F.lit(None).cast("timestamp").alias(RESOLVED_AT),
        F.lit(None).cast("string").alias(RESOLVED_RUN_ID),
        (is_clean() & F.col(FROM_REJECTED)).alias("__resolved"),
    )


def merge_processed(
    spark: SparkSession, path: str, contract: DatasetContract, accepted: DataFrame, partitions: list[str]
) -> None:
    """Upsert by primary key, pruned to the partitions the batch touches.

    `partitions` holds the batch's partition values and those where its keys are stored today, so
    a row whose update moves it to another date is still found and the key stays unique.
    """
    key = contract.primary_key
    condition = f"t.`{key}` = s.`{key}`"
    if contract.partition_column and partitions:
        values = ", ".join(f"DATE'{value}'" for value in partitions)
        condition += f" AND t.`{contract.partition_column}` IN ({values})"
    newer = f"s.`{contract.ordering_column}` >= t.`{contract.ordering_column}`" if contract.ordering_column else None
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(accepted.alias("s"), condition)
        .whenMatchedUpdateAll(condition=newer)
        .whenNotMatchedInsertAll()
        .execute()
    )


def merge_rejected(spark: SparkSession, path: str, contract: DatasetContract, rejected: DataFrame) -> None:
    """Insert new rejections once (rerun-safe); update waiting late rows; mark resolved ones."""
    same_row = " AND ".join(f"t.{c} = s.{c}" for c in (SOURCE_FILE, SOURCE_FILE_DIGEST, SOURCE_LINE))
    columns = [f.name for f in rejected_schema(contract).fields]
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(rejected.alias("s"), f"{same_row} AND t.{RESOLVED_AT} IS NULL")
        .whenMatchedUpdate(
            condition="s.__resolved",
            set={RESOLVED_AT: f"s.{REJECTED_AT}", RESOLVED_RUN_ID: f"s.{RUN_ID}"},
        )
        .whenMatchedUpdate(set={REJECT_REASONS: f"s.{REJECT_REASONS}"})
        .whenNotMatchedInsert(condition="NOT s.__resolved", values={c: f"s.`{c}`" for c in columns})
        .execute()
    )


def process_batch(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    run_id: str,
    now: datetime,
    limit: RejectionPolicy | None = None,
    batch: Batch | None = None,
) -> ProcessOutcome:
    """raw -> processed + rejected for the waiting files (`batch`, unless the caller has read it);
    with `limit`, a batch over it is held.

    A held batch writes nothing to processed: its rejected rows are recorded, its files get a `held`
    ledger entry (with the reason) and stay in landing, and later runs leave them alone until
    `release_held` accepts their rejections. Files released that way never count for the limit.
    """
    outcome = ProcessOutcome(contract.name)
    processed_path = table_path(store, PROCESSED, contract)
    rejected_path = table_path(store, REJECTED, contract)
    ensure_table(spark, processed_path, processed_schema(contract), contract.partition_column)
    ensure_table(spark, rejected_path, rejected_schema(contract))
    raw_path = table_path(store, RAW, contract)
    ensure_table(spark, raw_path, raw_schema(contract))

    if batch is None:
        batch, _ = waiting_batch(spark, store, contract)
    outcome.files, outcome.still_held = batch.files, batch.still_held
    if outcome.files or (contract.foreign_keys and not late_parent_rows(read_table(spark, rejected_path)).isEmpty()):
        check_and_merge(spark, store, contract, batch, outcome, run_id, now, limit)
    keys = primary_key_report(read_table(spark, processed_path), contract)
    outcome.processed_rows, outcome.partitions = keys.rows, keys.partitions
    outcome.null_keys, outcome.duplicate_keys, outcome.sample_duplicate_keys = (
        keys.null_keys,
        keys.duplicate_keys,
        keys.sample_duplicates,
    )
    outcome.processed_version = table_version(spark, processed_path)
    outcome.rejected_version = table_version(spark, rejected_path)
    return outcome


def check_and_merge(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    batch: Batch,
    outcome: ProcessOutcome,
    run_id: str,
    now: datetime,
    limit: RejectionPolicy | None,
) -> None:
    """Check the batch's rows (and the late rows waiting for a parent), merge them, record the files."""
    processed_path = table_path(store, PROCESSED, contract)
    rejected_path = table_path(store, REJECTED, contract)
    raw_path = table_path(store, RAW, contract)
    columns = candidate_columns(contract)
    candidates = (
        read_table(spark, raw_path)
        .where(ledger.version_column().isin(outcome.files))
        .select(*columns)
        .withColumn(FROM_REJECTED, F.lit(False))
    )
    if contract.foreign_keys:
        late = late_parent_rows(read_table(spark, rejected_path)).select(*columns)
        candidates = candidates.unionByName(late.withColumn(FROM_REJECTED, F.lit(True)))
    parents = {parent: read_parent(spark, store, parent) for parent in contract.parents}
    stored = read_table(spark, processed_path)
    # Checked once and kept apart from the tables it was read from: a cache (`persist`) would be
    # dropped by the first write below to one of them (Delta refreshes every cached plan that reads a
    # table it writes) and the batch checked again, against the table just written.
    checked = check_batch(candidates, contract, parents, stored).localCheckpoint()
    tally(checked, contract, outcome)
    if limit is not None:
        hold(outcome, batch, limit)
    if outcome.held:
        # Nothing of a held file is merged; of its rows only the rejected ones are recorded.
        in_held = ledger.version_column().isin(list(outcome.held)) & ~F.col(FROM_REJECTED)
        checked_kept = checked.where(~in_held | (~is_clean() & ~is_waiting()))
    else:
        checked_kept = checked
    if outcome.rows_accepted or outcome.late_rows_resolved:
        accepted = accepted_rows(checked_kept, contract, run_id, now)
        if outcome.rows_updating_stored:
            merge_processed(spark, processed_path, contract, accepted, outcome.partitions_touched)
        else:
            # Only new keys (duplicates within the batch are already rejected): the merge would
            # insert every row, so append them without joining the stored table. A rerun after a
            # crash finds the keys stored and merges, which rewrites the same values. One file per
            # partition (as the merge writes them), not one per shuffle partition and date.
            if contract.partition_column:
                accepted = accepted.repartition(contract.partition_column)
            accepted.write.format("delta").mode("append").save(processed_path)
    failpoint(f"processed_merged_{contract.name}")
    if outcome.rows_rejected or outcome.rows_waiting or outcome.late_rows_resolved or outcome.late_rows_waiting:
        merge_rejected(spark, rejected_path, contract, rejected_rows(checked_kept, contract, run_id, now))
    ledger.record(spark, store, recorded_entries(contract, outcome, run_id), now)
    failpoint(f"process_recorded_{contract.name}")


def recorded_entries(contract: DatasetContract, outcome: ProcessOutcome, run_id: str) -> list[ledger.LedgerEntry]:
    """The ledger entries a batch's files get: `processed`, or `held` with the reason, with their counts."""
    entries = []
    for version_id, counts in outcome.counts_by_file.items():
        source_file, digest = version_id.rsplit("#", 1)  # raw rows' digests are never null: always one `#`
        stage = ledger.STAGE_HELD if version_id in outcome.held else ledger.STAGE_PROCESSED
        detail = outcome.held.get(version_id)
        entries.append(ledger.LedgerEntry(contract.name, source_file, digest, stage, run_id, detail=detail, **counts))
    return entries


def hold(outcome: ProcessOutcome, batch: Batch, limit: RejectionPolicy) -> None:
    """Hold the batch's files (all but the released ones) when their rows are over the rejection limit.

    Their accepted and waiting rows move to `rows_held`: the outcome then counts what is written.
    """
    judged = {v: c for v, c in outcome.counts_by_file.items() if v not in batch.released}
    reason = limit.hold_reason(
        sum(c["rows_accepted"] for c in judged.values()), sum(c["rows_rejected"] for c in judged.values())
    )
    if reason is None:
        return
    for version_id, counts in judged.items():
        outcome.held[version_id] = reason
        outcome.rows_held += counts["rows_accepted"] + counts["rows_waiting"]
        outcome.rows_accepted -= counts["rows_accepted"]
        outcome.rows_waiting -= counts["rows_waiting"]


def held_in_landing(spark: SparkSession, store: Store, contract: DatasetContract) -> dict[str, StoredObject]:
    """The landing files held by the rejection limit and not released, by key."""
    objects = landing_files(store, contract.name)
    reached = ledger.stages_by_version(spark, store, contract.name, [o.version_id for o in objects])
    held = ledger.held_versions(reached)
    return {o.key: o for o in objects if o.version_id in held}


def held_files(
    spark: SparkSession, store: Store, contract: DatasetContract, keys: Collection[str]
) -> dict[str, StoredObject]:
    """These landing keys' files; LookupError, naming the held ones, if any of them is not held."""
    held = held_in_landing(spark, store, contract)
    if unknown := sorted(set(keys) - set(held)):
        held_there = ", ".join(sorted(held)) or "none"
        raise LookupError(f"not held in landing/{contract.name}: {', '.join(unknown)} (held there: {held_there})")
    return {key: held[key] for key in sorted(set(keys))}


def release_held(
    spark: SparkSession, store: Store, contract: DatasetContract, keys: Collection[str], run_id: str, now: datetime
) -> list[str]:
    """Accept the rejections of these held landing files: the next run processes them, limit waived."""
    entries = [
        ledger.LedgerEntry.for_object(contract.name, obj, ledger.STAGE_RELEASED, run_id, detail="rejections accepted")
        for obj in held_files(spark, store, contract, keys).values()
    ]
    ledger.record(spark, store, entries, now)
    return [entry.version_id for entry in entries]


def read_parent(spark: SparkSession, store: Store, parent: str) -> DataFrame:
    """A parent's processed table, created empty if it has not arrived yet (its rows will be late)."""
    path = store.spark_path(table_key(PROCESSED, parent))
    parent_contract = CONTRACTS[parent]
    ensure_table(spark, path, processed_schema(parent_contract), parent_contract.partition_column)
    return read_table(spark, path)


def tally(checked: DataFrame, contract: DatasetContract, outcome: ProcessOutcome) -> None:
    """The batch's figures from one aggregation of the cached rows, grouped small enough to collect.

    Groups are (new or retried late row, file version, reasons): at most files x reason combinations.
    From them: rows read / accepted / rejected / waiting for a parent, reasons and counts per file,
    late rows resolved or still waiting, how many accepted rows update a stored key, and the
    partitions the accepted rows touch (their own partition and where their key is stored today),
    which the merge is pruned to.
    """
    aggregations = [F.count(F.lit(1)).alias("rows"), F.sum(F.col(KEY_IS_STORED).cast("long")).alias("stored")]
    if contract.partition_column:
        touched = F.array(F.col(f"{TYPED}.`{contract.partition_column}`").cast("string"), F.col("stored_partition"))
        aggregations.append(F.array_distinct(F.flatten(F.collect_set(touched))).alias("partitions"))
    groups = (
        checked.groupBy(F.col(FROM_REJECTED), ledger.version_column().alias("version_id"), F.col(REJECT_REASONS))
        .agg(*aggregations)
        .collect()
    )
    rejected: Counter[str] = Counter()
    waiting: Counter[str] = Counter()
    partitions: set[str] = set()
    per_file = {version_id: Counter[str]() for version_id in outcome.files}
    for group in groups:
        reasons = group[REJECT_REASONS]
        if not reasons:
            kind = "rows_accepted"
        else:
            kind = "rows_waiting" if set(reasons) <= LATE_PARENT_REASONS else "rows_rejected"
        if kind == "rows_accepted":
            outcome.rows_updating_stored += group.stored or 0
            if contract.partition_column:
                partitions.update(value for value in group.partitions if value is not None)
        if group[FROM_REJECTED]:
            if kind == "rows_accepted":
                outcome.late_rows_resolved += group.rows
            else:
                outcome.late_rows_waiting += group.rows
            continue
        counts = per_file.setdefault(group.version_id, Counter())
        counts["rows_read"] += group.rows
        counts[kind] += group.rows
        if kind != "rows_accepted":
            (waiting if kind == "rows_waiting" else rejected).update(dict.fromkeys(reasons, group.rows))
    kinds = ("rows_read", "rows_accepted", "rows_rejected", "rows_waiting")
    outcome.counts_by_file = {version_id: {k: counts[k] for k in kinds} for version_id, counts in per_file.items()}
    outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected, outcome.rows_waiting = (
        sum(counts[k] for counts in outcome.counts_by_file.values()) for k in kinds
    )
    outcome.rejected_by_reason = dict(sorted(rejected.items()))
    outcome.waiting_by_reason = dict(sorted(waiting.items()))
    outcome.partitions_touched = sorted(partitions)
