"""landing -> archived: files whose rows are fully accounted for move to `archived/`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pyspark.sql import SparkSession

from glue_scripts import ledger
from glue_scripts.contracts import DatasetContract
from glue_scripts.failpoints import failpoint
from glue_scripts.landing import landing_files
from glue_scripts.stages.ingest import free_key
from glue_scripts.storage import ARCHIVED, Store, StoredObject


@dataclass
class ArchiveOutcome:
    dataset: str
    archived: dict[str, str] = field(default_factory=dict)  # landing key -> archived key
    versions: dict[str, str] = field(default_factory=dict)  # landing key -> file version id


def archive_landed(
    spark: SparkSession, store: Store, contract: DatasetContract, run_id: str, now: datetime
) -> ArchiveOutcome:
    """Move every landing file whose rows are accounted for (ledger: processed) to the archive.

    The `archived` ledger entries (with each file's target) are written first, then the files are
    moved: a crash among the moves leaves no archived file without its entry, and the rerun moves
    the rest to the targets already recorded (a file whose move crashed between copy and delete is
    recognised there by content, and only its source is deleted). A version archived before and
    landed again goes to its recorded target, onto its own copy: archived once.
    """
    outcome = ArchiveOutcome(contract.name)
    objects = landing_files(store, contract.name)
    ids = [o.version_id for o in objects]
    reached = ledger.stages_by_version(spark, store, contract.name, ids)
    done = [o for o in objects if ledger.STAGE_PROCESSED in reached.get(o.version_id, set())]
    recorded = ledger.archive_targets(
        spark, store, contract.name, [o.version_id for o in done if ledger.STAGE_ARCHIVED in reached[o.version_id]]
    )
    entries, moves = [], []
    for obj in done:
        target = recorded.get(obj.version_id)
        if target is None:
            target = archive_key(store, contract.name, obj, now)
            entries.append(
                ledger.LedgerEntry.for_object(contract.name, obj, ledger.STAGE_ARCHIVED, run_id, detail=target)
            )
        moves.append((obj, target))
    ledger.record(spark, store, entries, now)
    for obj, target in moves:
        store.move(obj.key, target)
        failpoint("archive_moved")
        outcome.archived[obj.key] = target
        outcome.versions[obj.key] = obj.version_id
    return outcome


def archive_key(store: Store, dataset: str, obj: StoredObject, now: datetime) -> str:
    return free_key(store, f"{ARCHIVED}/{dataset}/{now:%Y/%m/%d}/{obj.name}", obj)
