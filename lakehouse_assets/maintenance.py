"""`maintenance/<dataset>`: nightly compaction (OPTIMIZE) and clean-up (VACUUM) of each data set's tables.

Kept out of the runs that load data (`lakehouse_job` leaves the group out): those would otherwise
pay for the whole table on every batch. A maintenance asset runs from the automation sensor at
03:00 UTC (`MAINTENANCE_CRON`), and only when its tables changed since the previous night
(`AutomationCondition.on_cron` waits for the dependencies to update after the cron tick). It holds
the same pool as the step that merges into `processed/<dataset>` and `rejected/<dataset>`, so it
never commits to a table while a batch is merged into it. The raw tables are append-only and are
left as they are (their writer, the ingest step, holds another pool). Runs in the Dagster process's
Spark session, whatever the execution setting (like the analytics and catalog assets).
"""

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, AutomationCondition, MaterializeResult, asset
from dagster_pyspark import LazyPySparkResource

from glue_scripts import stages
from glue_scripts.contracts import CONTRACTS, DatasetContract
from glue_scripts.maintenance import DEFAULT_RETENTION_HOURS, maintain_table
from glue_scripts.storage import PROCESSED, REJECTED
from lakehouse_assets.assets import pool, processed_key, rejected_key
from lakehouse_assets.resources import LakehouseResource
from lakehouse_assets.table_locks import dataset_lock, held_by_step

MAINTENANCE_GROUP = "maintenance"
MAINTENANCE_CRON = "0 3 * * *"


def maintenance_key(dataset: str) -> AssetKey:
    return AssetKey([MAINTENANCE_GROUP, dataset])


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
    def maintain(context: AssetExecutionContext, lakehouse: LakehouseResource, pyspark: LazyPySparkResource):
        store = lakehouse.store()
        metadata: dict[str, int] = {}
        for zone in (PROCESSED, REJECTED):
            with held_by_step(context, [dataset_lock(name)]):
                outcome = maintain_table(pyspark.spark_session, stages.table_path(store, zone, contract))
            if outcome is None:
                continue
            context.log.info(
                f"{zone}/{name}: {outcome.files_before} files -> {outcome.files_after} "
                f"({outcome.files_compacted} compacted), version {outcome.table_version}"
            )
            metadata[f"{zone}_files_before"] = outcome.files_before
            metadata[f"{zone}_files_after"] = outcome.files_after
            metadata[f"{zone}_table_version"] = outcome.table_version
        return MaterializeResult(metadata=metadata)

    return maintain


maintenance_assets = [build_maintenance_asset(contract) for contract in CONTRACTS.values()]
