"""`maintenance/<dataset>`: nightly compaction (OPTIMIZE) and clean-up (VACUUM) of each data set's tables.

Kept out of the runs that load data (`lakehouse_job` leaves the group out): those would otherwise
pay for the whole table on every batch. A maintenance asset runs from the automation sensor at
03:00 UTC (`MAINTENANCE_CRON`), and only when its tables changed since the previous night
(`AutomationCondition.on_cron` waits for the dependencies to update after the cron tick). It holds
the same pool as the step that merges into `processed/<dataset>` and `rejected/<dataset>`, so it
never commits to a table while a batch is merged into it. The raw tables are append-only and are
left as they are (their writer, the ingest step, holds another pool). The `execution` resource
runs it: in this process, or as the stack's maintenance Glue job (or on EMR Serverless).
"""

from dagster import AssetExecutionContext, AssetsDefinition, AutomationCondition, MaterializeResult, asset

from glue_scripts.contracts import CONTRACTS, DatasetContract
from glue_scripts.maintenance import DEFAULT_RETENTION_HOURS
from glue_scripts.steps import MAINTENANCE
from glue_scripts.storage import PROCESSED
from lakehouse_assets.execution import Execution
from lakehouse_assets.keys import maintenance_key, pool, processed_key, rejected_key
from lakehouse_assets.resources import LakehouseResource
from lakehouse_assets.table_locks import dataset_lock, held_by_step

MAINTENANCE_GROUP = MAINTENANCE
MAINTENANCE_CRON = "0 3 * * *"


def build_maintenance_asset(contract: DatasetContract) -> AssetsDefinition:
    name = contract.name

    @asset(
        key=maintenance_key(name),
        group_name=MAINTENANCE_GROUP,
        deps=[processed_key(name), rejected_key(name)],
        kinds={"delta"},
        description=(
            f"Nightly OPTIMIZE (bin-packing small files) and VACUUM ({DEFAULT_RETENTION_HOURS} h retention) of "
            f"processed/{name} and rejected/{name}; only after they changed."
        ),
        automation_condition=AutomationCondition.on_cron(MAINTENANCE_CRON, "UTC"),
        pool=pool(PROCESSED, name),
    )
    def maintain(
        context: AssetExecutionContext, lakehouse: LakehouseResource, execution: Execution
    ) -> MaterializeResult:
        with held_by_step(context, [dataset_lock(name)]):
            step = execution.maintain(context, lakehouse, contract)
        done = step.metadata(maintenance_key(name).to_user_string())
        context.log.info(
            f"{name}: files before -> after: "
            + ", ".join(
                f"{zone} {done[f'{zone}_files_before']} -> {done[f'{zone}_files_after']}"
                for zone in ("processed", "rejected")
                if f"{zone}_files_before" in done
            )
        )
        (result,) = step.results
        assert isinstance(result, MaterializeResult)
        return result

    return maintain


maintenance_assets = [build_maintenance_asset(contract) for contract in CONTRACTS.values()]
