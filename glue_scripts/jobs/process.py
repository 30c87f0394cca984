"""Glue job `<stack>-process`: raw/<dataset> -> processed/<dataset> + rejected/<dataset>, then its checks.

Arguments: infra/README.md, "The Glue job contract". With `--archive_manifest_key` (from the state
machine) the job also writes the archive manifest to that key: the data set's accounted-for files
still in landing, which the state machine then moves. Every check on processed/<dataset> is measured
after the merge and reported through Dagster Pipes, or printed. A failed check does not fail the job:
in Dagster the blocking check stops what follows; under Step Functions the manifest drives the archive.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pyspark.sql import SparkSession

from glue_scripts import ledger, stages
from glue_scripts.contracts import CONTRACTS, DatasetContract
from glue_scripts.job_runtime import dagster_pipes, given, job_arguments, publish, spark_session
from glue_scripts.landing import landing_files
from glue_scripts.quality import (
    DEFAULT_REJECTION_MAX_SHARE,
    DEFAULT_REJECTION_MIN_ROWS,
    DEFAULT_REJECTION_WARN_SHARE,
    RejectionPolicy,
)
from glue_scripts.steps import process_step, utc_now
from glue_scripts.storage import S3Store, Store, open_store


def archive_manifest(
    spark: SparkSession, store: S3Store, contract: DatasetContract, run_id: str, now: datetime
) -> dict[str, Any]:
    """What `archive_landed` would move now, in the state machine's terms (bucket-absolute keys)."""
    objects = landing_files(store, contract.name)
    processed = ledger.versions_at_stage(
        spark, store, contract.name, ledger.STAGE_PROCESSED, [o.version_id for o in objects]
    )

    def absolute(key: str) -> str:
        return f"{store.prefix}/{key}" if store.prefix else key

    files = [
        {
            "key": absolute(obj.key),
            "etag": f'"{obj.digest}"',
            "copy_source": urllib.parse.quote(f"{store.bucket}/{absolute(obj.key)}"),
            "archive_key": absolute(stages.archive_key(store, contract.name, obj, now)),
        }
        for obj in objects
        if obj.version_id in processed
    ]
    return {"dataset": contract.name, "run_id": run_id, "files": files}


def write_archive_manifest(store: Store, key: str, manifest: dict[str, Any]) -> None:
    if not isinstance(store, S3Store):
        raise ValueError(f"--archive_manifest_key needs an s3:// lakehouse root, not {store.root}")
    store.client.put_object(
        Bucket=store.bucket, Key=key, Body=json.dumps(manifest).encode(), ContentType="application/json"
    )


def main(argv: Sequence[str] | None = None) -> None:
    args = job_arguments(
        ["dataset", "run_id", "lakehouse_root"],
        {
            "archive_manifest_key": None,
            "rejection_warn_share": str(DEFAULT_REJECTION_WARN_SHARE),
            "rejection_max_share": str(DEFAULT_REJECTION_MAX_SHARE),
            "rejection_min_rows": str(DEFAULT_REJECTION_MIN_ROWS),
            "batch_run_ids": None,
            "conf": None,
        },
        argv,
    )
    contract = CONTRACTS[given(args, "dataset")]
    store = open_store(given(args, "lakehouse_root"))
    with dagster_pipes(argv=argv) as pipes:
        spark = spark_session(args["conf"])
        now = utc_now()
        report = process_step(
            spark,
            store,
            contract,
            given(args, "run_id"),
            now,
            RejectionPolicy(
                float(given(args, "rejection_warn_share")),
                float(given(args, "rejection_max_share")),
                int(given(args, "rejection_min_rows")),
            ),
            batch_run_ids=(args["batch_run_ids"] or given(args, "run_id")).split(","),
        )
        if args["archive_manifest_key"]:
            # A local root has no manifest: it fails in archive_manifest (no `prefix`) or in the write's check.
            manifest = archive_manifest(spark, store, contract, given(args, "run_id"), now)  # type: ignore[arg-type]
            write_archive_manifest(store, args["archive_manifest_key"], manifest)
            print(f"archive manifest: {len(manifest['files'])} files at {args['archive_manifest_key']}")
        publish(pipes, "process", report)


if __name__ == "__main__":
    main()
