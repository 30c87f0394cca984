"""landing -> raw: landing files not yet in raw are checked (unreadable ones quarantined) and their
rows appended to `raw/<dataset>` with lineage."""

from __future__ import annotations

import posixpath
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from glue_scripts import ledger
from glue_scripts.contracts import DatasetContract
from glue_scripts.delta_tables import ensure_table, read_table, table_version
from glue_scripts.failpoints import failpoint
from glue_scripts.landing import (
    LandedFile,
    RefusedFile,
    inspect_files,
    landing_files,
    raw_schema,
    read_landed_files,
    staged_for_spark,
)
from glue_scripts.stages.tables import table_path
from glue_scripts.storage import QUARANTINE, RAW, Store, StoredObject


@dataclass
class IngestOutcome:
    dataset: str
    rows_by_file: dict[str, int] = field(default_factory=dict)
    quarantined: dict[str, str] = field(default_factory=dict)
    already_ingested: list[str] = field(default_factory=list)
    # landing key -> the key its identical content was loaded from (a replay: not loaded again)
    replayed: dict[str, str] = field(default_factory=dict)
    # File versions asked for by name (`only_versions`) that are not in landing any more.
    not_in_landing: list[str] = field(default_factory=list)
    # landing key -> file version id, for every file this outcome mentions
    versions: dict[str, str] = field(default_factory=dict)
    table_version: int | None = None

    @property
    def rows_ingested(self) -> int:
        return sum(self.rows_by_file.values())


def ingest_landing(
    spark: SparkSession,
    store: Store,
    contract: DatasetContract,
    run_id: str,
    now: datetime,
    only_versions: Collection[str] | None = None,
) -> IngestOutcome:
    """Load landing files into raw: all waiting ones, or only the file versions named (a sensor batch)."""
    outcome = IngestOutcome(contract.name)
    objects = landing_files(store, contract.name)
    if only_versions is not None:
        wanted = set(only_versions)
        outcome.not_in_landing = sorted(wanted - {o.version_id for o in objects})
        objects = [o for o in objects if o.version_id in wanted]
    outcome.versions = {o.key: o.version_id for o in objects}
    loads = ledger.raw_loads(spark, store, contract.name, objects)
    outcome.already_ingested = sorted(o.key for o in objects if o.version_id in loads.versions)
    pending = [o for o in objects if o.version_id not in loads.versions]
    entries: list[ledger.LedgerEntry] = []
    pending = skip_replays(contract, pending, loads.first_file_by_digest, run_id, outcome, entries)
    inspected = inspect_files(store, contract, pending)
    for refused in (f for f in inspected if isinstance(f, RefusedFile)):
        quarantine_file(store, contract.name, refused.object, refused.reason)
        outcome.quarantined[refused.object.key] = refused.reason
        entries.append(
            ledger.LedgerEntry.for_object(
                contract.name, refused.object, ledger.STAGE_QUARANTINED, run_id, detail=refused.reason
            )
        )
    landed = [f for f in inspected if isinstance(f, LandedFile)]
    path = table_path(store, RAW, contract)
    created = ensure_table(spark, path, raw_schema(contract))
    if landed:
        versions = [f.object.version_id for f in landed]
        # Rows may already be in raw if a run died between the append and the ledger entry.
        counts = {} if created else ledger.rows_by_version(read_table(spark, path), versions)
        new = [f for f in landed if f.object.version_id not in counts]
        if new:
            failpoint("raw_write")
            with staged_for_spark(store, contract, new) as staged:
                rows = read_landed_files(spark, store, contract, new, run_id, now, staged)
                counts |= append_counting_versions(spark, rows, path, [f.object.version_id for f in new])
            failpoint("raw_appended")
        for landed_file in landed:
            file_rows = counts.get(landed_file.object.version_id, 0)
            outcome.rows_by_file[landed_file.object.key] = file_rows
            entries.append(
                ledger.LedgerEntry.for_object(
                    contract.name, landed_file.object, ledger.STAGE_RAW, run_id, rows_read=file_rows
                )
            )
    ledger.record(spark, store, entries, now)
    outcome.table_version = table_version(spark, path)
    return outcome


def append_counting_versions(
    spark: SparkSession, rows: DataFrame, path: str, version_ids: list[str], observed_limit: int = 64
) -> dict[str, int]:
    """Append rows to a Delta table; their count per file version, counted as they are written.

    Counted by a Spark `Observation` on the write itself, so no read of the table follows (for a
    small batch that read-back, a Delta snapshot and a query, costs more than the write). Beyond
    `observed_limit` versions (a backlog) one aggregate per version would be a wide expression:
    the rows are counted from the table afterwards instead.
    """
    if len(version_ids) > observed_limit:
        rows.write.format("delta").mode("append").save(path)
        return ledger.rows_by_version(read_table(spark, path), version_ids)
    observation = Observation("rows_by_version")
    version = ledger.version_column()
    counts = [F.count_if(version == version_id).alias(str(i)) for i, version_id in enumerate(version_ids)]
    rows.observe(observation, *counts).write.format("delta").mode("append").save(path)
    measured = observation.get
    return {version_id: n for i, version_id in enumerate(version_ids) if (n := int(measured[str(i)]))}


def skip_replays(
    contract: DatasetContract,
    pending: list[StoredObject],
    first_file_by_digest: dict[str, str],
    run_id: str,
    outcome: IngestOutcome,
    entries: list[ledger.LedgerEntry],
) -> list[StoredObject]:
    """The pending files minus replays: content already loaded into raw under another name.

    The same bytes landed again (a retried upload under a new name, a re-sent delivery) carry no new
    row, and loading them again would put every row in raw twice and, in one batch, reject one copy
    of each as a duplicate key. A replay gets a `raw` ledger entry with 0 rows naming the original,
    so it is processed (0 rows) and archived like any file. Identity is the content digest (MD5, or
    the S3 ETag: a multipart upload's ETag depends on its part size, so the same bytes uploaded in
    other parts are not recognised and are loaded again, which the merge makes harmless).
    """
    seen = dict(first_file_by_digest)
    fresh = []
    for obj in sorted(pending, key=lambda o: o.key):
        original = seen.setdefault(obj.digest, obj.key)
        if original == obj.key:
            fresh.append(obj)
            continue
        outcome.replayed[obj.key] = original
        outcome.rows_by_file[obj.key] = 0
        detail = f"replay: same content as {original}"
        entry = ledger.LedgerEntry.for_object(contract.name, obj, ledger.STAGE_RAW, run_id, rows_read=0, detail=detail)
        entries.append(entry)
    return fresh


def quarantine_file(store: Store, dataset: str, obj: StoredObject, reason: str) -> str:
    """Move a refused file to quarantine with its reason; a rerun after a crash mid-move finishes that move."""
    target = free_key(store, f"{QUARANTINE}/{dataset}/{obj.name}", obj)
    store.write_bytes(f"{target}.reason.txt", f"{obj.key}: {reason}\n".encode())
    store.move(obj.key, target)
    return target


def free_key(store: Store, key: str, obj: StoredObject) -> str:
    """Where `obj` goes: `key`, or a sibling name with the content digest when another file sits there.

    A copy of `obj` itself at either name is the trace of a move that crashed after its copy and
    before its delete: that name is returned again, so the rerun's move only deletes the source
    instead of leaving a second, digest-suffixed copy.
    """
    if not store.exists(key) or store.holds_copy_of(key, obj):
        return key
    stem, dot, suffix = obj.name.partition(".")
    return posixpath.join(posixpath.dirname(key), f"{stem}.{obj.digest[:12]}{dot}{suffix}")
