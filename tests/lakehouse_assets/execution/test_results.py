"""Step reports into Dagster results: typed values by their type, raw ones left for Dagster to infer."""

from __future__ import annotations

import pytest
from dagster import AssetCheckSeverity, AssetKey, MetadataValue, TableColumn, TableSchema

from glue_scripts.steps import StepReport
from lakehouse_assets.execution.results import dagster_metadata, report_results


def test_typed_values_become_their_metadata_values_and_raw_ones_stay() -> None:
    metadata = {
        "rows": 3,
        "share": 0.5,
        "preview": {"raw_value": "| a |\n|---|\n| 1 |", "type": "md"},
        "counts": {"raw_value": {"x": 1}, "type": "json"},
        "source_versions": {"raw_value": '{"raw/orders": 4}', "type": "text"},
        "dagster/column_schema": {
            "raw_value": {
                "columns": [{"name": "a", "type": "int", "description": "the a"}, {"name": "b", "type": "string"}]
            },
            "type": "table_schema",
        },
    }
    assert dagster_metadata(metadata) == {
        "rows": 3,
        "share": 0.5,
        "preview": MetadataValue.md("| a |\n|---|\n| 1 |"),
        "counts": MetadataValue.json({"x": 1}),
        "source_versions": MetadataValue.text('{"raw/orders": 4}'),
        "dagster/column_schema": MetadataValue.table_schema(
            TableSchema([TableColumn("a", "int", description="the a"), TableColumn("b", "string")])
        ),
    }


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(ValueError, match="metadata of type 'url': expected one of md, json, text, table_schema"):
        dagster_metadata({"link": {"raw_value": "https://example.com", "type": "url"}})


def test_a_report_becomes_materializations_then_checks() -> None:
    report = StepReport(
        outcomes=[],
        materializations=[{"asset_key": "processed/orders", "metadata": {"rows": 2}}],
        checks=[
            {
                "asset_key": "processed/orders",
                "check_name": "order_id_unique",
                "passed": False,
                "severity": "WARN",
                "metadata": {"duplicates": 1},
                "description": "one key twice",
            }
        ],
    )
    materialization, check = report_results(report)
    assert materialization.asset_key == AssetKey(["processed", "orders"])
    assert materialization.metadata == {"rows": 2}
    assert (check.asset_key, check.check_name, check.passed, check.severity, check.metadata, check.description) == (
        AssetKey(["processed", "orders"]),
        "order_id_unique",
        False,
        AssetCheckSeverity.WARN,
        {"duplicates": MetadataValue.int(1)},
        "one key twice",
    )
