"""The lakehouse tables as Dagster assets, built from the data contracts.

Per data set: `raw/<dataset>` (landing -> bronze), and one step that materializes both
`processed/<dataset>` and `rejected/<dataset>`, since every batch row ends in exactly one of them.
`archived/landed_files` moves the accounted-for landing files away once every blocking check upstream
passed. The definitions are the same wherever the Spark work runs (the `execution` resource). How runs
start, and why every writing step holds a pool and locks: docs/ARCHITECTURE.md, "Orchestration".
"""

from collections.abc import Iterator
from typing import cast

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetSpec,
    AutomationCondition,
    Config,
    MaterializeResult,
    TableColumn,
    TableSchema,
    asset,
    multi_asset,
)

from glue_scripts import stages
from glue_scripts.contracts import CONTRACTS, DatasetContract
from glue_scripts.landing import raw_schema
from glue_scripts.quality import release_command
from glue_scripts.storage import PROCESSED, RAW
from lakehouse_assets import landed_files
from lakehouse_assets.checks import check_specs
from lakehouse_assets.execution import Execution
from lakehouse_assets.keys import ARCHIVE_KEY, ARCHIVE_POOL, CATALOG_KEY, pool, processed_key, raw_key, rejected_key
from lakehouse_assets.resources import LakehouseResource
from lakehouse_assets.table_locks import dataset_lock, held_by_step

# What the lineage and bookkeeping columns mean, for the column schema shown in the UI.
LINEAGE_COLUMN_DESCRIPTIONS = {
    "source_file": "Landing key of the file the row came from.",
    "source_file_digest": "Content digest of that file version (ETag on S3, MD5 locally).",
    "source_line": "Record number in the file (the header is line 1).",
    "run_id": "Dagster run that wrote the row.",
    "ingested_at": "When the row was loaded into raw (UTC).",
    "processed_at": "When the row was last merged into processed (UTC).",
    "raw_record": "The whole line as read, when it could not be split into the expected columns.",
    "extra_fields": "Values of columns the contract does not know, by header name.",
    "reject_reasons": "Every reason the row was rejected for.",
    "rejected_at": "When the row was rejected (UTC).",
    "resolved_at": "When a row that waited for its parent was accepted after all (UTC).",
    "resolved_run_id": "Dagster run that accepted it.",
}


def table_schema(schema, described: dict[str, str] | None = None) -> TableSchema:
    descriptions = {**LINEAGE_COLUMN_DESCRIPTIONS, **(described or {})}
    return TableSchema(
        columns=[
            TableColumn(f.name, f.dataType.simpleString(), description=descriptions.get(f.name)) for f in schema.fields
        ]
    )


def contract_schema(contract: DatasetContract) -> TableSchema:
    return table_schema(
        stages.processed_schema(contract), {c.name: c.description for c in contract.columns if c.description}
    )


# Downstream of raw, a table is refreshed when anything it reads changed, not while its inputs are
# still being written, and only after the blocking checks of its inputs passed.
FOLLOW_UPSTREAM = AutomationCondition.eager() & AutomationCondition.all_deps_blocking_checks_passed()


class RawIngestConfig(Config):
    """Which landed files to load: by default all waiting ones; a sensor run names its batch."""

    files: list[str] | None = None  # `landing/files` partition keys: `<dataset>/<name>#<digest>`


def raw_spec(contract: DatasetContract) -> AssetSpec:
    return AssetSpec(
        raw_key(contract.name),
        deps=[landed_files.LANDED_FILES_KEY],
        group_name="raw",
        kinds={"spark", "delta"},
        description=(
            f"Bronze: every row of the {contract.name} files landed in `landing/{contract.name}/`, as text, "
            "with source file, line, ingestion time and run id. Unreadable files go to `quarantine/`."
        ),
        metadata={"dagster/column_schema": table_schema(raw_schema(contract))},
        skippable=True,
    )


