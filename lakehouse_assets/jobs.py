"""`lakehouse_job`: everything that loads data, from landing to the archive; maintenance runs apart."""

from dagster import AssetSelection, define_asset_job

from lakehouse_assets.maintenance import MAINTENANCE_GROUP

# Every asset (and its checks) except the nightly table maintenance.
LOADING_SELECTION = AssetSelection.all() - AssetSelection.groups(MAINTENANCE_GROUP)

lakehouse_job = define_asset_job(
    "lakehouse_job",
    selection=LOADING_SELECTION,
    description=(
        "Landing -> raw -> processed/rejected (parents first) -> checks -> archive; "
        "table maintenance (OPTIMIZE, VACUUM) runs apart, nightly."
    ),
)
