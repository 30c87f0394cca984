"""The interface every execution implements: one method per Spark step, the same for all assets.

An asset body hands its Spark work to the `execution` resource and yields what comes back: the
materializations of the tables the step wrote and the results of their checks, measured by the same
step (so no state passes from one step to another, and any Dagster executor works), plus the stage
outcomes the asset turns into per-file events of `landing/files`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dagster import AssetCheckResult, AssetExecutionContext, ConfigurableResource, DagsterRun, MaterializeResult

from glue_scripts.contracts import DatasetContract

if TYPE_CHECKING:
    from lakehouse_assets.resources import GlueCatalogResource, LakehouseResource

LOCAL, GLUE, EMR_SERVERLESS = "local", "glue", "emr_serverless"
EXECUTIONS = (LOCAL, GLUE, EMR_SERVERLESS)


@dataclass
class StepOutput:
    """What a step gives back to its asset: stage outcomes, and the results to yield (materializations, checks)."""

    outcomes: list[Any]
    results: list[MaterializeResult | AssetCheckResult] = field(default_factory=list)

    def metadata(self, asset_key: str) -> dict[str, Any]:
        """The plain metadata values of one materialization (for the asset's log line)."""
        for result in self.results:
            if (
                isinstance(result, MaterializeResult)
                and result.asset_key
                and result.asset_key.to_user_string() == asset_key
            ):
                return {key: getattr(value, "value", value) for key, value in (result.metadata or {}).items()}
        return {}


def batch_run_ids(run: DagsterRun) -> list[str]:
    """The run and the runs it re-executes: their processed files are the batch its checks look at."""
    return list(dict.fromkeys(i for i in (run.run_id, run.parent_run_id, run.root_run_id) if i))


class Execution(ConfigurableResource, ABC):
    """Where the Spark steps run: `LocalExecution` (this process) or a `RemoteExecution` (a job per step)."""

    @abstractmethod
    def ingest(
        self,
        context: AssetExecutionContext,
        lakehouse: LakehouseResource,
        contract: DatasetContract,
        only_versions: Sequence[str] | None,
    ) -> StepOutput:
        """landing -> raw/<dataset>: all waiting files, or only these file versions."""

    @abstractmethod
    def process(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contract: DatasetContract
    ) -> StepOutput:
        """raw -> processed + rejected, and every check of processed/<dataset> over this run's batch."""

    @abstractmethod
    def archive(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contracts: Sequence[DatasetContract]
    ) -> StepOutput:
        """Move the accounted-for landing files of these data sets to `archived/`."""

    @abstractmethod
    def analytics(self, context: AssetExecutionContext, lakehouse: LakehouseResource, table: str) -> StepOutput:
        """Rebuild analytics/<table> from processed/ and reconcile its totals."""

    @abstractmethod
    def catalog(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, catalog: GlueCatalogResource
    ) -> StepOutput:
        """Register every table in the Glue database (or, with the catalog off, report what would be)."""

    @abstractmethod
    def maintain(
        self, context: AssetExecutionContext, lakehouse: LakehouseResource, contract: DatasetContract
    ) -> StepOutput:
        """OPTIMIZE and VACUUM processed/<dataset> and rejected/<dataset>."""
