"""Asset checks on the processed tables, built from the data contracts.

Blocking checks (a failure stops the run before the landing files are archived):
- `primary_key`: the primary key is never null and unique across the whole table;
- `<fk>_in_<parent>`: every foreign key of a child table exists in its parent;
- `rows_reconciled`: for every file of the batch, rows read = accepted + rejected + waiting for a
  parent, and rows read = the file's rows in raw (nothing lost between stages);
- `rejection_limit`: fails when the process step held the batch, which it does when the batch
  rejected more than `rejection_max_share` of its decided rows (default half; from
  `rejection_min_rows` rows up): a delivery that is mostly wrong (wrong file, wrong encoding, a
  format change) stays in landing, nothing merged, for someone to look at.
Warning only:
- `rejection_rate`: the batch rejected more than `rejection_warn_share` of its decided rows;
- `schema_drift`: files of the batch had columns the contract does not know (kept in raw's
  `extra_fields`); the check names them.

"The batch" is what this run (or the run it re-executes) processed; a run that processed no file of
the data set does not evaluate these four (they pass, marked `evaluated: false`).

The checks of one table are one `multi_asset_check`: one step measures them all in one pass
(`quality.check_results`: the table, the ledger and raw read once), instead of a step per check,
each reading them again; in the UI they remain separate checks with their own history. A check
cannot be executed alone: running any of them runs the table's whole set.

The measuring and the pass/fail rule are `glue_scripts.quality`'s (a result as a plain dict), so a
Glue or EMR Serverless process job, which measures them where the data is and reports them through
Pipes, decides exactly as these do. Under such an execution the step returns what the job reported
(`execution.reported_checks`); in-process it measures here.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetChecksDefinition,
    AssetCheckSpec,
    AutomationCondition,
    multi_asset_check,
)
from dagster_pyspark import LazyPySparkResource

from glue_scripts import quality
from glue_scripts.contracts import CONTRACTS, DatasetContract
from lakehouse_assets.assets import processed_key
from lakehouse_assets.resources import LakehouseResource
from lakehouse_assets.runners import SparkExecution, batch_run_ids, check_result

# A check runs whenever its table is materialized, in the same run. Giving checks a condition (rather
# than letting them ride along) lets the automation sensor plan a child table, and the archive, in
# the same tick as the parents whose blocking checks they wait for.
AFTER_ITS_ASSET = AutomationCondition.eager()


def check_specs(contract: DatasetContract) -> list[AssetCheckSpec]:
    """Every check of processed/<dataset>, in the order `quality.check_results` reports them."""
    table = processed_key(contract.name)

    def spec(name: str, description: str, blocking: bool, **kwargs) -> AssetCheckSpec:
        return AssetCheckSpec(
            name,
            asset=table,
            description=description,
            blocking=blocking,
            automation_condition=AFTER_ITS_ASSET,
            **kwargs,
        )

    specs = [
        spec(
            quality.PRIMARY_KEY_CHECK,
            f"`{contract.primary_key}` is never null and unique across processed/{contract.name}. The merge keeps "
            "it so; a failure means a write outside the pipeline: `sample_duplicate_keys` names some, find their "
            f"rows (lakehouse query 'SELECT * FROM {contract.name} WHERE {contract.primary_key} = ...') and "
            "restore the table to a version before that write (Delta time travel).",
            blocking=True,
        )
    ]
    specs += [
        spec(
            quality.foreign_key_check_name(fk),
            f"Every `{contract.name}.{fk.column}` exists as `{fk.parent}.{fk.parent_column}`. The pipeline keeps "
            f"rows whose parent has not arrived waiting in rejected_{contract.name}; a failure means a parent row "
            f"was removed or a row written outside the pipeline: `sample_orphan_keys` names some.",
            blocking=True,
            additional_deps=[processed_key(fk.parent)],
        )
        for fk in contract.foreign_keys
    ]
    specs += [
        spec(
            quality.RECONCILIATION_CHECK,
            "This run's batch, per file: rows read = accepted + rejected + waiting for a parent = the file's "
            "rows in raw. On failure rows went missing between stages: the files stay in landing; compare "
            "`raw_" + contract.name + "` with processed and rejected for the files named, and report it.",
            blocking=True,
        ),
        spec(
            quality.REJECTION_RATE_CHECK,
            "Warns when this run's batch rejected more than `rejection_warn_share` "
            "(LAKEHOUSE_REJECTION_WARN_SHARE) of its decided rows; rows waiting for a parent do not count. "
            f"The rejected rows and their reasons are in rejected_{contract.name}.",
            blocking=False,
        ),
        spec(
            quality.REJECTION_LIMIT_CHECK,
            "Fails when this run's batch rejected more than `rejection_max_share` "
            f"({quality.MAX_SHARE_SETTING}, default {quality.DEFAULT_REJECTION_MAX_SHARE}) of its decided rows, "
            f"from {quality.MIN_ROWS_SETTING} (default {quality.DEFAULT_REJECTION_MIN_ROWS}) rows up; rows waiting "
            "for a parent do not count. Such a batch is held: nothing written to processed, its rejected rows "
            "recorded, its files kept in landing and left alone by later runs. Look at the rejected rows, then "
            "land fixed files, or let these through: `lakehouse release FILE... --accept-rejections`.",
            blocking=True,
        ),
        spec(
            quality.SCHEMA_DRIFT_CHECK,
            "Warns when files of this run's batch had columns outside the contract, and names them (their "
            "values are kept in raw's `extra_fields`). Add them to the contract if they are meant to stay.",
            blocking=False,
        ),
    ]
    return specs


def build_checks(contract: DatasetContract) -> AssetChecksDefinition:
    @multi_asset_check(
        name=f"check_processed_{contract.name}",
        specs=check_specs(contract),
        description=f"Keys, referential integrity and the last batch's balance of processed/{contract.name}.",
    )
    def processed_checks(
        context: AssetCheckExecutionContext,
        lakehouse: LakehouseResource,
        pyspark: LazyPySparkResource,
        execution: SparkExecution,
    ) -> Iterator[AssetCheckResult]:
        if (reported := execution.reported_checks(context)) is not None:
            yield from reported
            return
        for result in quality.check_results(
            pyspark.spark_session,
            lakehouse.store(),
            contract,
            batch_run_ids(context.run),
            lakehouse.rejection_policy(),
        ):
            yield check_result(result)

    return processed_checks


all_checks = [build_checks(contract) for contract in CONTRACTS.values()]
