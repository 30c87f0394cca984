"""Event-driven operation end to end: `lakehouse dev` (webserver + daemon + code server) on a moto S3
root holding the loaded lab data, its instance on PostgreSQL; a new day's delivery is uploaded, and
nothing else: the landing sensor and the automation sensor must bring every row to the processed
tables and every file to the archive, with no manual launch, the table locks never held twice.
"""

from __future__ import annotations

import time

import pytest
from dagster import DagsterRunStatus, RunsFilter
from pyspark.sql import SparkSession

from glue_scripts.delta_tables import read_table
from tests.dagster_runs import UNFINISHED, assert_one_holder_at_a_time, failures, lock_holds, step_seconds
from tests.lab_fixtures import LAB_GROUP, LAB_ROWS, LabLakehouse, LakehouseDev, wait_for, warning_lines
from tests.postgres_fixtures import PostgresServer
from tests.processes import listening_addresses
from tests.s3_fixtures import secret_leaks

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(LAB_GROUP)]

TIMEOUT_SECONDS = 10 * 60
# The day after the lab data: a new product, three orders, five items (one of the new product).
DELIVERY = {
    "products/products_2025-04-16.csv": (
        "product_id,department_id,department,product_name\n1001,4,Books,Product_1001_New\n"
    ),
    "orders/2025-04-16.csv": (
        "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
        "1,17500,9001,2025-04-16T08:00:00,10.50,2025-04-16\n"
        "2,17501,1447,2025-04-16T09:30:00,22.00,2025-04-16\n"
        "7,17502,8252,2025-04-16T21:15:00,5.25,2025-04-16\n"
    ),
    "order_items/2025-04-16.csv": (
        "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"
        "40804,17500,9001,,1001,1,0,2025-04-16T08:00:00,2025-04-16\n"
        "40805,17500,9001,,12,2,0,2025-04-16T08:00:00,2025-04-16\n"
        "40806,17501,1447,1,859,1,1,2025-04-16T09:30:00,2025-04-16\n"
        "40807,17502,8252,1,391,1,1,2025-04-16T21:15:00,2025-04-16\n"
        "40808,17502,8252,1,1001,2,0,2025-04-16T21:15:00,2025-04-16\n"
    ),
}
NEW_ROWS = {"products": 1, "orders": 3, "order_items": 5}


def test_a_dropped_delivery_flows_to_processed_and_archive_with_no_manual_launch(
    lab_lakehouse: LabLakehouse, lakehouse_dev: LakehouseDev, s3_spark: SparkSession, postgres_server: PostgresServer
) -> None:
    store, log = lab_lakehouse.store, lakehouse_dev.log
    # `lakehouse dev` without --host serves this machine only.
    assert listening_addresses(lakehouse_dev.port) == {"127.0.0.1"}
    # The daemon is up and has ticked the landing sensor once before anything lands.
    wait_for(lambda: "landing_files_sensor skipped" in log.read_text(errors="replace"), 180, "a first sensor tick")
    archived_before = {o.key for o in store.list("archived")}
    with lab_lakehouse.instance() as instance:
        runs_before = {run.run_id for run in instance.get_runs()}
        started = time.monotonic()
        for key, text in DELIVERY.items():
            store.write_bytes(f"landing/{key}", text.encode())

        def settled() -> bool:
            new_archived = {o.key for o in store.list("archived")} - archived_before
            return not instance.get_runs(RunsFilter(statuses=UNFINISHED)) and len(new_archived) == len(DELIVERY)

        wait_for(settled, TIMEOUT_SECONDS, "the delivery to drain into the archive")
        elapsed = time.monotonic() - started
        runs = [run for run in instance.get_runs() if run.run_id not in runs_before]
        partitions = instance.get_dynamic_partitions("landed_files")
        holds = lock_holds(instance, [run.run_id for run in runs])
        errors = failures(instance, runs)
        steps = {run.run_id: step_seconds(instance, run.run_id) for run in runs}

    assert store.list("landing") == []
    counts = {name: read_table(s3_spark, store.spark_path(f"processed/{name}")).count() for name in LAB_ROWS}
    assert counts == {name: LAB_ROWS[name] + NEW_ROWS[name] for name in LAB_ROWS}
    assert runs, "no runs were launched"
    assert {run.tags.get("lakehouse/trigger") for run in runs} <= {"landing_files_sensor", "automation"}
    assert all(run.status == DagsterRunStatus.SUCCESS for run in runs), errors
    assert {"dataset_products", "dataset_orders", "dataset_order_items"} <= set(holds)
    assert_one_holder_at_a_time(holds)
    assert {key.split("#")[0] for key in partitions} >= set(DELIVERY)
    # The AWS credentials every process had never reached a log, the instance's storage (run tags,
    # config, events, captured output) or the lakehouse root.
    # Nor did the PostgreSQL password, which only the environment holds.
    assert secret_leaks([log, lab_lakehouse.home], lab_lakehouse.root, [postgres_server.password]) == []
    # No warnings: Dagster's note that `dg dev` supersedes `dagster dev`, Spark's and S3A's notes.
    assert warning_lines(log.read_text(errors="replace")) == []
    print(f"landing -> processed + archived: {elapsed:.0f} s in {len(runs)} runs; step seconds: {steps}")
