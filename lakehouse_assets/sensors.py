"""Sensors: the landing sensor (new files -> a run of the loading job) and the automation sensor.

The landing sensor watches `landing/<dataset>/` of all three data sets through the `Store`, so a
local folder and an S3 bucket behave the same. A file version is new when its (key, ETag or MD5) is
not yet a partition of `landing/files`: the same content landed again is not requested again. Each
tick lists, per data set, after a cursor key (S3's `StartAfter`, one key behind the last seen), and
every `full_listing_interval` seconds lists everything, at most `LAKEHOUSE_MAX_FULL_LISTING_PAGES`
pages per tick, for names that sort before the cursor. Nothing depends on modification times.
Files found together become one run, parents' files first, from their raw tables to the archive.
docs/ARCHITECTURE.md tells why (S3 has no "changed since" listing; Dagster's 60 s tick timeout).

The automation sensor evaluates the assets' `AutomationCondition`s (see `assets.py`) for whatever
the landing sensor did not start: a raw table materialized by hand, a new processed version feeding
the analytics.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetSelection,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
    RepositoryDefinition,
    RunConfig,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from glue_scripts.contracts import DATASETS
from glue_scripts.landing import is_complete_data_file, is_upload_placeholder
from glue_scripts.storage import LANDING, Store, StoredObject
from lakehouse_assets import landed_files
from lakehouse_assets.assets import RawIngestConfig, ingest_landed_files
from lakehouse_assets.instance import assign_stranded_steps, release_dead_runs, run_host_tags
from lakehouse_assets.jobs import LOADING_SELECTION
from lakehouse_assets.keys import raw_key
from lakehouse_assets.resources import LakehouseResource

SENSOR_INTERVAL_SECONDS = 30
# The automation sensor evaluates every asset's condition against the instance on each tick (CPU
# the runs then lack); it only follows what the landing sensor did not start.
AUTOMATION_INTERVAL_SECONDS = 30
MAX_FILES_PER_RUN = 100
FULL_LISTING_INTERVAL_SECONDS = 300.0
# A full listing lists at most this many pages (1,000 keys each on S3) per tick, then resumes.
MAX_FULL_LISTING_PAGES = 20
# Above this many candidates, the known versions are read in one query rather than one per file.
BULK_LOOKUP_THRESHOLD = 200


@dataclass(frozen=True)
class SensorSettings:
    """How often the sensors tick and how much one landing tick takes on (`LAKEHOUSE_*` variables).

    A sensor's interval is part of its definition, so these are read when the definitions are built,
    not when the module is imported.
    """

    landing_interval_seconds: int = SENSOR_INTERVAL_SECONDS
    automation_interval_seconds: int = AUTOMATION_INTERVAL_SECONDS
    max_files_per_run: int = MAX_FILES_PER_RUN
    full_listing_interval_seconds: float = FULL_LISTING_INTERVAL_SECONDS
    max_full_listing_pages: int = MAX_FULL_LISTING_PAGES

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> SensorSettings:
        get = (os.environ if environ is None else environ).get
        return cls(
            int(get("LAKEHOUSE_SENSOR_INTERVAL_SECONDS", SENSOR_INTERVAL_SECONDS)),
            int(get("LAKEHOUSE_AUTOMATION_INTERVAL_SECONDS", AUTOMATION_INTERVAL_SECONDS)),
            int(get("LAKEHOUSE_MAX_FILES_PER_RUN", MAX_FILES_PER_RUN)),
            float(get("LAKEHOUSE_FULL_LISTING_INTERVAL_SECONDS", FULL_LISTING_INTERVAL_SECONDS)),
            int(get("LAKEHOUSE_MAX_FULL_LISTING_PAGES", MAX_FULL_LISTING_PAGES)),
        )


@dataclass(frozen=True)
class LandingCursor:
    """Where the next tick lists from, per data set, and the state of the periodic full listing."""

    start_after: dict[str, str] = field(default_factory=dict)
    listed_all_at: float | None = None  # when the last full listing finished
    # A full listing in progress: per data set still to list, the key it continues after ("" = start).
    full_listing: dict[str, str] | None = None

    @classmethod
    def parse(cls, text: str | None) -> LandingCursor:
        if not text:
            return cls()
        state = json.loads(text)
        return cls(dict(state.get("start_after", {})), state.get("listed_all_at"), state.get("full_listing"))

    def serialize(self) -> str:
        return json.dumps(
            {"start_after": self.start_after, "listed_all_at": self.listed_all_at, "full_listing": self.full_listing},
            sort_keys=True,
        )


@dataclass
class LandingScan:
    new: list[StoredObject]
    cursor: LandingCursor
    full_listing: bool
    list_calls: int = 0
    objects_listed: int = 0
    waiting_incomplete: list[str] = field(default_factory=list)
    # Folders and files in landing/ that belong to no data set (listed with each full listing).
    strays: list[str] = field(default_factory=list)


def scan_landing(
    store: Store,
    cursor: LandingCursor,
    now: float,
    is_known: Callable[[Sequence[str]], set[str]],
    full_listing_interval: float = FULL_LISTING_INTERVAL_SECONDS,
    max_full_listing_pages: int = MAX_FULL_LISTING_PAGES,
) -> LandingScan:
    """The file versions in landing not requested before, and the cursor for the next tick.

    `is_known` answers which of the given file version ids were already requested. A full listing
    lists at most `max_full_listing_pages` pages per tick and goes on where it stopped on the next
    tick, so a tick stays short however large the landing zone grows.
    """
    sweep = dict(cursor.full_listing) if cursor.full_listing is not None else None
    if sweep is None and (cursor.listed_all_at is None or now - cursor.listed_all_at >= full_listing_interval):
        sweep = dict.fromkeys(DATASETS, "")
    scan = LandingScan(new=[], cursor=cursor, full_listing=sweep is not None)
    if sweep is not None and set(sweep) == set(DATASETS) and not any(sweep.values()):
        # A full listing starts: one more call tells what sits in landing/ outside the data sets.
        scan.list_calls += 1
        known = {f"{dataset}/" for dataset in DATASETS}
        scan.strays = [f"{LANDING}/{name}" for name in store.list_children(LANDING) if name not in known]
    start_after = dict(cursor.start_after)
    candidates: list[StoredObject] = []
    budget = max_full_listing_pages
    for dataset in DATASETS:
        sweeping = sweep is not None and dataset in sweep
        if sweeping and budget <= 0:
            continue  # this tick's share of the full listing is spent; the next tick goes on
        previous = (sweep[dataset] or None) if sweep is not None and sweeping else start_after.get(dataset)
        keys: list[str] = []
        finished = True
        for page in store.list_pages(f"{LANDING}/{dataset}", start_after=previous):
            scan.list_calls += 1
            keys.extend(obj.key for obj in page)
            for obj in page:
                if is_complete_data_file(obj) and not is_upload_placeholder(obj):
                    candidates.append(obj)
                else:
                    scan.waiting_incomplete.append(obj.key)
            if sweeping:
                budget -= 1
                if budget <= 0 and page:
                    finished = False
                    break
        scan.objects_listed += len(keys)
        if sweeping and sweep is not None:
            if not finished:
                sweep[dataset] = keys[-1]
                continue
            del sweep[dataset]
        # One key behind the last one seen: the next tick lists that key again (re-uploads).
        if len(keys) >= 2:
            start_after[dataset] = keys[-2]
        elif previous is not None:
            start_after[dataset] = previous
        elif sweeping:
            start_after.pop(dataset, None)
    known = is_known([obj.version_id for obj in candidates]) if candidates else set()
    scan.new = [obj for obj in candidates if obj.version_id not in known]
    if sweep is None:
        scan.cursor = LandingCursor(start_after, cursor.listed_all_at)
    elif sweep:
        scan.cursor = LandingCursor(start_after, cursor.listed_all_at, sweep)
    else:
        scan.cursor = LandingCursor(start_after, now)
    return scan


def batches(objects: Iterable[StoredObject], max_files: int) -> list[list[StoredObject]]:
    """Parents' files first (data-set order), then by key; at most `max_files` per batch."""
    ordered = sorted(objects, key=lambda o: (DATASETS.index(dataset_of(o)), o.key))
    return [ordered[i : i + max_files] for i in range(0, len(ordered), max_files)]


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def dataset_of(obj: StoredObject) -> str:
    return obj.key.split("/")[1]


