"""Freshness on a real (ephemeral) instance: deliveries are raw materializations that loaded files."""

import json
import time

import pytest
from dagster import AssetCheckKey, AssetMaterialization, DagsterInstance, build_sensor_context

from lakehouse_assets.alerts import AlertResource
from lakehouse_assets.freshness import (
    FRESHNESS_CHECK,
    delivery_hours,
    evaluate,
    freshness_sensor,
    last_delivery,
)
from lakehouse_assets.keys import raw_key


def test_the_expected_intervals_and_their_setting() -> None:
    assert delivery_hours({}) == {"products": 720.0, "orders": 26.0, "order_items": 26.0}
    assert delivery_hours({"LAKEHOUSE_DELIVERY_HOURS": "orders=12, products=1.5"}) == {
        "products": 1.5,
        "orders": 12.0,
        "order_items": 26.0,
    }
    with pytest.raises(ValueError, match="'customers=1' is not <dataset>=<hours>"):
        delivery_hours({"LAKEHOUSE_DELIVERY_HOURS": "customers=1"})


def test_a_run_that_loaded_nothing_is_not_a_delivery() -> None:
    with DagsterInstance.ephemeral() as instance:
        assert last_delivery(instance, "orders") is None
        instance.report_runless_asset_event(AssetMaterialization(raw_key("orders"), metadata={"files_ingested": 2}))
        delivered = last_delivery(instance, "orders")
        instance.report_runless_asset_event(AssetMaterialization(raw_key("orders"), metadata={"files_ingested": 0}))
        assert delivered is not None and last_delivery(instance, "orders") == delivered

        by_dataset = {e.asset_key.path[-1]: e for e in evaluate(instance, now=delivered + 27 * 3600)}
        assert by_dataset["products"].passed and by_dataset["products"].description == (
            "No products file loaded yet: nothing is expected of it."
        )
        overdue = by_dataset["orders"]
        assert (overdue.passed, overdue.severity.value) == (False, "WARN")
        assert overdue.description == (
            "Overdue: no orders file loaded for 27.0 h, expected every 26 h (LAKEHOUSE_DELIVERY_HOURS). "
            "Check the delivery upstream, or land the missing files."
        )


def test_the_sensor_records_a_change_of_state_and_alerts_once(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("LAKEHOUSE_DELIVERY_HOURS", "orders=0.0001")  # overdue after a third of a second
    key = AssetCheckKey(raw_key("orders"), FRESHNESS_CHECK)
    with DagsterInstance.ephemeral() as instance:
        instance.report_runless_asset_event(AssetMaterialization(raw_key("orders"), metadata={"files_ingested": 1}))
        time.sleep(0.5)
        cursor = None
        for _ in range(2):  # the second tick finds the same states: nothing recorded, no second alert
            context = build_sensor_context(instance, cursor=cursor, resources={"alerts": AlertResource()})
            assert freshness_sensor(context).skip_message == "overdue: orders"
            cursor = context.cursor
        assert json.loads(cursor) == {"order_items": True, "orders": False, "products": True}
        record = instance.get_latest_asset_check_evaluation_record(key)
        assert record is not None and record.evaluation is not None and record.evaluation.passed is False
        # Without a topic, the alert is a warning in the sensor's log: once, for the change of state.
        assert capfd.readouterr().err.count("WARNING - lakehouse: orders overdue\nOverdue: no orders file loaded") == 1
