"""`catalog/glue_tables`: the lakehouse's tables in the Glue Data Catalog, for Athena.

Registers processed/*, rejected/* and analytics/* as native Delta tables (`glue_scripts/catalog.py`:
`table_type=DELTA`, the table's s3:// location, columns and partition keys from the Delta log; no
crawler, no manifests) in the database of `GlueCatalogResource`. Registration is idempotent: an
unchanged table gets no `UpdateTable`, a changed schema does (Glue keeps the previous version).

It follows its inputs like every table downstream of raw (`FOLLOW_UPSTREAM`), so a schema change
reaches the catalog in the run that made it; it is cheap (Delta logs and Glue reads) when nothing
changed. Locally (`LAKEHOUSE_CATALOG=none`, the default) there is no Glue to call: the asset records
the exact table inputs it would register as metadata and stops there; `lakehouse query` serves the
same tables under the same names. With `LAKEHOUSE_CATALOG=glue` it calls Glue through boto3's standard
chain (`AWS_ENDPOINT_URL` for moto or LocalStack).
"""

from dagster import AssetExecutionContext, AssetKey, MaterializeResult, MetadataValue, asset
from dagster_pyspark import LazyPySparkResource

from glue_scripts import catalog as glue_catalog
from glue_scripts.analytics import ANALYTICS_TABLES
from glue_scripts.contracts import CONTRACTS
from lakehouse_assets.analytics import analytics_key
from lakehouse_assets.assets import FOLLOW_UPSTREAM, processed_key, rejected_key
from lakehouse_assets.resources import GlueCatalogResource, LakehouseResource

CATALOG_KEY = AssetKey(["catalog", "glue_tables"])
CATALOG_POOL = "lakehouse_catalog"


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
    pyspark: LazyPySparkResource,
    catalog: GlueCatalogResource,
) -> MaterializeResult:
    inputs, missing = glue_catalog.lakehouse_table_inputs(pyspark.spark_session, lakehouse.store())
    common = {
        "database": catalog.database,
        "tables": MetadataValue.json(sorted(inputs)),
        "tables_not_there_yet": MetadataValue.json(missing),
        "table_inputs": MetadataValue.json(inputs),
    }
    if not catalog.enabled:
        context.log.info(
            f"LAKEHOUSE_CATALOG=none: {len(inputs)} table inputs recorded, nothing registered "
            "(set LAKEHOUSE_CATALOG=glue to register them in Glue)"
        )
        return MaterializeResult(metadata={"catalog": "none", **common})
    registrations = glue_catalog.register_tables(catalog.get_client(), catalog.database, inputs)
    by_action = {
        action: [r.name for r in registrations if r.action == action]
        for action in (glue_catalog.CREATED, glue_catalog.UPDATED, glue_catalog.UNCHANGED)
    }
    changes = {r.name: r.changes for r in registrations if r.changes}
    context.log.info(
        f"Glue database {catalog.database}: "
        + ", ".join(f"{len(names)} {action}" for action, names in by_action.items())
    )
    return MaterializeResult(
        metadata={
            "catalog": "glue",
            **common,
            **{f"tables_{action}": MetadataValue.json(names) for action, names in by_action.items()},
            "changes": MetadataValue.json(changes),
        }
    )
