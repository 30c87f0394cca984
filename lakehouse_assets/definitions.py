"""The Dagster code location: every asset, check and job, with the environment's resources.

Locally, runs use the in-process executor: all steps of a run share one Spark session, instead of
starting a JVM per step. When the steps run on AWS (`LAKEHOUSE_ENV=aws`, `resources`) this
process only starts jobs and waits, so runs use the multiprocess executor: independent steps (the
parent tables, the analytics tables) run their jobs at the same time.
"""

from __future__ import annotations

from dagster import Definitions, in_process_executor, multiprocess_executor

from lakehouse_assets.alerts import all_alert_sensors
from lakehouse_assets.analytics import analytics_assets
from lakehouse_assets.assets import all_assets
from lakehouse_assets.catalog import glue_tables
from lakehouse_assets.freshness import freshness_checks, freshness_sensor
from lakehouse_assets.jobs import lakehouse_job
from lakehouse_assets.maintenance import maintenance_assets
from lakehouse_assets.resources import environment_name, resources_for_environment
from lakehouse_assets.sensors import build_sensors


def build_definitions(root: str | None = None, environment: str | None = None) -> Definitions:
    environment = environment or environment_name()
    return Definitions(
        assets=[*all_assets, *analytics_assets, glue_tables, *maintenance_assets],
        asset_checks=[freshness_checks],
        jobs=[lakehouse_job],
        sensors=[*build_sensors(), *all_alert_sensors, freshness_sensor],
        resources=resources_for_environment(environment, root),
        executor=in_process_executor if environment == "local" else multiprocess_executor,
    )


defs = build_definitions()
