"""`LocalExecution` (`LAKEHOUSE_EXECUTION=local`, the default): the steps in this process, on local Spark."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from dagster import AssetExecutionContext
from dagster_pyspark import LazyPySparkResource

from glue_scripts import steps
from glue_scripts.contracts import DatasetContract
from lakehouse_assets.execution.base import Execution, StepOutput, batch_run_ids
from lakehouse_assets.execution.results import report_results

if TYPE_CHECKING:
    from lakehouse_assets.resources import GlueCatalogResource, LakehouseResource


class LocalExecution(Execution):
    """The step functions of `glue_scripts.steps` on the nested `pyspark` resource's session (started on first use)."""

    pyspark: LazyPySparkResource

    def __init__(self, **data: Any) -> None:
        # Dagster drops a class-level default of a nested resource field, so the default is set here.
        if "pyspark" not in data:
            from lakehouse_assets.spark.config import local_spark_conf

            data["pyspark"] = LazyPySparkResource(spark_config=local_spark_conf())
        super().__init__(**data)

    def ingest(
        self,
        context: AssetExecutionContext,
        lakehouse: LakehouseResource,
        contract: DatasetContract,
        only_versions: Sequence[str] | None,
    ) -> StepOutput:
        spark = self.pyspark.spark_session
        return _output(
            steps.ingest_step(spark, lakehouse.store(), contract, context.run_id, steps.utc_now(), only_versions)
        )

    def process(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contract: DatasetContract
    ) -> StepOutput:
        report = steps.process_step(
            self.pyspark.spark_session,
            lakehouse.store(),
            contract,
            context.run_id,
            steps.utc_now(),
            lakehouse.rejection_policy(),
            batch_run_ids(context.run),
        )
        return _output(report)

    def archive(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contracts: Sequence[DatasetContract]
    ) -> StepOutput:
        spark = self.pyspark.spark_session
        return _output(steps.archive_step(spark, lakehouse.store(), contracts, context.run_id, steps.utc_now()))

    def analytics(self, context: AssetExecutionContext, lakehouse: LakehouseResource, table: str) -> StepOutput:
        return _output(steps.analytics_step(self.pyspark.spark_session, lakehouse.store(), table))

    def catalog(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, catalog: GlueCatalogResource
    ) -> StepOutput:
        glue = catalog.get_client() if catalog.enabled else None
        return _output(steps.catalog_step(self.pyspark.spark_session, lakehouse.store(), catalog.database, glue))

    def maintain(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contract: DatasetContract
    ) -> StepOutput:
        return _output(steps.maintenance_step(self.pyspark.spark_session, lakehouse.store(), contract))


def _output(report: steps.StepReport) -> StepOutput:
    return StepOutput(report.outcomes, report_results(report))