@multi_asset(
    name="ingest_landed_files",
    specs=[raw_spec(contract) for contract in CONTRACTS.values()],
    can_subset=True,
    pool=pool(RAW, "all"),
)
def ingest_landed_files(
    context: AssetExecutionContext,
    config: RawIngestConfig,
    lakehouse: LakehouseResource,
    execution: Execution,
) -> Iterator[MaterializeResult]:
    """One step loads the batch into every raw table it touches, then reports them together.

    Reporting the raw tables at the end (not one by one) lets the automation sensor see the
    batch as a whole and plan everything downstream as one run, parents before children.
    A run the landing sensor requested is tagged with its files already; any other run (`lakehouse
    run`, a materialization from the UI) gets the same tags here, naming the files it loaded or
    quarantined, after each data set (so a run that fails midway names what it did load).
    """
    results: list[MaterializeResult] = []
    tag_files = landed_files.FILES_TAG not in context.run.tags
    loaded: list[str] = []
    for contract in CONTRACTS.values():
        if raw_key(contract.name) not in context.selected_asset_keys:
            continue
        requested = None
        if config.files is not None:
            requested = [landed_files.version_id(key) for key in config.files if key.startswith(f"{contract.name}/")]
        with held_by_step(context, [dataset_lock(contract.name)]):
            step = execution.ingest(context, lakehouse, contract, requested)
        for outcome in step.outcomes:
            report_files(context, contract, outcome)
            loaded.extend(files_loaded(outcome))
        if tag_files and loaded:
            context.instance.add_run_tags(context.run_id, landed_files.files_tags(loaded))
        # Materializations only: the raw tables have no checks.
        results.extend(cast("list[MaterializeResult]", step.results))
    yield from results


def files_loaded(outcome: stages.IngestOutcome) -> list[str]:
    """The partition keys of the files this step took (loaded into raw or quarantined), by landing key.

    The order of the landing sensor's batches: data sets parents first (the callers' loop), then key.
    """
    taken = sorted({*outcome.rows_by_file, *outcome.quarantined})
    return [landed_files.partition_key(outcome.versions[key]) for key in taken]


def report_files(context: AssetExecutionContext, contract: DatasetContract, outcome: stages.IngestOutcome) -> None:
    """Per landed file: its partition of `landing/files`, and an event saying what became of it."""
    for version in outcome.not_in_landing:
        context.log.warning(f"{version} is no longer in landing (replaced, archived or deleted): skipped")
    landed_files.register(context.instance, outcome.versions.values())
    for key, rows in outcome.rows_by_file.items():
        metadata = {"stage": "raw", "dataset": contract.name, "rows_loaded": rows}
        if key in outcome.replayed:
            context.log.warning(f"{key} is a replay of {outcome.replayed[key]} (same content): not loaded again")
            metadata["replay_of"] = outcome.replayed[key]
        context.log_event(landed_files.file_observation(outcome.versions[key], metadata))
    for key, reason in outcome.quarantined.items():
        context.log.warning(f"quarantined {key}: {reason}")
        metadata = {"stage": "quarantined", "dataset": contract.name, "reason": reason}
        # A materialization, not an observation: the file's last word, shown on its partition's page.
        context.log_event(landed_files.file_materialization(outcome.versions[key], metadata))


