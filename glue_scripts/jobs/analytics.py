"""Glue job `<stack>-analytics`: rebuild `analytics/<table>` from processed/, then reconcile it with processed/.

Arguments: `--table daily_sales|top_products`, `--run_id`, `--lakehouse_root`. Reports the table's
materialization and its `totals_match_processed` check through Dagster Pipes when Dagster launched it.
"""

from __future__ import annotations

from collections.abc import Sequence

from glue_scripts.job_runtime import dagster_pipes, given, job_arguments, publish, spark_session
from glue_scripts.steps import analytics_step
from glue_scripts.storage import open_store


def main(argv: Sequence[str] | None = None) -> None:
    args = job_arguments(["table", "run_id", "lakehouse_root"], {"conf": None}, argv)
    with dagster_pipes(argv=argv) as pipes:
        spark = spark_session(args["conf"])
        report = analytics_step(spark, open_store(given(args, "lakehouse_root")), args["table"] or "")
        publish(pipes, "analytics", report)


if __name__ == "__main__":
    main()
