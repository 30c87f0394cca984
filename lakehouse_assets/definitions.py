"""The Dagster code location: every asset, check and job, with the environment's resources.

Runs use the in-process executor: all steps of a run share one Spark session, instead of
starting a JVM per step.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor

from lakehouse_assets.alerts import all_alert_sensors
from lakehouse_assets.analytics import analytics_assets, analytics_checks
from lakehouse_assets.assets import all_assets
from lakehouse_assets.catalog import glue_tables
from lakehouse_assets.checks import all_checks
from lakehouse_assets.freshness import freshness_checks, freshness_sensor
from lakehouse_assets.jobs import lakehouse_job
from lakehouse_assets.maintenance import maintenance_assets
from lakehouse_assets.resources import resources_for_environment
from lakehouse_assets.sensors import all_sensors


def build_definitions(root: str | None = None, environment: str | None = None) -> Definitions:
    return Definitions(
        assets=[*all_assets, *analytics_assets, glue_tables, *maintenance_assets],
        asset_checks=[*all_checks, *analytics_checks, freshness_checks],
        jobs=[lakehouse_job],
        sensors=[*all_sensors, *all_alert_sensors, freshness_sensor],
        resources=resources_for_environment(environment, root),
        executor=in_process_executor,
    )


defs = build_definitions()
