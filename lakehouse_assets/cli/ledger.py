"""The CLI commands over the file ledger: `lakehouse files` (every file's fate) and `lakehouse release`."""

from __future__ import annotations

from collections.abc import Sequence

from glue_scripts import stages
from glue_scripts.contracts import CONTRACTS, DATASETS
from glue_scripts.file_fates import existing_ledgers, fates, render
from glue_scripts.steps import utc_now
from glue_scripts.storage import AUDIT, LANDING, open_store
from lakehouse_assets.spark.config import local_spark_session


class LedgerCommandError(ValueError):
    """A mistake in a ledger command's arguments (the CLI prints it as one line, exit status 2)."""


def files(status: str | None, dataset: str | None, lakehouse_root: str) -> int:
    """Print one line per delivered file version (filtered by status and data set)."""
    store = open_store(lakehouse_root)
    store.list_children(AUDIT)  # on S3, a missing credential or endpoint is said before Spark starts
    entries = existing_ledgers(local_spark_session(), store, [dataset] if dataset else DATASETS)
    found = fates(entries.collect()) if entries is not None else []
    if status:
        found = [f for f in found if f.status == status]
    print(render(found))
    print(f"({len(found)} file{'' if len(found) == 1 else 's'})")
    return 0


def release(names: Sequence[str], accept_rejections: bool, lakehouse_root: str) -> int:
    """Record that someone accepted the rejections of held files; the next run processes them, limit waived."""
    if not accept_rejections:
        raise LedgerCommandError(
            "releasing merges the held files' good rows and leaves their rejected rows out of processed: "
            "look at them (lakehouse query 'SELECT * FROM rejected_<dataset>'), then pass --accept-rejections"
        )
    keys_by_dataset: dict[str, list[str]] = {}
    for name in names:
        key = name if name.startswith(f"{LANDING}/") else f"{LANDING}/{name}"
        parts = key.split("/")
        if len(parts) < 3 or parts[1] not in DATASETS:
            raise LedgerCommandError(f"{name} is not a file in {LANDING}/<dataset>/ (data sets: {', '.join(DATASETS)})")
        keys_by_dataset.setdefault(parts[1], []).append(key)
    store = open_store(lakehouse_root)
    store.list_children(LANDING)
    spark = local_spark_session()
    try:
        for dataset, keys in keys_by_dataset.items():  # every name checked before anything is recorded
            stages.held_files(spark, store, CONTRACTS[dataset], keys)
    except LookupError as error:
        raise LedgerCommandError(str(error)) from error
    now = utc_now()
    for dataset, keys in keys_by_dataset.items():
        stages.release_held(spark, store, CONTRACTS[dataset], keys, f"release-{now:%Y%m%dT%H%M%SZ}", now)
        for key in sorted(set(keys)):
            print(f"released {key}")
    print("the next `lakehouse run` merges their good rows (under `lakehouse dev`: materialize their processed tables)")
    return 0
