"""Freshness: each data set's expected delivery interval, and a warning when a data set is overdue.

The check `delivered_on_time` on `raw/<dataset>` compares the last time a file of the data set was
loaded (the latest `raw/<dataset>` materialization that loaded files) with the data set's expected
interval: orders and order items daily (26 hours, two of slack), products rarely (30 days), changed
with `LAKEHOUSE_DELIVERY_HOURS` (`orders=24,order_items=24,products=720`). A data set never
delivered is not overdue: nothing is expected of it yet.

It is about time passing, not about a run, so `lakehouse_job` leaves it out: the `freshness`
sensor evaluates it every 15 minutes, records a result in the instance whenever a data set's state
changes (visible on `raw/<dataset>` in the UI) and sends an alert when one turns overdue. It reads
only Dagster's event log: no Spark, the same in every execution mode.
"""

import json
import os
import time
from collections.abc import Iterator, Mapping

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterInstance,
    DefaultSensorStatus,
    MetadataValue,
    SensorEvaluationContext,
    SkipReason,
    multi_asset_check,
    sensor,
)

from glue_scripts.contracts import DATASETS
from lakehouse_assets.alerts import AlertResource
from lakehouse_assets.keys import raw_key

FRESHNESS_CHECK = "delivered_on_time"
DELIVERY_SETTING = "LAKEHOUSE_DELIVERY_HOURS"
DEFAULT_DELIVERY_HOURS = {"products": 30 * 24.0, "orders": 26.0, "order_items": 26.0}
# How many of a raw table's latest materializations to look through for one that loaded files.
LOOKBACK = 1000


def delivery_hours(environ: Mapping[str, str] | None = None) -> dict[str, float]:
    """The expected interval per data set: the defaults, overridden by `LAKEHOUSE_DELIVERY_HOURS`."""
    hours = dict(DEFAULT_DELIVERY_HOURS)
    setting = (os.environ if environ is None else environ).get(DELIVERY_SETTING, "")
    for item in filter(None, (part.strip() for part in setting.split(","))):
        dataset, _, value = item.partition("=")
        if dataset not in hours or not value.replace(".", "", 1).isdigit():
            raise ValueError(f"{DELIVERY_SETTING}: {item!r} is not <dataset>=<hours> ({', '.join(DATASETS)})")
        hours[dataset] = float(value)
    return hours


def last_delivery(instance: DagsterInstance, dataset: str) -> float | None:
    """When a file of the data set was last loaded into raw (a timestamp), or None if never."""
    cursor = None
    seen = 0
    while seen < LOOKBACK:
        page = instance.fetch_materializations(raw_key(dataset), limit=100, cursor=cursor)
        for record in page.records:
            files = (
                record.asset_materialization.metadata.get("files_ingested") if record.asset_materialization else None
            )
            if files is not None and files.value:
                return record.timestamp
        seen += len(page.records)
        if not page.has_more:
            return None
        cursor = page.cursor
    return None


def freshness_evaluation(dataset: str, last: float | None, now: float, hours: float) -> AssetCheckEvaluation:
    """Passed unless the data set's last delivery is older than its expected interval."""
    if last is None:
        return AssetCheckEvaluation(
            raw_key(dataset),
            FRESHNESS_CHECK,
            passed=True,
            metadata={"expected_every_hours": hours},
            severity=AssetCheckSeverity.WARN,
            description=f"No {dataset} file loaded yet: nothing is expected of it.",
        )
    since = (now - last) / 3600
    passed = since <= hours
    description = (
        f"The last {dataset} file was loaded {since:.1f} h ago; expected every {hours:g} h."
        if passed
        else f"Overdue: no {dataset} file loaded for {since:.1f} h, expected every {hours:g} h "
        f"({DELIVERY_SETTING}). Check the delivery upstream, or land the missing files."
    )
    return AssetCheckEvaluation(
        raw_key(dataset),
        FRESHNESS_CHECK,
        passed=passed,
        metadata={
            "last_delivery": MetadataValue.timestamp(last),
            "hours_since": round(since, 2),
            "expected_every_hours": hours,
        },
        severity=AssetCheckSeverity.WARN,
        description=description,
    )


def evaluate(instance: DagsterInstance, now: float | None = None) -> list[AssetCheckEvaluation]:
    hours = delivery_hours()
    now = time.time() if now is None else now
    return [freshness_evaluation(name, last_delivery(instance, name), now, hours[name]) for name in DATASETS]


@multi_asset_check(
    name="check_freshness",
    specs=[
        AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=raw_key(name),
            description=f"Warns when no {name} file has been loaded for longer than its expected interval "
            f"({DEFAULT_DELIVERY_HOURS[name]:g} h; {DELIVERY_SETTING}). Evaluated by the `freshness` sensor.",
        )
        for name in DATASETS
    ],
    can_subset=True,
)
def freshness_checks(context: AssetCheckExecutionContext) -> Iterator[AssetCheckResult]:
    """Executed from the UI: the same evaluation the sensor makes."""
    for evaluation in evaluate(context.instance):
        if evaluation.asset_check_key in context.selected_asset_check_keys:
            yield AssetCheckResult(
                asset_key=evaluation.asset_key,
                check_name=evaluation.check_name,
                passed=evaluation.passed,
                severity=evaluation.severity,
                metadata=evaluation.metadata,
                description=evaluation.description,
            )


@sensor(name="freshness", minimum_interval_seconds=15 * 60, default_status=DefaultSensorStatus.RUNNING)
def freshness_sensor(context: SensorEvaluationContext, alerts: AlertResource) -> SkipReason:
    """Records each data set's freshness when it changes; alerts once when one turns overdue."""
    previous: dict[str, bool] = json.loads(context.cursor) if context.cursor else {}
    states = {}
    for evaluation in evaluate(context.instance):
        dataset = evaluation.asset_key.path[-1]
        states[dataset] = evaluation.passed
        if previous.get(dataset) != evaluation.passed:
            context.instance.report_runless_asset_event(evaluation)
            if not evaluation.passed:
                alerts.send(f"lakehouse: {dataset} overdue", evaluation.description or "", context.log)
    context.update_cursor(json.dumps(states, sort_keys=True))
    overdue = sorted(name for name, passed in states.items() if not passed)
    return SkipReason(f"overdue: {', '.join(overdue)}" if overdue else "every data set delivered on time")
