import json
import subprocess

from lakehouse_assets.definitions import defs
from lakehouse_assets.instance import RUN_HOST_TAG, definitions_pools, run_host_tags
from tests.helpers import REPO


def test_asset_graph_mirrors_the_layout_with_parents_first() -> None:
    graph = defs.resolve_asset_graph()
    keys = sorted(key.to_user_string() for key in graph.get_all_asset_keys())
    assert keys == [
        "analytics/daily_sales",
        "analytics/top_products",
        "archived/landed_files",
        "catalog/glue_tables",
        "landing/files",
        "maintenance/order_items",
        "maintenance/orders",
        "maintenance/products",
        "processed/order_items",
        "processed/orders",
        "processed/products",
        "raw/order_items",
        "raw/orders",
        "raw/products",
        "rejected/order_items",
        "rejected/orders",
        "rejected/products",
    ]
    parents = {
        k.to_user_string()
        for k in graph.get(
            next(k for k in graph.get_all_asset_keys() if k.to_user_string() == "processed/order_items")
        ).parent_keys
    }
    assert parents == {"raw/order_items", "processed/orders", "processed/products"}


def test_checks_and_which_ones_block() -> None:
    job = defs.resolve_job_def("lakehouse_job")
    checks = {
        (key.asset_key.to_user_string(), key.name): spec.blocking
        for assets_def in defs.resolve_asset_graph().assets_defs
        for key, spec in ((s.key, s) for s in assets_def.check_specs)
    }
    assert checks == {
        ("processed/products", "primary_key"): True,
        ("processed/products", "rows_reconciled"): True,
        ("processed/products", "rejection_rate"): False,
        ("processed/products", "rejection_limit"): True,
        ("processed/products", "schema_drift"): False,
        ("processed/orders", "primary_key"): True,
        ("processed/orders", "rows_reconciled"): True,
        ("processed/orders", "rejection_rate"): False,
        ("processed/orders", "rejection_limit"): True,
        ("processed/orders", "schema_drift"): False,
        ("processed/order_items", "primary_key"): True,
        ("processed/order_items", "order_id_in_orders"): True,
        ("processed/order_items", "product_id_in_products"): True,
        ("processed/order_items", "rows_reconciled"): True,
        ("processed/order_items", "rejection_rate"): False,
        ("processed/order_items", "rejection_limit"): True,
        ("processed/order_items", "schema_drift"): False,
        ("analytics/daily_sales", "totals_match_processed"): True,
        ("analytics/top_products", "totals_match_processed"): True,
        # Not in lakehouse_job: the freshness sensor evaluates them.
        ("raw/products", "delivered_on_time"): False,
        ("raw/orders", "delivered_on_time"): False,
        ("raw/order_items", "delivered_on_time"): False,
    }
    assert sum(1 for key in job.asset_layer.asset_graph.asset_check_keys if key.name == "delivered_on_time") == 0
    assert job.name == "lakehouse_job"
    # A run of the whole job launched from the UI carries this machine's name, so a `lakehouse dev`
    # started after a crash releases and retries it (`release_dead_runs`).
    assert job.tags[RUN_HOST_TAG] == run_host_tags()[RUN_HOST_TAG]


