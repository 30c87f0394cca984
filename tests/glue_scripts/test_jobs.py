"""The Glue job entry points (`glue_scripts/jobs/`) as the Step Functions pipeline runs them: without Dagster.

Quick ones: the arguments the Glue way and the argparse way, Glue's `--conf`, Pipes staying closed
when nothing launched the job by Dagster, the stage outcomes surviving JSON, the check results as
plain dicts. The slow one runs the real scripts' `main()` in this process on the shared Spark session
against a moto S3 root: ingest (an empty file quarantined with its reason), process (rejected and
waiting rows, and its archive manifest exactly as infra/README.md's contract and the state machine
test read it) and archive, and prints a summary instead of reporting: the stages on S3 (Spark and
Delta over s3a, files over boto3) from landing to archive.
The runs through Dagster Pipes (Glue and EMR Serverless) are in tests/lakehouse_assets/execution/test_runners.py.
"""

from __future__ import annotations

import json
import sys
import types
import urllib.parse
import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
from pyspark.sql import SparkSession

from glue_scripts import job_runtime, ledger, quality, stages, steps
from glue_scripts.contracts import ORDER_ITEMS, ORDERS, PRODUCTS
from glue_scripts.delta_tables import read_table
from glue_scripts.jobs import archive, ingest, process
from glue_scripts.storage import PROCESSED, REJECTED, S3Store

PRODUCTS_CSV = "product_id,department_id,department,product_name\n1,10,produce,Banana\n2,10,produce,Apple\n"
ORDERS_CSV = (
    "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
    "1,100,7,2025-04-16T09:00:00,12.50,2025-04-16\n"
    "2,101,7,2025-04-16T10:00:00,-1.00,2025-04-16\n"
)
ITEMS_CSV = (
    "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date\n"
    "1000,100,7,,1,1,0,2025-04-16T09:00:00,2025-04-16\n"
    "1001,100,7,,2,2,0,2025-04-16T09:00:00,2025-04-16\n"
    "1002,100,7,,99,3,0,2025-04-16T09:00:00,2025-04-16\n"
)


# --- arguments -----------------------------------------------------------------------------------


def test_arguments_without_awsglue_take_glue_names_and_ignore_the_rest() -> None:
    argv = [
        "ingest.py",
        "--JOB_NAME",
        "lakehouse-ingest",
        "--dataset",
        "orders",
        "--run_id",
        "exec-1",
        "--lakehouse_root",
        "s3://b/lakehouse",
        "--enable-metrics",
        "true",
        "--dagster-pipes-context",
        "abc",
    ]
    args = job_runtime.job_arguments(
        ["dataset", "run_id", "lakehouse_root"], {"only_versions": None, "conf": "x"}, argv
    )
    assert args == {
        "dataset": "orders",
        "run_id": "exec-1",
        "lakehouse_root": "s3://b/lakehouse",
        "only_versions": None,
        "conf": "x",
    }
    with pytest.raises(SystemExit):  # a required argument missing fails the job, as getResolvedOptions does
        job_runtime.job_arguments(["dataset", "run_id"], {}, ["ingest.py", "--dataset", "orders"])


def test_arguments_on_glue_ask_getresolvedoptions_only_for_names_passed(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[list[str]] = []

    def get_resolved_options(argv: list[str], names: list[str]) -> dict[str, str]:
        asked.append(names)
        return {name: argv[argv.index(f"--{name}") + 1] for name in names}

    awsglue, utils = types.ModuleType("awsglue"), types.ModuleType("awsglue.utils")
    utils.getResolvedOptions = get_resolved_options  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "awsglue", awsglue)
    monkeypatch.setitem(sys.modules, "awsglue.utils", utils)
    argv = ["process.py", "--dataset", "orders", "--run_id", "r", "--archive_manifest_key", "k.json"]
    args = job_runtime.job_arguments(
        ["dataset", "run_id"], {"archive_manifest_key": None, "rejection_warn_share": "0.05"}, argv
    )
    assert asked == [["dataset", "run_id", "archive_manifest_key"]]
    assert args == {
        "dataset": "orders",
        "run_id": "r",
        "archive_manifest_key": "k.json",
        "rejection_warn_share": "0.05",
    }


