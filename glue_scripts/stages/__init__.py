"""The pipeline's stages for one data set: landing -> raw, raw -> processed + rejected, archive.

Each stage is a plain function of a Spark session, a `Store` and a contract, returning an outcome
with the figures a caller (Dagster, a Glue job, a test) reports. The ledger decides what each
stage still has to do, so every stage can be rerun after any failure:
- `ingest_landing`: landing files not yet in raw are checked (unreadable ones quarantined) and
  their rows appended to `raw/<dataset>` with lineage.
- `process_batch`: raw rows of files still waiting in landing are cast, validated, deduplicated
  and merged into `processed/<dataset>`; the rest go to `rejected/<dataset>` with their reasons.
  Children also retry the rows that only waited for a parent (late parents). A batch over the
  rejection limit is held in landing instead (`release_held` lets it through). `waiting_batch`
  says which files that is, from one read of the ledger.
- `archive_landed`: landing files whose rows are fully accounted for move to `archived/`.
"""

from glue_scripts.stages.archive import ArchiveOutcome, archive_key, archive_landed
from glue_scripts.stages.ingest import IngestOutcome, ingest_landing
from glue_scripts.stages.process import (
    ProcessOutcome,
    held_files,
    process_batch,
    recorded_entries,
    release_held,
    waiting_batch,
)
from glue_scripts.stages.tables import processed_schema, rejected_schema, table_path

__all__ = [
    "ArchiveOutcome",
    "IngestOutcome",
    "ProcessOutcome",
    "archive_key",
    "archive_landed",
    "held_files",
    "ingest_landing",
    "process_batch",
    "processed_schema",
    "recorded_entries",
    "rejected_schema",
    "release_held",
    "table_path",
    "waiting_batch",
]
