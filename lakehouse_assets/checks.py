"""Asset checks on the processed tables, built from the data contracts.

Blocking checks (a failure stops the run before the landing files are archived):
- `primary_key`: the primary key is never null and unique across the whole table;
- `<fk>_in_<parent>`: every foreign key of a child table exists in its parent;
- `rows_reconciled`: for every file of the last batch, rows read = accepted + rejected, and rows
  read = the file's rows in raw (nothing lost between stages);
- `rejection_limit`: the last batch rejected at most `rejection_max_share` of its rows (default
  half): a delivery that is mostly wrong (wrong file, wrong encoding, a format change) stays in
  landing for someone to look at instead of being archived as if it were fine.
Warning only:
- `rejection_rate`: the last batch rejected more than `rejection_warn_share` of its rows;
- `schema_drift`: files of the last batch had columns the contract does not know (kept in raw's
  `extra_fields`); the check names them.

The measuring and the pass/fail rule are `glue_scripts.quality`'s (a result as a plain dict), so a
Glue or EMR Serverless process job, which measures them where the data is and reports them through
Pipes, decides exactly as these do. Under such an execution a check returns what the job reported
(`execution.reported_check`); in-process it measures here.
"""

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AutomationCondition,
    asset_check,
)
from dagster_pyspark import LazyPySparkResource

from glue_scripts import ledger, quality, stages
from glue_scripts.contracts import CONTRACTS, DatasetContract, ForeignKey
from glue_scripts.delta_tables import read_table
from glue_scripts.storage import PROCESSED, RAW, table_key
from lakehouse_assets.assets import processed_key
from lakehouse_assets.resources import LakehouseResource
from lakehouse_assets.runners import SparkExecution, check_result

# A check runs whenever its table is materialized, in the same run. Giving checks a condition (rather
# than letting them ride along) lets the automation sensor plan a child table, and the archive, in
# the same tick as the parents whose blocking checks they wait for.
AFTER_ITS_ASSET = AutomationCondition.eager()


def build_primary_key_check(contract: DatasetContract) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name=quality.PRIMARY_KEY_CHECK,
        blocking=True,
        description=f"`{contract.primary_key}` is never null and unique across processed/{contract.name}.",
    )
    def primary_key(
        context: AssetCheckExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        execution: SparkExecution,
    ) -> AssetCheckResult:
        if (reported := execution.reported_check(context)) is not None:
            return reported
        store = lakehouse.store()
        table = read_table(pyspark.spark_session, stages.table_path(store, PROCESSED, contract))
        return check_result(quality.primary_key_result(contract, quality.primary_key_report(table, contract)))

    return primary_key


def build_foreign_key_check(contract: DatasetContract, fk: ForeignKey) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name=quality.foreign_key_check_name(fk),
        blocking=True,
        additional_deps=[processed_key(fk.parent)],
        description=f"Every `{contract.name}.{fk.column}` exists as `{fk.parent}.{fk.parent_column}`.",
    )
    def foreign_key(
        context: AssetCheckExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        execution: SparkExecution,
    ) -> AssetCheckResult:
        if (reported := execution.reported_check(context)) is not None:
            return reported
        spark, store = pyspark.spark_session, lakehouse.store()
        child = read_table(spark, stages.table_path(store, PROCESSED, contract))
        parent = read_table(spark, store.spark_path(table_key(PROCESSED, fk.parent)))
        return check_result(quality.foreign_key_result(contract, fk, quality.orphan_report(child, parent, fk)))

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
        name=quality.RECONCILIATION_CHECK,
        blocking=True,
        description="Last batch, per file: rows read = accepted + rejected = the file's rows in raw.",
    )
    def rows_reconciled(
        context: AssetCheckExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        execution: SparkExecution,
    ) -> AssetCheckResult:
        if (reported := execution.reported_check(context)) is not None:
            return reported
        return check_result(quality.reconciliation_result(contract, _last_batch(lakehouse, pyspark, contract)))

    return rows_reconciled


def build_rejection_rate_check(contract: DatasetContract) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name=quality.REJECTION_RATE_CHECK,
        description="Warns when the last batch rejected more than `rejection_warn_share` of its rows.",
    )
    def rejection_rate(
        context: AssetCheckExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        execution: SparkExecution,
    ) -> AssetCheckResult:
        if (reported := execution.reported_check(context)) is not None:
            return reported
        report = _last_batch(lakehouse, pyspark, contract)
        return check_result(quality.rejection_rate_result(contract, report, lakehouse.rejection_warn_share))

    return rejection_rate


def build_rejection_limit_check(contract: DatasetContract) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name=quality.REJECTION_LIMIT_CHECK,
        blocking=True,
        description=(
            "Blocks the archive when the last batch rejected more than `rejection_max_share` of its rows "
            "(its files stay in landing)."
        ),
    )
    def rejection_limit(
        context: AssetCheckExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        execution: SparkExecution,
    ) -> AssetCheckResult:
        if (reported := execution.reported_check(context)) is not None:
            return reported
        report = _last_batch(lakehouse, pyspark, contract)
        return check_result(quality.rejection_limit_result(contract, report, lakehouse.rejection_max_share))

    return rejection_limit


def build_schema_drift_check(contract: DatasetContract) -> AssetChecksDefinition:
    @asset_check(
        automation_condition=AFTER_ITS_ASSET,
        asset=processed_key(contract.name),
        name=quality.SCHEMA_DRIFT_CHECK,
        description="Warns when files of the last batch had columns outside the contract, and names them.",
    )
    def schema_drift(
        context: AssetCheckExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        execution: SparkExecution,
    ) -> AssetCheckResult:
        if (reported := execution.reported_check(context)) is not None:
            return reported
        spark, store = pyspark.spark_session, lakehouse.store()
        entries = ledger.latest_processed_entries(spark, store, contract.name)
        raw = read_table(spark, stages.table_path(store, RAW, contract))
        return check_result(quality.schema_drift_result(contract, quality.schema_drift_report(entries, raw)))

    return schema_drift


def build_checks(contract: DatasetContract) -> list[AssetChecksDefinition]:
    """Every check of processed/<dataset>, in the order `quality.check_results` reports them."""
    checks = [build_primary_key_check(contract)]
    checks += [build_foreign_key_check(contract, fk) for fk in contract.foreign_keys]
    checks += [
        build_reconciliation_check(contract),
        build_rejection_rate_check(contract),
        build_rejection_limit_check(contract),
        build_schema_drift_check(contract),
    ]
    return checks


all_checks = [check for contract in CONTRACTS.values() for check in build_checks(contract)]