def test_glue_conf_argument_becomes_spark_settings() -> None:
    # What `lakehouse deploy` gives the stack's jobs (GlueSparkConf) for the default table in us-east-1.
    conf = (
        "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension --conf "
        "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog "
        "--conf spark.sql.session.timeZone=UTC "
        "--conf spark.databricks.delta.allFilesInCrc.enabled=false "
        "--conf spark.delta.logStore.s3.impl=io.delta.storage.S3DynamoDBLogStore "
        "--conf spark.delta.logStore.s3a.impl=io.delta.storage.S3DynamoDBLogStore "
        "--conf spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName=lakehouse_delta_log "
        "--conf spark.io.delta.storage.S3DynamoDBLogStore.ddb.region=us-east-1"
    )
    assert job_runtime.glue_conf_pairs(conf) == [
        ("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension"),
        ("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog"),
        ("spark.sql.session.timeZone", "UTC"),
        ("spark.databricks.delta.allFilesInCrc.enabled", "false"),
        ("spark.delta.logStore.s3.impl", "io.delta.storage.S3DynamoDBLogStore"),
        ("spark.delta.logStore.s3a.impl", "io.delta.storage.S3DynamoDBLogStore"),
        ("spark.io.delta.storage.S3DynamoDBLogStore.ddb.tableName", "lakehouse_delta_log"),
        ("spark.io.delta.storage.S3DynamoDBLogStore.ddb.region", "us-east-1"),
    ]
    assert job_runtime.glue_conf_pairs(None) == []


# --- Pipes when not launched by Dagster, and what crosses it -----------------------------------------


