"""Glue job `<stack>-catalog`: register every lakehouse Delta table in the Glue database for Athena.

Arguments (infra/README.md): `--run_id`, `--lakehouse_root` and `--glue_database` (default arguments
of the job). A thin call into `glue_scripts.catalog` (native Delta tables, no crawler; registering
again changes nothing unless the schema did). Launched by Dagster it reports what it registered as a
Pipes custom message; it reports no materialization, because which asset stands for the catalog is
the Dagster side's to wire (not done by the runners yet).
"""

from __future__ import annotations

from collections.abc import Sequence

from glue_scripts import catalog
from glue_scripts.jobs import dagster_pipes, job_arguments, spark_session
from glue_scripts.storage import open_store


def main(argv: Sequence[str] | None = None) -> None:
    args = job_arguments(["run_id", "lakehouse_root"], {"glue_database": catalog.DEFAULT_DATABASE, "conf": None}, argv)
    import boto3

    with dagster_pipes(argv=argv) as pipes:
        spark = spark_session(args["conf"])
        inputs, missing = catalog.lakehouse_table_inputs(spark, open_store(args["lakehouse_root"]))
        registrations = catalog.register_tables(boto3.client("glue"), args["glue_database"], inputs)
        summary = {
            "message": "lakehouse_catalog",
            "database": args["glue_database"],
            "registered": {r.name: r.action for r in registrations},
            "changes": {r.name: r.changes for r in registrations if r.changes},
            "not_there_yet": missing,
        }
        if pipes is None:
            print(summary)
        else:
            pipes.report_custom_message(summary)


if __name__ == "__main__":
    main()
