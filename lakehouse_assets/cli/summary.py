"""The plain-text report `lakehouse run` prints: per data set files and rows, held files, checks, archive."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dagster import AssetCheckKey, AssetCheckSeverity, DagsterEventType, DagsterInstance, ExecuteInProcessResult

from glue_scripts.contracts import CONTRACTS, DATASETS
from glue_scripts.quality import release_command

COLUMNS = ("files", "rows read", "accepted", "rejected", "waiting", "held", "quarantined")


def render_summary(result: ExecuteInProcessResult, lakehouse_root: str, planned: Sequence[AssetCheckKey] = ()) -> str:
    """`planned`: the checks the run planned (the instance's ASSET_CHECK_EVALUATION_PLANNED events)."""
    status = "succeeded" if result.success else "FAILED"
    materialized = materializations(result)
    lines = [f"lakehouse run {result.run_id} {status} (root {lakehouse_root})", ""]
    lines += dataset_table(materialized)
    lines += nothing_new(materialized)
    lines += row_notes(materialized)
    lines += held_files(materialized)
    lines += check_lines(result, planned)
    archive = materialized.get("archived/landed_files")
    archived = f"archived: {archive.get('files_archived', 0)} files" if archive else "archived: nothing (not reached)"
    lines.append(archived)
    for event in result.all_events:
        if event.is_step_failure:
            error = event.step_failure_data.error
            message = error.message.strip() if error else "unknown error"
            lines.append(f"step {event.step_key} failed: {message}")
    return "\n".join(lines)


def planned_checks(instance: DagsterInstance, run_id: str) -> list[AssetCheckKey]:
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION_PLANNED).records
    return [r.event_log_entry.get_dagster_event().asset_check_planned_data.asset_check_key for r in records]


