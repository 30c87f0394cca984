"""Glue job `<stack>-ingest`: landing/<dataset> -> raw/<dataset> for one data set.

Arguments (infra/README.md, "The Glue job contract"): `--dataset products|orders|order_items`,
`--run_id` (the Step Functions execution name, or the Dagster run id: the ledger's and the lineage
columns' run id), `--lakehouse_root` (a default argument of the job). Dagster's runner may add
`--only_versions` (a JSON list of file version ids: the sensor's batch); without it every waiting
file is loaded, which is what the state machine wants. The same file is the EMR Serverless entry point.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from glue_scripts.contracts import CONTRACTS
from glue_scripts.job_runtime import dagster_pipes, given, job_arguments, publish, spark_session
from glue_scripts.steps import ingest_step, utc_now
from glue_scripts.storage import open_store


def main(argv: Sequence[str] | None = None) -> None:
    args = job_arguments(["dataset", "run_id", "lakehouse_root"], {"only_versions": None, "conf": None}, argv)
    only_versions = json.loads(args["only_versions"]) if args["only_versions"] else None
    with dagster_pipes(argv=argv) as pipes:
        spark = spark_session(args["conf"])
        report = ingest_step(
            spark,
            open_store(given(args, "lakehouse_root")),
            CONTRACTS[given(args, "dataset")],
            given(args, "run_id"),
            utc_now(),
            only_versions=only_versions,
        )
        publish(pipes, "ingest", report)


if __name__ == "__main__":
    main()
