"""The pipeline's stages for one data set: landing -> raw, raw -> processed + rejected, archive.

Each stage is a plain function of a Spark session, a `Store` and a contract, returning an outcome
with the figures a caller (Dagster, a Glue job, a test) reports. The ledger decides what each
stage still has to do, so every stage can be rerun after any failure:
- `ingest_landing`: landing files not yet in raw are checked (unreadable ones quarantined) and
  their rows appended to `raw/<dataset>` with lineage.
- `process_batch`: raw rows of files still waiting in landing are cast, validated, deduplicated
  and merged into `processed/<dataset>`; the rest go to `rejected/<dataset>` with their reasons.
  Children also retry the rows that only waited for a parent (late parents). A batch over the
  rejection limit is held in landing instead (`release_held` lets it through).
- `archive_landed`: landing files whose rows are fully accounted for move to `archived/`.
"""

from glue_scripts.stages.archive import ArchiveOutcome, archive_key, archive_landed
from glue_scripts.stages.ingest import (
    IngestOutcome,
    append_counting_versions,
    free_key,
    ingest_landing,
    quarantine_file,
    skip_replays,
)
from glue_scripts.stages.process import (
    Batch,
    ProcessOutcome,
    accepted_rows,
    candidate_columns,
    check_and_merge,
    check_batch,
    held_files,
    held_in_landing,
    hold,
    late_parent_rows,
    merge_processed,
    merge_rejected,
    process_batch,
    read_parent,
    rejected_rows,
    release_held,
    table_size,
    tally,
    waiting_batch,
)
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

__all__ = [
    "FROM_REJECTED",
    "PROCESSED_AT",
    "REJECTED_AT",
    "RESOLVED_AT",
    "RESOLVED_RUN_ID",
    "ArchiveOutcome",
    "Batch",
    "IngestOutcome",
    "ProcessOutcome",
    "accepted_rows",
    "append_counting_versions",
    "archive_key",
    "archive_landed",
    "candidate_columns",
    "check_and_merge",
    "check_batch",
    "free_key",
    "held_files",
    "held_in_landing",
    "hold",
    "ingest_landing",
    "late_parent_rows",
    "merge_processed",
    "merge_rejected",
    "process_batch",
    "processed_schema",
    "quarantine_file",
    "read_parent",
    "rejected_rows",
    "rejected_schema",
    "release_held",
    "skip_replays",
    "table_path",
    "table_size",
    "tally",
    "waiting_batch",
]