def materializations(result: ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Asset key -> its metadata as plain values."""
    found: dict[str, dict[str, Any]] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        metadata = {key: getattr(value, "value", value) for key, value in materialization.metadata.items()}
        found[materialization.asset_key.to_user_string()] = metadata
    return found


def dataset_table(materialized: dict[str, dict[str, Any]]) -> list[str]:
    header = f"{'dataset':<12}" + "".join(f" {name:>11}" for name in COLUMNS)
    lines = [header, "-" * len(header)]
    for dataset in DATASETS:
        raw = materialized.get(f"raw/{dataset}", {})
        processed = materialized.get(f"processed/{dataset}", {})
        figures = [
            processed.get("files_processed", 0),
            processed.get("rows_read", 0),
            processed.get("rows_accepted", 0),
            processed.get("rows_rejected", 0),
            processed.get("rows_waiting", 0),
            processed.get("rows_held", 0),
            raw.get("files_quarantined", 0),
        ]
        lines.append(f"{dataset:<12}" + "".join(f" {figure:>11,}" for figure in figures))
    return lines


def nothing_new(materialized: dict[str, dict[str, Any]]) -> list[str]:
    """Say so when every landed file had been processed before (the same delivery landed again)."""
    raw = [materialized.get(f"raw/{dataset}", {}) for dataset in DATASETS]
    processed = [materialized.get(f"processed/{dataset}", {}) for dataset in DATASETS]
    again = sum(r.get("files_already_ingested", 0) + len(r.get("files_replayed") or {}) for r in raw)
    if not again or any(r.get("files_ingested") for r in raw) or any(p.get("files_processed") for p in processed):
        return []
    return [
        "",
        f"nothing new: the {again} landed files had all been processed before (the same content, under the same "
        "or another name); no table changed, and they are archived again",
    ]


def held_datasets(materialized: dict[str, dict[str, Any]]) -> set[str]:
    return {
        dataset
        for dataset in DATASETS
        if (processed := materialized.get(f"processed/{dataset}", {})).get("files_held")
        or processed.get("files_still_held")
    }


def row_notes(materialized: dict[str, dict[str, Any]]) -> list[str]:
    """Rejections by reason, rows waiting for a parent (and whether that parent is held), late rows, quarantine."""
    held = held_datasets(materialized)
    notes: list[str] = []
    for dataset in DATASETS:
        raw = materialized.get(f"raw/{dataset}", {})
        processed = materialized.get(f"processed/{dataset}", {})
        held_parents = [parent for parent in CONTRACTS[dataset].parents if parent in held]
        if held_parents and f"processed/{dataset}" not in materialized:
            parents = " and ".join(held_parents)
            notes.append(f"  {dataset}: not processed in this run: {parents} held in landing (see below)")
        by_reason = {k.removeprefix("rejected_"): v for k, v in processed.items() if k.startswith("rejected_") and v}
        if by_reason:
            notes.append(f"  {dataset}: rejected: " + ", ".join(f"{r} {n:,}" for r, n in sorted(by_reason.items())))
        if waiting := processed.get("waiting_by_reason"):
            line = f"  {dataset}: waiting for a parent: " + ", ".join(f"{r} {n:,}" for r, n in sorted(waiting.items()))
            if held_parents:
                line += f" ({' and '.join(held_parents)} held in landing: see below)"
            notes.append(line)
        if processed.get("late_rows_resolved"):
            resolved = processed["late_rows_resolved"]
            notes.append(f"  {dataset}: {resolved:,} late rows accepted after their parent arrived")
        for key, reason in (raw.get("quarantined") or {}).items():
            notes.append(f"  quarantined {key}: {reason}")
    if not notes:
        return []
    title = "rows not accepted (a row may have several reasons; waiting rows are accepted when their parent comes):"
    return ["", title, *notes]


def held_files(materialized: dict[str, dict[str, Any]]) -> list[str]:
    """The files the rejection limit keeps in landing, why, and the command that lets them through."""
    lines: list[str] = []
    for dataset in DATASETS:
        processed = materialized.get(f"processed/{dataset}", {})
        now_held = processed.get("files_held") or {}
        earlier = processed.get("files_still_held") or []
        lines += [f"  {key}: {reason}" for key, reason in now_held.items()]
        lines += [f"  {key}: held by an earlier run" for key in earlier]
        if now_held or earlier:
            lines.append(f"  nothing of them is in processed/{dataset}; their rejected rows are in rejected_{dataset}")
            lines.append(f"  to let them through as they are: {release_command([*now_held, *earlier])}")
    if not lines:
        return []
    return ["", "held in landing by the rejection limit:", *lines]


def check_lines(result: ExecuteInProcessResult, planned: Sequence[AssetCheckKey]) -> list[str]:
    """Checks passed, failed (ERROR), warned (WARN), not evaluated (no file of the data set in this run),
    and not run (planned, but their step did not run: a blocking check upstream failed, or a step did)."""
    evaluations = result.get_asset_check_evaluations()
    evaluated_keys = {evaluation.asset_check_key for evaluation in evaluations}
    not_run = sorted({key.asset_key.to_user_string() for key in planned if key not in evaluated_keys})
    failed: list[str] = []
    warned: list[str] = []
    not_evaluated = 0
    for evaluation in evaluations:
        name = f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
        evaluated = getattr(evaluation.metadata.get("evaluated"), "value", True)
        if evaluated is False:
            not_evaluated += 1
        elif not evaluation.passed:
            (warned if evaluation.severity == AssetCheckSeverity.WARN else failed).append(name)
    passed = len(evaluations) - len(failed) - len(warned) - not_evaluated
    counts = f"checks: {passed} passed, {len(failed)} failed, {len(warned)} warning{'' if len(warned) == 1 else 's'}"
    if not_evaluated:
        counts += f", {not_evaluated} not evaluated (no file of their data set in this run)"
    if not_run:
        not_run_count = sum(1 for key in set(planned) if key not in evaluated_keys)
        counts += f", {not_run_count} not run (the checks of {', '.join(not_run)}: their step did not run)"
    return ["", counts, *[f"  FAILED {name}" for name in failed], *[f"  WARNING {name}" for name in warned]]
