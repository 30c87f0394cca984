"""`lakehouse_job`: everything that loads data, from landing to the archive; maintenance runs apart."""

from dagster import AssetSelection, define_asset_job

from lakehouse_assets.freshness import freshness_checks
from lakehouse_assets.instance import run_host_tags
from lakehouse_assets.maintenance import MAINTENANCE_GROUP

# Every asset (and its checks) except the nightly table maintenance, and freshness (the sensor's).
LOADING_SELECTION = (
    AssetSelection.all() - AssetSelection.groups(MAINTENANCE_GROUP) - AssetSelection.checks(freshness_checks)
)

# Tagged with the machine that serves the code location, as the sensors' runs are: a run launched from
# the UI ("Materialize all") whose process dies with `lakehouse dev` is then released and retried too.
lakehouse_job = define_asset_job(
    "lakehouse_job",
    selection=LOADING_SELECTION,
    tags=run_host_tags(),
    description=(
        "Landing -> raw -> processed/rejected (parents first) -> checks -> archive; "
        "table maintenance (OPTIMIZE, VACUUM) runs apart, nightly."
    ),
)
