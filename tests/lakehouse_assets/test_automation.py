"""Declarative automation of the asset graph, evaluated against a real instance (no runs needed).

Raw tables are requested by the landing sensor; everything downstream must follow on its own, in
one run when raw is complete, never before a parent table exists, and never past a failed
blocking check.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    evaluate_automation_conditions,
    instance_for_test,
)

from lakehouse_assets.definitions import defs

DOWNSTREAM = [
    "analytics/daily_sales",
    "analytics/top_products",
    "archived/landed_files",
    "catalog/glue_tables",
    "processed/order_items",
    "processed/orders",
    "processed/products",
    "rejected/order_items",
    "rejected/orders",
    "rejected/products",
]


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


class Evaluator:
    def __init__(self, instance: DagsterInstance) -> None:
        self.instance, self.cursor = instance, None

    def materialized(self, *keys: str) -> None:
        for key in keys:
            self.instance.report_runless_asset_event(AssetMaterialization(AssetKey(key.split("/"))))

    def check(self, asset: str, name: str, passed: bool) -> None:
        self.instance.report_runless_asset_event(
            AssetCheckEvaluation(asset_key=AssetKey(asset.split("/")), check_name=name, passed=passed)
        )

    def requested(self) -> list[str]:
        result = evaluate_automation_conditions(defs=defs, instance=self.instance, cursor=self.cursor)
        self.cursor = result.cursor
        return sorted(
            r.key.to_user_string()
            for r in result.results
            if isinstance(r.key, AssetKey) and r.true_subset.size  # assets; checks ride along
        )


def test_nothing_happens_on_an_empty_lakehouse(instance: DagsterInstance) -> None:
    assert Evaluator(instance).requested() == []


def test_a_child_waits_until_its_parents_exist(instance: DagsterInstance) -> None:
    evaluator = Evaluator(instance)
    evaluator.requested()
    evaluator.materialized("raw/order_items")
    assert evaluator.requested() == []


def test_raw_batch_brings_everything_downstream_in_one_tick(instance: DagsterInstance) -> None:
    evaluator = Evaluator(instance)
    evaluator.requested()
    evaluator.materialized("raw/products", "raw/orders", "raw/order_items")
    assert evaluator.requested() == DOWNSTREAM
    # Nothing changed since: nothing is requested again.
    assert evaluator.requested() == []


def test_a_failed_blocking_check_holds_back_children_and_the_archive(instance: DagsterInstance) -> None:
    evaluator = Evaluator(instance)
    evaluator.requested()
    evaluator.materialized(*[k for k in DOWNSTREAM if k.startswith(("processed", "rejected"))])
    for dataset in ("products", "orders"):
        for name in ("primary_key", "rows_reconciled", "rejection_limit"):
            evaluator.check(f"processed/{dataset}", name, passed=True)
    evaluator.requested()
    evaluator.check("processed/orders", "primary_key", passed=False)
    evaluator.materialized("raw/order_items")
    assert evaluator.requested() == []
    evaluator.materialized("raw/orders")
    # orders is requested again (its own input changed); its children only once its checks pass
    # in that same run, which the run itself enforces.
    assert evaluator.requested() == [
        "analytics/daily_sales",
        "analytics/top_products",
        "archived/landed_files",
        "catalog/glue_tables",
        "processed/order_items",
        "processed/orders",
        "rejected/order_items",
        "rejected/orders",
    ]
    assert AssetCheckKey(AssetKey(["processed", "orders"]), "primary_key") in {
        key for key in defs.resolve_asset_graph().asset_check_keys
    }
