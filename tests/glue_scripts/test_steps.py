"""The process step's checks: the batch they judge is the run's ledger entries, however the step got there."""

from datetime import UTC, datetime

import pytest
from pyspark.sql import SparkSession

from glue_scripts import steps
from glue_scripts.contracts import ORDERS
from glue_scripts.failpoints import install_hook
from glue_scripts.quality import RECONCILIATION_CHECK
from glue_scripts.storage import LocalStore
from tests.helpers import InjectedCrash, raise_at, write_landing

NOW = datetime(2025, 4, 20, 8, 0, tzinfo=UTC)
ORDERS_FILE = (
    "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
    "1,10,7,2025-04-01T10:00:00,5.00,2025-04-01\n"
    "2,11,7,,6.00,2025-04-01\n"
)


def reconciliation(report: steps.StepReport) -> dict:
    (result,) = [check for check in report.checks if check["check_name"] == RECONCILIATION_CHECK]
    return {"passed": result["passed"], **result["metadata"]}


def test_a_retried_step_checks_the_batch_its_crashed_attempt_recorded_and_a_later_run_has_none(
    spark: SparkSession, store: LocalStore
) -> None:
    write_landing(store, "orders", "1.csv", ORDERS_FILE)
    steps.ingest_step(spark, store, ORDERS, "r1", NOW)

    # The first attempt crashes once the stage has recorded its ledger entries, before the checks.
    with install_hook(raise_at("process_recorded_orders")), pytest.raises(InjectedCrash):
        steps.process_step(spark, store, ORDERS, "r1", NOW, batch_run_ids=["r1"])
    # The retry finds nothing left to process: its checks judge what the first attempt recorded.
    retried = steps.process_step(spark, store, ORDERS, "r1", NOW, batch_run_ids=["r1"])
    later = steps.process_step(spark, store, ORDERS, "r2", NOW, batch_run_ids=["r2"])

    assert retried.outcomes[0].files == []
    batch = {"files": 1, "rows_read": 2, "rows_accepted": 1, "rows_rejected": 1, "rows_waiting": 0}
    assert reconciliation(retried) == {"passed": True, **batch, "unbalanced_files": {"raw_value": [], "type": "json"}}
    assert reconciliation(later) == {"passed": True, "files": 0, "evaluated": False}
