"""Plain report dicts (`glue_scripts.steps.StepReport`) -> Dagster results, whether they crossed Pipes or not."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from dagster import AssetCheckResult, AssetCheckSeverity, AssetKey, MaterializeResult, MetadataValue
from dagster._core.definitions.metadata.external_metadata import (
    EXTERNAL_METADATA_TYPE_INFER,
    ExternalMetadataValue,
    metadata_map_from_external,
)

from glue_scripts.steps import StepReport


def dagster_metadata(metadata: Mapping[str, Any]) -> dict[str, MetadataValue]:
    """Metadata from `glue_scripts` (raw values or Pipes' typed `{"raw_value", "type"}`) as Pipes converts it."""
    external = {
        key: value
        if isinstance(value, dict) and set(value) == {"raw_value", "type"}
        else {"raw_value": value, "type": EXTERNAL_METADATA_TYPE_INFER}
        for key, value in metadata.items()
    }
    # Plain dicts (they may have crossed Pipes as JSON): Dagster checks each `type` as it converts them.
    return dict(metadata_map_from_external(cast(Mapping[str, ExternalMetadataValue], external)))


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
