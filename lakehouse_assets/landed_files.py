"""Every landed file version as its own record in Dagster: a dynamic partition of `landing/files`.

A file version is a landing key plus its content digest, the identity the file ledger uses too. The
landing sensor adds one partition per new version, each stage reports what happened to the file as an
event on its partition, and runs name their files in the tags `lakehouse/files` and
`lakehouse/archived_files` (README.md, "Event-driven operation"). A partition key is the version id
without `landing/`, percent-escaped where Dagster needs it (docs/ARCHITECTURE.md, step 1, "Noticed").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from dagster import (
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    AssetSpec,
    DagsterInstance,
    DynamicPartitionsDefinition,
)

from glue_scripts.storage import LANDING

LANDED_FILES_KEY = AssetKey([LANDING, "files"])
# The partitions' name (a `str`: `DynamicPartitionsDefinition.name` is typed optional).
LANDED_FILES_PARTITIONS = "landed_files"
landed_files_partitions = DynamicPartitionsDefinition(name=LANDED_FILES_PARTITIONS)

FILES_TAG = "lakehouse/files"
FILE_COUNT_TAG = "lakehouse/file_count"
ARCHIVED_FILES_TAG = "lakehouse/archived_files"
ARCHIVED_FILE_COUNT_TAG = "lakehouse/archived_file_count"
FILES_TAG_MAX_CHARS = 1000

landed_files_spec = AssetSpec(
    LANDED_FILES_KEY,
    group_name="landing",
    partitions_def=landed_files_partitions,
    kinds={"csv"},
    description=(
        "Every file version landed in `landing/<dataset>/` (one partition per key + content digest), "
        "added by the landing sensor or the run that loaded it. Its events say when it was loaded into raw, "
        "how many rows were accepted and rejected, and where it was archived (or why it was quarantined)."
    ),
)


def partition_key(version_id: str) -> str:
    """`landing/orders/2025-04-01.csv#<digest>` -> `orders/2025-04-01.csv#<digest>` (escaped where Dagster needs)."""
    key = version_id.removeprefix(f"{LANDING}/").replace("%", "%25")
    key = "".join(f"%{ord(c):02X}" if ord(c) < 32 or ord(c) == 127 else c for c in key)
    return key.replace("...", "%2E%2E%2E")


def version_id(file_partition_key: str) -> str:
    """The inverse of `partition_key`: the ledger's file version id."""
    return f"{LANDING}/{unquote(file_partition_key)}"


def register(instance: DagsterInstance, version_ids: Iterable[str]) -> None:
    """Add the partitions these file versions do not have yet."""
    keys = [partition_key(v) for v in version_ids]
    missing = [k for k in keys if not instance.has_dynamic_partition(LANDED_FILES_PARTITIONS, k)]
    if missing:
        instance.add_dynamic_partitions(LANDED_FILES_PARTITIONS, missing)


def file_materialization(version: str, metadata: Mapping[str, Any]) -> AssetMaterialization:
    return AssetMaterialization(asset_key=LANDED_FILES_KEY, partition=partition_key(version), metadata=dict(metadata))


def file_observation(version: str, metadata: Mapping[str, Any]) -> AssetObservation:
    return AssetObservation(asset_key=LANDED_FILES_KEY, partition=partition_key(version), metadata=dict(metadata))


def files_tag_value(keys: Sequence[str]) -> str:
    """The partition keys, comma-separated; past `FILES_TAG_MAX_CHARS`, cut after a whole key."""
    value = ",".join(keys)
    if len(value) > FILES_TAG_MAX_CHARS:
        value = value[:FILES_TAG_MAX_CHARS].rsplit(",", 1)[0] + f",... ({len(keys)} files)"
    return value


def files_tags(keys: Sequence[str]) -> dict[str, str]:
    """The run tags naming the files a run loads (`keys`: partition keys, in the order the run takes them)."""
    return {FILE_COUNT_TAG: str(len(keys)), FILES_TAG: files_tag_value(keys)}


def archived_files_tags(keys: Sequence[str]) -> dict[str, str]:
    """The run tags naming the files a run archived."""
    return {ARCHIVED_FILE_COUNT_TAG: str(len(keys)), ARCHIVED_FILES_TAG: files_tag_value(keys)}
