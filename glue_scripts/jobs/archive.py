"""Glue job `<stack>-archive`: move the landing files whose rows are accounted for to `archived/`.

Not used by the state machine (it archives natively, from the process jobs' manifests); this is the
Dagster runners' `archived/landed_files` step. Arguments: `--run_id`, `--lakehouse_root`, and
optionally `--datasets` (comma-separated; default all three, parents first).
"""

from __future__ import annotations

from collections.abc import Sequence

from glue_scripts.contracts import CONTRACTS
from glue_scripts.job_runtime import dagster_pipes, given, job_arguments, publish, spark_session
from glue_scripts.steps import archive_step, utc_now
from glue_scripts.storage import open_store


def main(argv: Sequence[str] | None = None) -> None:
    args = job_arguments(["run_id", "lakehouse_root"], {"datasets": ",".join(CONTRACTS), "conf": None}, argv)
    contracts = [CONTRACTS[name] for name in given(args, "datasets").split(",") if name]
    with dagster_pipes(argv=argv) as pipes:
        spark = spark_session(args["conf"])
        report = archive_step(
            spark, open_store(given(args, "lakehouse_root")), contracts, given(args, "run_id"), utc_now()
        )
        publish(pipes, "archive", report)


if __name__ == "__main__":
    main()