def test_every_sensor_runs_by_default_and_every_table_writer_holds_its_pool() -> None:
    from dagster import DefaultSensorStatus

    sensors = {sensor.name: sensor.default_status for sensor in defs.sensors}
    assert sensors == {
        "landing_files_sensor": DefaultSensorStatus.RUNNING,
        "lakehouse_automation": DefaultSensorStatus.RUNNING,
        "dead_runs": DefaultSensorStatus.RUNNING,
        "alert_on_run_failure": DefaultSensorStatus.RUNNING,
        "alert_on_quarantine": DefaultSensorStatus.RUNNING,
        "freshness": DefaultSensorStatus.RUNNING,
    }
    pools = {
        node.name: node.pool
        for assets_def in defs.resolve_asset_graph().assets_defs
        if assets_def.is_executable and assets_def.keys
        for node in [assets_def.node_def]
    }
    assert pools == {
        "ingest_landed_files": "lakehouse_raw_all",
        "process_products": "lakehouse_processed_products",
        "process_orders": "lakehouse_processed_orders",
        "process_order_items": "lakehouse_processed_order_items",
        "archived__landed_files": "lakehouse_archive",
        "analytics__daily_sales": "lakehouse_analytics_daily_sales",
        "analytics__top_products": "lakehouse_analytics_top_products",
        "catalog__glue_tables": "lakehouse_catalog",
        # Compaction commits to the processed and rejected tables: the merge's pool.
        "maintenance__products": "lakehouse_processed_products",
        "maintenance__orders": "lakehouse_processed_orders",
        "maintenance__order_items": "lakehouse_processed_order_items",
    }
    # The pools `lakehouse run` and `lakehouse dev` give their limit before any run claims one.
    assert definitions_pools(defs) == sorted(set(pools.values()))


def test_analytics_and_catalog_follow_processed() -> None:
    graph = defs.resolve_asset_graph()
    by_name = {key.to_user_string(): key for key in graph.get_all_asset_keys()}

    def parents(name: str) -> set[str]:
        return {key.to_user_string() for key in graph.get(by_name[name]).parent_keys}

    assert parents("analytics/daily_sales") == {"processed/orders", "processed/order_items"}
    assert parents("analytics/top_products") == {"processed/orders", "processed/order_items", "processed/products"}
    assert parents("catalog/glue_tables") == {
        *(
            f"{zone}/{dataset}"
            for zone in ("processed", "rejected")
            for dataset in ("products", "orders", "order_items")
        ),
        "analytics/daily_sales",
        "analytics/top_products",
    }
    groups = {name: graph.get(by_name[name]).group_name for name in ("analytics/daily_sales", "catalog/glue_tables")}
    assert groups == {"analytics/daily_sales": "analytics", "catalog/glue_tables": "catalog"}
    processed = graph.get(by_name["processed/orders"]).automation_condition
    for name in ("analytics/daily_sales", "analytics/top_products", "catalog/glue_tables"):
        assert graph.get(by_name[name]).automation_condition == processed


def test_maintenance_runs_nightly_apart_from_the_loading_job() -> None:
    from dagster import AutomationCondition

    graph = defs.resolve_asset_graph()
    job_keys = {key.to_user_string() for key in defs.resolve_job_def("lakehouse_job").asset_layer.executable_asset_keys}
    assert not {key for key in job_keys if key.startswith("maintenance/")}
    assert "processed/orders" in job_keys
    maintenance = [key for key in graph.get_all_asset_keys() if key.path[0] == "maintenance"]
    for key in maintenance:
        node = graph.get(key)
        assert node.group_name == "maintenance"
        assert node.automation_condition == AutomationCondition.on_cron("0 3 * * *", "UTC")
        dataset = key.path[1]
        assert {parent.to_user_string() for parent in node.parent_keys} == {
            f"processed/{dataset}",
            f"rejected/{dataset}",
        }


def test_dg_loads_the_same_code_location() -> None:
    """Dagster's project CLI finds the code location from pyproject's [tool.dg]: `dg check defs`, `dg list defs`."""
    dg = str(REPO / ".venv" / "bin" / "dg")
    checked = subprocess.run([dg, "check", "defs"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0 and "All definitions loaded successfully." in checked.stdout, checked.stderr
    listed = subprocess.run([dg, "list", "defs", "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    found = json.loads(listed.stdout)
    graph = defs.resolve_asset_graph()
    assert sorted(asset["asset_key"] for asset in found["assets"]) == sorted(
        key.to_user_string() for key in graph.get_all_asset_keys()
    )
    assert [job["name"] for job in found["jobs"]] == ["lakehouse_job"]
    assert len(found["asset_checks"]) == len(list(graph.asset_check_keys))
    assert sorted(sensor["name"] for sensor in found["sensors"]) == sorted(s.name for s in defs.sensors or [])
