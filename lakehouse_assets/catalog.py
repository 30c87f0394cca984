"""`catalog/glue_tables`: the lakehouse's tables in the Glue Data Catalog, for Athena.

Registers processed/*, rejected/* and analytics/* as native Delta tables (`glue_scripts/catalog.py`:
`table_type=DELTA`, the table's s3:// location, columns and partition keys from the Delta log; no
crawler, no manifests) in the database of `GlueCatalogResource`. Registration is idempotent: an
unchanged table gets no `UpdateTable`, a changed schema does (Glue keeps the previous version).

It follows its inputs like every table downstream of raw (`FOLLOW_UPSTREAM`), so a schema change
reaches the catalog in the run that made it; it is cheap (Delta logs and Glue reads) when nothing
changed. Locally (`LAKEHOUSE_CATALOG=none`, the default) there is no Glue to call: the step records
the exact table inputs it would register as metadata and stops there; `lakehouse query` serves the
same tables under the same names. The `execution` resource runs it (a Glue job on AWS: it reads the
Delta logs).
"""

from dagster import AssetExecutionContext, MaterializeResult, asset

from glue_scripts.analytics import ANALYTICS_TABLES
from glue_scripts.contracts import CONTRACTS
from lakehouse_assets.assets import FOLLOW_UPSTREAM
from lakehouse_assets.execution import Execution
from lakehouse_assets.keys import CATALOG_KEY, CATALOG_POOL, analytics_key, processed_key, rejected_key
from lakehouse_assets.resources import GlueCatalogResource, LakehouseResource


@asset(
    key=CATALOG_KEY,
    group_name="catalog",
    deps=[
        *[processed_key(name) for name in CONTRACTS],
        *[rejected_key(name) for name in CONTRACTS],
        *[analytics_key(name) for name in ANALYTICS_TABLES],
    ],
    kinds={"glue", "athena"},
    description=(
        "processed/*, rejected/* and analytics/* registered in the Glue database as native Delta tables "
        "Athena engine v3 reads (`orders`, `rejected_orders`, `daily_sales`, ...). With LAKEHOUSE_CATALOG=none "
        "(local) only the table inputs are recorded."
    ),
    automation_condition=FOLLOW_UPSTREAM,
    pool=CATALOG_POOL,
)
def glue_tables(
    context: AssetExecutionContext,
    lakehouse: LakehouseResource,
    catalog: GlueCatalogResource,
    execution: Execution,
) -> MaterializeResult:
    step = execution.catalog(context, lakehouse, catalog)
    recorded = step.metadata(CATALOG_KEY.to_user_string())
    if not catalog.enabled:
        context.log.info(
            f"LAKEHOUSE_CATALOG=none: {len(recorded.get('tables', []))} table inputs recorded, nothing registered "
            "(set LAKEHOUSE_CATALOG=glue to register them in Glue)"
        )
    else:
        counts = {action: len(recorded.get(f"tables_{action}", [])) for action in ("created", "updated", "unchanged")}
        context.log.info(
            f"Glue database {catalog.database}: " + ", ".join(f"{n} {action}" for action, n in counts.items())
        )
    (result,) = step.results
    assert isinstance(result, MaterializeResult)
    return result
