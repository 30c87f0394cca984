"""Plain report dicts (`glue_scripts.steps.StepReport`) -> Dagster results, whether they crossed Pipes or not."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
)

from glue_scripts.steps import StepReport


def table_schema(value: Mapping[str, Any]) -> MetadataValue:
    columns = [TableColumn(c["name"], c["type"], description=c.get("description")) for c in value["columns"]]
    return MetadataValue.table_schema(TableSchema(columns=columns))


# The typed values `glue_scripts` reports (`{"raw_value": ..., "type": ...}`), as Pipes converts them.
TYPED_METADATA: dict[str, Callable[[Any], MetadataValue]] = {
    "md": MetadataValue.md,
    "json": MetadataValue.json,
    "text": MetadataValue.text,
    "table_schema": table_schema,
}


def dagster_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """Metadata from `glue_scripts` as Pipes converts it: typed values by their type, raw ones as they are
    (Dagster infers their type, as Pipes does for a raw value)."""
    return {key: typed_value(value) for key, value in metadata.items()}


def typed_value(value: Any) -> Any:
    if not (isinstance(value, dict) and set(value) == {"raw_value", "type"}):
        return value
    if value["type"] not in TYPED_METADATA:
        raise ValueError(f"metadata of type {value['type']!r}: expected one of {', '.join(TYPED_METADATA)}")
    return TYPED_METADATA[value["type"]](value["raw_value"])


def materialize_result(materialization: Mapping[str, Any]) -> MaterializeResult:
    return MaterializeResult(
        asset_key=AssetKey.from_user_string(materialization["asset_key"]),
        metadata=dagster_metadata(materialization["metadata"]),
    )


def check_result(result: Mapping[str, Any]) -> AssetCheckResult:
    """A `glue_scripts` check result as Dagster's, as Pipes reports it."""
    return AssetCheckResult(
        asset_key=AssetKey.from_user_string(result["asset_key"]),
        check_name=result["check_name"],
        passed=result["passed"],
        severity=AssetCheckSeverity(result["severity"]),
        metadata=dagster_metadata(result["metadata"]),
        description=result.get("description"),
    )


def report_results(report: StepReport) -> list[MaterializeResult | AssetCheckResult]:
    return [
        *(materialize_result(m) for m in report.materializations),
        *(check_result(c) for c in report.checks),
    ]
