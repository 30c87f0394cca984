"""Asset keys and concurrency pools of the lakehouse's tables, in one place for every module that names them."""

from dagster import AssetKey

from glue_scripts.analytics import ANALYTICS
from glue_scripts.steps import ARCHIVE_ASSET_KEY, CATALOG_ASSET_KEY, MAINTENANCE
from glue_scripts.storage import PROCESSED, RAW, REJECTED

# The steps report these keys as strings; one declaration serves both sides.
ARCHIVE_KEY = AssetKey.from_user_string(ARCHIVE_ASSET_KEY)
CATALOG_KEY = AssetKey.from_user_string(CATALOG_ASSET_KEY)
ARCHIVE_POOL = "lakehouse_archive"
CATALOG_POOL = "lakehouse_catalog"


def raw_key(dataset: str) -> AssetKey:
    return AssetKey([RAW, dataset])


def processed_key(dataset: str) -> AssetKey:
    return AssetKey([PROCESSED, dataset])


def rejected_key(dataset: str) -> AssetKey:
    return AssetKey([REJECTED, dataset])


def analytics_key(name: str) -> AssetKey:
    return AssetKey([ANALYTICS, name])


def maintenance_key(dataset: str) -> AssetKey:
    return AssetKey([MAINTENANCE, dataset])


def pool(zone: str, dataset: str) -> str:
    """The concurrency pool of the step that writes `<zone>/<dataset>` (one writer at a time)."""
    return f"lakehouse_{zone}_{dataset}"
