"""Asset checks on the processed tables, built from the data contracts.

Blocking: `primary_key`, `<fk>_in_<parent>`, `rows_reconciled`, `rejection_limit`; warning only:
`rejection_rate`, `schema_drift` (README.md, "Dagster", says what each one checks). They are declared
on the step that writes the table (`assets.build_processing_asset`), which measures them all in one
pass right after the merge (`quality.check_results`), in this process or in the Glue or EMR Serverless
job. In the UI each keeps its own history; none can be executed without its table.
"""

from typing import Any

from dagster import AssetCheckSpec, AutomationCondition

from glue_scripts import quality
from glue_scripts.contracts import DatasetContract
from lakehouse_assets.keys import processed_key

# A check runs whenever its table is materialized, in the same run. Giving checks a condition (rather
# than letting them ride along) lets the automation sensor plan a child table, and the archive, in
# the same tick as the parents whose blocking checks they wait for.
AFTER_ITS_ASSET = AutomationCondition.eager()


def check_specs(contract: DatasetContract) -> list[AssetCheckSpec]:
    """Every check of processed/<dataset>, in the order `quality.check_results` reports them."""
    table = processed_key(contract.name)

    def spec(name: str, description: str, blocking: bool, **kwargs: Any) -> AssetCheckSpec:
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
