"""Glue job `<stack>-catalog`: register every lakehouse Delta table in the Glue database for Athena.

Arguments (infra/README.md): `--run_id`, `--lakehouse_root`, `--glue_database` (default arguments of
the job), and `--register_tables true|false` (default true; false reports the table inputs only, what
`LAKEHOUSE_CATALOG=none` asks for). Native Delta tables, no crawler; registering again changes nothing
unless the schema did. Reports `catalog/glue_tables` through Dagster Pipes when Dagster launched it.
"""

from __future__ import annotations

from collections.abc import Sequence

from glue_scripts import catalog
from glue_scripts.job_runtime import dagster_pipes, given, job_arguments, publish, spark_session
from glue_scripts.steps import catalog_step
from glue_scripts.storage import open_store


def main(argv: Sequence[str] | None = None) -> None:
    args = job_arguments(
        ["run_id", "lakehouse_root"],
        {"glue_database": catalog.DEFAULT_DATABASE, "register_tables": "true", "conf": None},
        argv,
    )
    with dagster_pipes(argv=argv) as pipes:
        spark = spark_session(args["conf"])
        glue = None
        if args["register_tables"] != "false":
            import boto3

            glue = boto3.client("glue")
        report = catalog_step(spark, open_store(given(args, "lakehouse_root")), args["glue_database"] or "", glue)
        publish(pipes, "catalog", report)


if __name__ == "__main__":
    main()