def test_not_launched_by_dagster_opens_no_pipes_and_prints(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    monkeypatch.setattr(sys, "argv", ["ingest.py", "--dataset", "orders"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "orchestration inactive" warning either
        with job_runtime.dagster_pipes(s3_client=object()) as pipes:
            assert pipes is None
            report = steps.StepReport(
                [stages.IngestOutcome("orders", rows_by_file={"landing/orders/a.csv": 2})],
                [{"asset_key": "raw/orders", "metadata": {"rows_ingested": 2, "files": quality.json_metadata(["a"])}}],
                [quality.primary_key_result(ORDERS, quality.KeyReport(2, 0, 1, [100]))],
            )
            job_runtime.publish(pipes, "ingest", report)
    printed = capsys.readouterr().out
    assert 'raw/orders: {"rows_ingested": 2, "files": ["a"]}' in printed
    assert "check processed/orders:primary_key FAILED (ERROR)" in printed


def test_outcomes_survive_the_json_of_a_custom_message() -> None:
    outcome = stages.ProcessOutcome(
        "orders",
        files=["landing/orders/a.csv#d"],
        rows_read=3,
        rows_accepted=2,
        rows_rejected=1,
        rejected_by_reason={"invalid_total_amount": 1},
        held={"landing/orders/b.csv#e": "rejected 30 of 40 rows"},
        still_held=["landing/orders/c.csv#f"],
        counts_by_file={"landing/orders/a.csv#d": {"rows_read": 3, "rows_accepted": 2, "rows_rejected": 1}},
    )
    message = json.loads(json.dumps(steps.outcome_message("process", steps.StepReport([outcome]))))
    assert steps.outcomes_from_message(message) == [outcome]
    archived = stages.ArchiveOutcome("orders", {"landing/orders/a.csv": "archived/orders/2025/04/16/a.csv"})
    message = json.loads(json.dumps(steps.outcome_message("archive", steps.StepReport([archived]))))
    assert steps.outcomes_from_message(message) == [archived]


def test_check_results_as_plain_dicts() -> None:
    items = ORDER_ITEMS
    (fk,) = [fk for fk in items.foreign_keys if fk.parent == PRODUCTS.name]
    assert quality.foreign_key_result(items, fk, quality.OrphanReport(3, 1, [99])) == {
        "asset_key": "processed/order_items",
        "check_name": "product_id_in_products",
        "passed": False,
        "severity": "ERROR",
        "metadata": {
            "rows_checked": 3,
            "orphan_rows": 1,
            "sample_orphan_keys": {"raw_value": [99], "type": "json"},
        },
    }
    # 6 rows read: 3 accepted, 1 rejected, 2 waiting for a parent (which count for neither side of the rate).
    batch = quality.ReconciliationReport(
        files=1, rows_read=6, rows_accepted=3, rows_rejected=1, unbalanced_files=[], rows_waiting=2
    )
    rate = quality.rejection_rate_result(ORDERS, batch, 0.05)
    assert (rate["check_name"], rate["passed"], rate["severity"]) == ("rejection_rate", False, "WARN")
    assert rate["metadata"] == {
        "rejection_rate": 0.25,
        "threshold": 0.05,
        "rows_read": 6,
        "rows_rejected": 1,
        "rows_waiting": 2,
    }
    assert quality.reconciliation_result(ORDERS, batch)["passed"] is True
    assert "description" not in quality.rejection_limit_result(ORDERS, batch, quality.RejectionPolicy())


def test_the_rejection_limit_holds_from_its_minimum_batch_size_and_waiting_rows_do_not_count() -> None:
    policy = quality.RejectionPolicy(warn_share=0.05, max_share=0.5, min_rows=20)
    assert policy.hold_reason(accepted=0, rejected=19) is None  # under the minimum batch size
    assert policy.hold_reason(accepted=10, rejected=10) is None  # exactly half still passes
    assert policy.hold_reason(accepted=0, rejected=0) is None  # only waiting rows: nothing decided
    assert policy.hold_reason(accepted=9, rejected=11) == (
        "rejected 11 of 20 rows (55.0%), over the rejection limit of 50.0% "
        "(LAKEHOUSE_REJECTION_MAX_SHARE; applied from 20 rows, LAKEHOUSE_REJECTION_MIN_ROWS)"
    )


def test_a_held_batch_fails_the_rejection_limit_and_says_how_to_go_on() -> None:
    reason = "rejected 11 of 20 rows (55.0%), over the rejection limit of 50.0%"
    batch = quality.ReconciliationReport(
        files=1,
        rows_read=20,
        rows_accepted=9,
        rows_rejected=11,
        unbalanced_files=[],
        held_files={"landing/orders/x.csv": reason},
    )
    result = quality.rejection_limit_result(ORDERS, batch, quality.RejectionPolicy(0.05, 0.5, 20))
    assert (result["passed"], result["severity"]) == (False, "ERROR")
    assert result["metadata"] == {
        "rejection_rate": 0.55,
        "threshold": 0.5,
        "min_rows": 20,
        "files": 1,
        "rows_read": 20,
        "rows_rejected": 11,
        "rows_waiting": 0,
        "held_files": {"raw_value": {"landing/orders/x.csv": reason}, "type": "json"},
        "release": "lakehouse release landing/orders/x.csv --accept-rejections",
    }
    assert result["description"] == (
        f"Held in landing, nothing written to processed/orders: landing/orders/x.csv ({reason}). Look at their "
        "rows in rejected_orders (lakehouse query), then fix and land them again, or raise "
        "LAKEHOUSE_REJECTION_MAX_SHARE, or let them through as they are: "
        "lakehouse release landing/orders/x.csv --accept-rejections"
    )


# --- the scripts, run as the state machine runs them (slow: Spark on moto S3) ---------------------


def land(store: S3Store) -> None:
    store.write_bytes("landing/products/products.csv", PRODUCTS_CSV.encode())
    store.write_bytes("landing/products/empty.csv", b"")  # quarantined: moved on S3 with its reason
    store.write_bytes("landing/orders/2025-04-16.csv", ORDERS_CSV.encode())
    store.write_bytes("landing/order_items/2025-04-16.csv", ITEMS_CSV.encode())


@pytest.mark.e2e
def test_scripts_without_dagster_write_tables_manifests_and_archive(
    s3_spark: SparkSession, s3_root: str, s3_client: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.delenv("DAGSTER_PIPES_CONTEXT", raising=False)
    store = S3Store(s3_root, s3_client)
    land(store)
    common = ["--run_id", "exec-42", "--lakehouse_root", s3_root, "--JOB_NAME", "stack-x"]
    manifests = {}
    for dataset in (PRODUCTS.name, ORDERS.name, ORDER_ITEMS.name):  # parents first, as the state machine does
        ingest.main(["ingest.py", "--dataset", dataset, *common])
        key = f"lakehouse/audit/archive_manifests/exec-42/{dataset}.json"
        process.main(["process.py", "--dataset", dataset, "--archive_manifest_key", key, *common])
        manifests[dataset] = json.loads(s3_client.get_object(Bucket=store.bucket, Key=key)["Body"].read())

    counts = {
        contract.name: read_table(s3_spark, stages.table_path(store, PROCESSED, contract)).count()
        for contract in (PRODUCTS, ORDERS, ORDER_ITEMS)
    }
    assert counts == {"products": 2, "orders": 1, "order_items": 2}  # order 101 (-1.00) rejected; product 99 waits
    assert stages.table_path(store, PROCESSED, ORDERS) == f"s3a://{store.bucket}/lakehouse/processed/orders"
    assert store.exists("processed/orders/_delta_log/00000000000000000000.json") is True
    rejected = {
        contract.name: sorted(
            (row[contract.primary_key], list(row.reject_reasons))
            for row in read_table(s3_spark, stages.table_path(store, REJECTED, contract)).collect()
        )
        for contract in (ORDERS, ORDER_ITEMS)
    }
    assert rejected == {
        "orders": [("101", ["invalid_total_amount"])],
        "order_items": [("1002", ["unknown_product_id"])],  # waits for its product
    }
    assert [o.key for o in store.list("quarantine")] == [
        "quarantine/products/empty.csv",
        "quarantine/products/empty.csv.reason.txt",
    ]
    assert store.read_bytes("quarantine/products/empty.csv.reason.txt") == (
        b"landing/products/empty.csv: empty file: 0 bytes\n"
    )
    out = capsys.readouterr().out
    assert "check processed/order_items:rows_reconciled passed" in out
    assert "check processed/orders:rejection_rate FAILED (WARN)" in out  # 1 of 2 rejected

    # The manifest: exactly the contract's shape, keys bucket-absolute, ETag quoted, copy source encoded.
    head = s3_client.head_object(Bucket=store.bucket, Key="lakehouse/landing/orders/2025-04-16.csv")
    day = datetime.now(UTC).strftime("%Y/%m/%d")
    assert manifests["orders"] == {
        "dataset": "orders",
        "run_id": "exec-42",
        "files": [
            {
                "key": "lakehouse/landing/orders/2025-04-16.csv",
                "etag": head["ETag"],
                "copy_source": urllib.parse.quote(f"{store.bucket}/lakehouse/landing/orders/2025-04-16.csv"),
                "archive_key": f"lakehouse/archived/orders/{day}/2025-04-16.csv",
            }
        ],
    }
    assert [f["key"] for f in manifests["order_items"]["files"]] == ["lakehouse/landing/order_items/2025-04-16.csv"]

    # The Dagster runners' archive job (the state machine archives natively instead).
    archive.main(["archive.py", *common])
    assert [o.key for o in store.list("landing")] == []
    assert sorted(o.key for o in store.list("archived")) == [
        f"archived/order_items/{day}/2025-04-16.csv",
        f"archived/orders/{day}/2025-04-16.csv",
        f"archived/products/{day}/products.csv",
    ]
    archived_orders = (
        ledger.read_ledger(s3_spark, store)
        .where(f"dataset = 'orders' AND stage = '{ledger.STAGE_ARCHIVED}'")
        .select("source_file", "run_id", "detail")
        .collect()
    )
    assert [tuple(row) for row in archived_orders] == [
        ("landing/orders/2025-04-16.csv", "exec-42", f"archived/orders/{day}/2025-04-16.csv")
    ]
    # A rerun of any job changes nothing: the ledger says it is done.
    version = read_table(s3_spark, stages.table_path(store, PROCESSED, ORDERS)).count()
    process.main(["process.py", "--dataset", "orders", *common])
    assert read_table(s3_spark, stages.table_path(store, PROCESSED, ORDERS)).count() == version
