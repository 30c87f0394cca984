"""Glue job `<stack>-maintenance`: OPTIMIZE then VACUUM processed/<dataset> and rejected/<dataset>.

Arguments: `--run_id`, `--lakehouse_root`, and optionally `--datasets` (comma-separated; default all
three). Run nightly, apart from the runs that load data: by Dagster's automation (one data set per
run) or, on AWS-only deployments, by the stack's schedule (all of them).
"""

from __future__ import annotations

from collections.abc import Sequence

from glue_scripts.contracts import CONTRACTS
from glue_scripts.job_runtime import dagster_pipes, given, job_arguments, publish, spark_session
from glue_scripts.steps import maintenance_step
from glue_scripts.storage import open_store


def main(argv: Sequence[str] | None = None) -> None:
    args = job_arguments(["run_id", "lakehouse_root"], {"datasets": ",".join(CONTRACTS), "conf": None}, argv)
    contracts = [CONTRACTS[name] for name in (args["datasets"] or "").split(",") if name]
    with dagster_pipes(argv=argv) as pipes:
        spark = spark_session(args["conf"])
        store = open_store(given(args, "lakehouse_root"))
        for contract in contracts:
            publish(pipes, "maintenance", maintenance_step(spark, store, contract))


if __name__ == "__main__":
    main()