def batch_selection(repository: RepositoryDefinition, datasets: Sequence[str]) -> list[AssetKey]:
    """The batch's raw tables and everything `lakehouse_job` loads from them, down to the archive."""
    raw_tables = AssetSelection.assets(*[raw_key(d) for d in datasets])
    keys = (LOADING_SELECTION & raw_tables.downstream()).resolve(repository.asset_graph)
    return sorted(keys, key=lambda key: key.to_user_string())


def run_request(batch: list[StoredObject], repository: RepositoryDefinition) -> RunRequest:
    """One run per batch, from raw to the archive, with the file versions named in the ingest step's config."""
    keys = [landed_files.partition_key(obj.version_id) for obj in batch]
    datasets = [d for d in DATASETS if any(dataset_of(obj) == d for obj in batch)]
    return RunRequest(
        run_key="landing-" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24],
        asset_selection=batch_selection(repository, datasets),
        run_config=RunConfig(ops={ingest_landed_files.node_def.name: RawIngestConfig(files=keys)}),
        tags={"lakehouse/trigger": "landing_files_sensor", **run_host_tags(), **landed_files.files_tags(keys)},
    )


def known_versions(context: SensorEvaluationContext) -> Callable[[Sequence[str]], set[str]]:
    name = landed_files.LANDED_FILES_PARTITIONS

    def lookup(version_ids: Sequence[str]) -> set[str]:
        if len(version_ids) > BULK_LOOKUP_THRESHOLD:
            keys = set(context.instance.get_dynamic_partitions(name))
            return {v for v in version_ids if landed_files.partition_key(v) in keys}
        return {v for v in version_ids if context.instance.has_dynamic_partition(name, landed_files.partition_key(v))}

    return lookup


