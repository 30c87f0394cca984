"""Every delivered file's fate, from the ledger: one line per file version, how far it got and why.

What `lakehouse files` prints. The status is the furthest the version got: `archived`, else
`quarantined`, else `held` (by the rejection limit, not released), `released` (waiting for the next
run), `processed` (accounted for, not archived yet) or `raw` (loaded, not processed yet).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import reduce

from pyspark.sql import DataFrame, SparkSession

from glue_scripts import ledger
from glue_scripts.contracts import DATASETS
from glue_scripts.delta_tables import read_table, table_exists
from glue_scripts.storage import Store

# `lakehouse query`'s name for the ledgers of every data set, as one table.
FILE_LEDGER_VIEW = "file_loads"
STATUSES = ("raw", "processed", "held", "released", "archived", "quarantined")
COLUMNS = ("dataset", "file", "digest", "loaded_at", "status", "read", "accepted", "rejected", "waiting", "detail")


@dataclass(frozen=True)
class FileFate:
    dataset: str
    file: str
    digest: str
    loaded_at: datetime
    status: str
    rows_read: int | None
    rows_accepted: int | None
    rows_rejected: int | None
    rows_waiting: int | None
    # the quarantine or hold reason, the archive target, or a replay's original
    detail: str | None


def existing_ledgers(spark: SparkSession, store: Store, datasets: Sequence[str] = DATASETS) -> DataFrame | None:
    """The ledgers of these data sets that exist, as one frame (None if none does); creates nothing."""
    paths = [ledger.ledger_path(store, name) for name in datasets]
    frames = [ledger.with_every_column(read_table(spark, path)) for path in paths if table_exists(spark, path)]
    return reduce(DataFrame.unionByName, frames) if frames else None


def fates(entries: Iterable) -> list[FileFate]:
    """One fate per file version, from its ledger rows (anything with the ledger's column names)."""
    by_version: dict[tuple[str, str, str], list] = {}
    for entry in entries:
        by_version.setdefault((entry.dataset, entry.source_file, entry.source_file_digest), []).append(entry)
    return sorted((fate(key, rows) for key, rows in by_version.items()), key=lambda f: (f.dataset, f.loaded_at, f.file))


def fate(key: tuple[str, str, str], rows: list) -> FileFate:
    rows = sorted(rows, key=lambda r: r.recorded_at)
    by_stage = {row.stage: row for row in rows}  # the latest entry of each stage
    if ledger.STAGE_ARCHIVED in by_stage:
        status = "archived"
    elif ledger.STAGE_QUARANTINED in by_stage:
        status = "quarantined"
    elif ledger.STAGE_PROCESSED in by_stage:
        status = "processed"
    elif ledger.STAGE_RELEASED in by_stage:
        status = "released"
    elif ledger.STAGE_HELD in by_stage:
        status = "held"
    else:
        status = "raw"
    counted = by_stage.get(ledger.STAGE_PROCESSED) or by_stage.get(ledger.STAGE_HELD)
    detail_stage = {"archived": ledger.STAGE_ARCHIVED, "quarantined": ledger.STAGE_QUARANTINED}.get(status)
    detail = by_stage[detail_stage].detail if detail_stage else None
    if status == "held":
        detail = by_stage[ledger.STAGE_HELD].detail
    if detail is None and ledger.STAGE_RAW in by_stage:
        detail = by_stage[ledger.STAGE_RAW].detail  # a replay: "replay: same content as ..."
    dataset, file, digest = key
    return FileFate(
        dataset=dataset,
        file=file,
        digest=digest,
        loaded_at=rows[0].recorded_at,
        status=status,
        rows_read=counted.rows_read if counted else by_stage.get(ledger.STAGE_RAW, rows[0]).rows_read,
        rows_accepted=counted.rows_accepted if counted else None,
        rows_rejected=counted.rows_rejected if counted else None,
        rows_waiting=(counted.rows_waiting or 0) if counted else None,
        detail=detail,
    )


def render(found: Sequence[FileFate]) -> str:
    """A plain table, one line per file version; blanks where a figure does not apply yet."""

    def cells(f: FileFate) -> list[str]:
        figures = (f.rows_read, f.rows_accepted, f.rows_rejected, f.rows_waiting)
        loaded = f"{f.loaded_at:%Y-%m-%d %H:%M:%S}"
        return [f.dataset, f.file, f.digest[:12], loaded, f.status, *("" if n is None else f"{n:,}" for n in figures)]

    rows = [cells(f) for f in found]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(COLUMNS[:-1])]
    numeric = range(5, 9)

    def line(values: Sequence[str], detail: str) -> str:
        parts = [
            v.rjust(w) if i in numeric else v.ljust(w) for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ]
        return ("  ".join(parts) + ("  " + detail if detail else "")).rstrip()

    lines = [line(list(COLUMNS[:-1]), COLUMNS[-1])]
    lines += [line(r, f.detail or "") for r, f in zip(rows, found, strict=True)]
    return "\n".join(lines)