def build_processing_asset(contract: DatasetContract):
    name = contract.name
    rules = ", ".join(contract.reason_codes)

    @multi_asset(
        name=f"process_{name}",
        specs=[
            AssetSpec(
                processed_key(name),
                deps=[raw_key(name), *[processed_key(parent) for parent in contract.parents]],
                group_name="processed",
                kinds={"spark", "delta"},
                description=(
                    f"{contract.description} Typed, validated, deduplicated; upserted by `{contract.primary_key}`"
                    + (f", partitioned by `{contract.partition_column}`." if contract.partition_column else ".")
                ),
                metadata={"dagster/column_schema": contract_schema(contract)},
                automation_condition=FOLLOW_UPSTREAM,
            ),
            AssetSpec(
                rejected_key(name),
                # Late-parent rejections are re-checked against the parents on every run.
                deps=[raw_key(name), *[processed_key(parent) for parent in contract.parents]],
                group_name="rejected",
                kinds={"spark", "delta"},
                description=(
                    f"Rejected {name} rows: raw values, every reason that applies ({rules}), lineage; "
                    "late-parent rows are re-checked on every run and marked resolved when accepted."
                ),
                metadata={"dagster/column_schema": table_schema(stages.rejected_schema(contract))},
                automation_condition=FOLLOW_UPSTREAM,
            ),
        ],
        # Measured by the step that writes the table, in one pass, wherever it runs.
        check_specs=check_specs(contract),
        pool=pool(PROCESSED, name),
    )
    def process(
        context: AssetExecutionContext,
        lakehouse: LakehouseResource,
        execution: Execution,
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        with held_by_step(context, [dataset_lock(name)]):
            step = execution.process(context, lakehouse, contract)
        (outcome,) = step.outcomes
        context.log.info(
            f"{name}: {outcome.rows_read} rows read from {len(outcome.files)} files, {outcome.rows_accepted} accepted, "
            f"{outcome.rows_rejected} rejected {outcome.rejected_by_reason or ''}, {outcome.rows_waiting} waiting "
            f"for a parent {outcome.waiting_by_reason or ''}"
        )
        for version, reason in outcome.held.items():
            context.log.warning(f"held in landing: {version.rsplit('#', 1)[0]}: {reason}")
        for version, counts in outcome.counts_by_file.items():
            held = version in outcome.held
            metadata = {"stage": "held" if held else "processed", "dataset": name, **counts}
            if held:
                metadata["reason"] = outcome.held[version]
                metadata["release"] = release_command([version.rsplit("#", 1)[0]])
            context.log_event(landed_files.file_materialization(version, metadata))
        # The metadata (rows, every rejection reason, version, preview) is built with the stage call,
        # and the check results measured right after the merge.
        yield from step.results

    return process


@asset(
    key=ARCHIVE_KEY,
    group_name="archive",
    # Last: after processed, the analytics tables built from it and their registration in the catalog.
    deps=[*(processed_key(name) for name in CONTRACTS), CATALOG_KEY],
    description=(
        "Landing files whose every row reached processed/ or rejected/, moved to "
        "`archived/<dataset>/<yyyy>/<mm>/<dd>/`. Runs last, after the catalog registration, and only after "
        "all blocking checks passed."
    ),
    automation_condition=FOLLOW_UPSTREAM,
    pool=ARCHIVE_POOL,
)
def archived_landed_files(
    context: AssetExecutionContext,
    lakehouse: LakehouseResource,
    execution: Execution,
) -> MaterializeResult:
    with held_by_step(context, [dataset_lock(name) for name in CONTRACTS]):
        step = execution.archive(context, lakehouse, list(CONTRACTS.values()))
    archived = 0
    for outcome in step.outcomes:
        archived += len(outcome.archived)
        for key, target in outcome.archived.items():
            metadata = {"stage": "archived", "dataset": outcome.dataset, "archived_to": target}
            context.log_event(landed_files.file_observation(outcome.versions[key], metadata))
    context.log.info(f"archived {archived} files")
    keys = [landed_files.partition_key(o.versions[key]) for o in step.outcomes for key in sorted(o.archived)]
    if keys:
        context.instance.add_run_tags(context.run_id, landed_files.archived_files_tags(keys))
    (result,) = step.results
    assert isinstance(result, MaterializeResult)
    return result


processing_assets = [build_processing_asset(contract) for contract in CONTRACTS.values()]
all_assets = [landed_files.landed_files_spec, ingest_landed_files, *processing_assets, archived_landed_files]
