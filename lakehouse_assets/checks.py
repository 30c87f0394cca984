"""Asset checks on the processed tables, built from the data contracts.

Blocking checks (a failure stops the run before the landing files are archived):
- `primary_key`: the primary key is never null and unique across the whole table;
- `<fk>_in_<parent>`: every foreign key of a child table exists in its parent;
- `rows_reconciled`: for every file of the last batch, rows read = accepted + rejected, and rows
  read = the file's rows in raw (nothing lost between stages).
Warning only:
- `rejection_rate`: the last batch rejected more than the configured share of its rows.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AutomationCondition,
    MetadataValue,
    asset_check,
)
from dagster_pyspark import LazyPySparkResource

from glue_scripts import ledger, quality, stages
from glue_scripts.contracts import CONTRACTS, DatasetContract, ForeignKey
from glue_scripts.delta_tables import read_table
from glue_scripts.storage import PROCESSED, RAW, table_key
from lakehouse_assets.assets import processed_key
from lakehouse_assets.resources import LakehouseResource

# A check runs whenever its table is materialized, in the same run. Giving checks a condition (rather
# than letting them ride along) lets the automation sensor plan a child table, and the archive, in
# the same tick as the parents whose blocking checks they wait for.
AFTER_ITS_ASSET = AutomationCondition.eager()


def build_primary_key_check(contract: DatasetContract) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name="primary_key",
        blocking=True,
        description=f"`{contract.primary_key}` is never null and unique across processed/{contract.name}.",
    )
    def primary_key(lakehouse: LakehouseResource, pyspark: LazyPySparkResource) -> AssetCheckResult:
        store = lakehouse.store()
        table = read_table(pyspark.spark_session, stages.table_path(store, PROCESSED, contract))
        report = quality.primary_key_report(table, contract)
        return AssetCheckResult(
            passed=report.passed,
            metadata={
                "rows": report.rows,
                "null_keys": report.null_keys,
                "duplicate_keys": report.duplicate_keys,
                "sample_duplicate_keys": MetadataValue.json(report.sample_duplicates),
            },
        )

    return primary_key


def build_foreign_key_check(contract: DatasetContract, fk: ForeignKey) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name=f"{fk.column}_in_{fk.parent}",
        blocking=True,
        additional_deps=[processed_key(fk.parent)],
        description=f"Every `{contract.name}.{fk.column}` exists as `{fk.parent}.{fk.parent_column}`.",
    )
    def foreign_key(lakehouse: LakehouseResource, pyspark: LazyPySparkResource) -> AssetCheckResult:
        spark, store = pyspark.spark_session, lakehouse.store()
        child = read_table(spark, stages.table_path(store, PROCESSED, contract))
        parent = read_table(spark, store.spark_path(table_key(PROCESSED, fk.parent)))
        report = quality.orphan_report(child, parent, fk)
        return AssetCheckResult(
            passed=report.passed,
            metadata={
                "rows_checked": report.rows_checked,
                "orphan_rows": report.orphan_rows,
                "sample_orphan_keys": MetadataValue.json(report.sample_orphan_keys),
            },
        )

    return foreign_key


def _last_batch(lakehouse: LakehouseResource, pyspark: LazyPySparkResource, contract: DatasetContract):
    spark, store = pyspark.spark_session, lakehouse.store()
    entries = ledger.latest_processed_entries(spark, store, contract.name)
    raw = read_table(spark, stages.table_path(store, RAW, contract))
    return quality.reconciliation_report(entries, raw)


def build_reconciliation_check(contract: DatasetContract) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name="rows_reconciled",
        blocking=True,
        description="Last batch, per file: rows read = accepted + rejected = the file's rows in raw.",
    )
    def rows_reconciled(lakehouse: LakehouseResource, pyspark: LazyPySparkResource) -> AssetCheckResult:
        report = _last_batch(lakehouse, pyspark, contract)
        return AssetCheckResult(
            passed=report.passed,
            metadata={
                "files": report.files,
                "rows_read": report.rows_read,
                "rows_accepted": report.rows_accepted,
                "rows_rejected": report.rows_rejected,
                "unbalanced_files": MetadataValue.json(report.unbalanced_files),
            },
        )

    return rows_reconciled


def build_rejection_rate_check(contract: DatasetContract) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name="rejection_rate",
        description="Warns when the last batch rejected more than `rejection_warn_share` of its rows.",
    )
    def rejection_rate(
        context: AssetCheckExecutionContext, lakehouse: LakehouseResource, pyspark: LazyPySparkResource
    ) -> AssetCheckResult:
        report = _last_batch(lakehouse, pyspark, contract)
        return AssetCheckResult(
            passed=report.rejection_share <= lakehouse.rejection_warn_share,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "rejection_rate": report.rejection_share,
                "threshold": lakehouse.rejection_warn_share,
                "rows_read": report.rows_read,
                "rows_rejected": report.rows_rejected,
            },
        )

    return rejection_rate


def build_checks(contract: DatasetContract) -> list[AssetChecksDefinition]:
    checks = [build_primary_key_check(contract)]
    checks += [build_foreign_key_check(contract, fk) for fk in contract.foreign_keys]
    checks += [build_reconciliation_check(contract), build_rejection_rate_check(contract)]
    return checks


all_checks = [check for contract in CONTRACTS.values() for check in build_checks(contract)]