def evaluate_landing(
    context: SensorEvaluationContext,
    store: Store,
    now: float,
    max_files_per_run: int = MAX_FILES_PER_RUN,
    full_listing_interval: float = FULL_LISTING_INTERVAL_SECONDS,
    max_full_listing_pages: int = MAX_FULL_LISTING_PAGES,
) -> SensorResult:
    """One tick: list, compare with what was requested, and request runs for the new versions."""
    repository = context.repository_def
    if repository is None:
        raise ValueError("the landing sensor needs its definitions (a sensor context with a repository)")
    cursor = LandingCursor.parse(context.cursor)
    scan = scan_landing(store, cursor, now, known_versions(context), full_listing_interval, max_full_listing_pages)
    listing = (
        f"{plural(scan.objects_listed, 'object')} in {plural(scan.list_calls, 'list call')}, "
        f"{'full listing' if scan.full_listing else 'listing after the cursor'}"
    )
    context.log.info(f"landing: {plural(len(scan.new), 'new file version')}; {listing}")
    if scan.strays:
        context.log.warning(f"left alone in {LANDING}/, outside the data-set folders: {', '.join(scan.strays)}")
    if not scan.new:
        waiting = (
            f"; {plural(len(scan.waiting_incomplete), 'incomplete or hidden file')} waiting "
            f"(e.g. {scan.waiting_incomplete[0]})"
            if scan.waiting_incomplete
            else ""
        )
        strays = (
            f"; left alone, outside the data-set folders: {', '.join(scan.strays[:5])}"
            + (f" and {len(scan.strays) - 5} more" if len(scan.strays) > 5 else "")
            if scan.strays
            else ""
        )
        return SensorResult(
            skip_reason=SkipReason(f"No new files in {LANDING}/ ({listing}){waiting}{strays}."),
            cursor=scan.cursor.serialize(),
        )
    return SensorResult(
        run_requests=[run_request(batch, repository) for batch in batches(scan.new, max_files_per_run)],
        dynamic_partitions_requests=[
            landed_files.landed_files_partitions.build_add_request(
                [landed_files.partition_key(obj.version_id) for obj in scan.new]
            )
        ],
        cursor=scan.cursor.serialize(),
    )


def landing_files_sensor(settings: SensorSettings) -> SensorDefinition:
    @sensor(
        name="landing_files_sensor",
        description=(
            "Watches landing/<dataset>/ for new file versions (key + ETag/MD5) and requests one run per batch, "
            "from raw through processed, checks, analytics and catalog to the archive."
        ),
        target=LOADING_SELECTION,
        minimum_interval_seconds=settings.landing_interval_seconds,
        default_status=DefaultSensorStatus.RUNNING,
    )
    def landing_files(context: SensorEvaluationContext, lakehouse: LakehouseResource) -> SensorResult:
        return evaluate_landing(
            context,
            lakehouse.store(),
            time.time(),
            settings.max_files_per_run,
            settings.full_listing_interval_seconds,
            settings.max_full_listing_pages,
        )

    return landing_files


def automation_sensor(settings: SensorSettings) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        "lakehouse_automation",
        target=AssetSelection.all(),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=settings.automation_interval_seconds,
        run_tags={"lakehouse/trigger": "automation", **run_host_tags()},
        description="Evaluates the assets' automation conditions: processed tables and the archive follow raw.",
    )


@sensor(
    name="dead_runs",
    minimum_interval_seconds=60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Marks runs of this machine whose process died (SIGKILL, out of memory) as failed and frees their "
        "pool slots (the instance retries such a run once); gives a free slot to a step left waiting for it."
    ),
)
def dead_runs_sensor(context: SensorEvaluationContext) -> SkipReason:
    released = release_dead_runs(context.instance)
    for run_id in released:
        context.log.warning(f"run {run_id} had died without ending: marked failed, its pool slots freed")
    for pool in assign_stranded_steps(context.instance):
        context.log.warning(f"a step waited for the free slot of pool {pool}: assigned it")
    return SkipReason(f"{plural(len(released), 'dead run')} released")


def build_sensors(settings: SensorSettings | None = None) -> list[SensorDefinition]:
    """The landing, automation and dead-runs sensors; `settings` default to the environment's."""
    settings = settings or SensorSettings.from_environment()
    return [landing_files_sensor(settings), automation_sensor(settings), dead_runs_sensor]
