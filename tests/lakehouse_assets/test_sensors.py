"""The landing sensor, tick by tick, on a real Dagster instance, against a local root and moto S3."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import boto3
import pytest
from dagster import DagsterInstance, SensorResult, build_sensor_context, instance_for_test

from glue_scripts.storage import LocalStore, Store, open_store
from lakehouse_assets import landed_files
from lakehouse_assets.definitions import defs
from lakehouse_assets.sensors import LandingCursor, SensorSettings, build_sensors, evaluate_landing

HOUR = 3600.0
PRODUCTS_HEADER = "product_id,department_id,department,product_name\n"


@pytest.fixture
def instance() -> Iterator[DagsterInstance]:
    with instance_for_test() as test_instance:
        yield test_instance


@dataclass
class SensorDriver:
    """Runs ticks like the daemon does: keeps the cursor and applies the partition requests."""

    instance: DagsterInstance
    store: Store
    max_files_per_run: int = 100
    full_listing_interval: float = HOUR
    max_full_listing_pages: int = 50
    cursor: str | None = None
    clock: float = 1_000_000.0
    results: list[SensorResult] = field(default_factory=list)

    def tick(self, after_seconds: float = 30.0) -> SensorResult:
        self.clock += after_seconds
        context = build_sensor_context(instance=self.instance, cursor=self.cursor, definitions=defs)
        result = evaluate_landing(
            context,
            self.store,
            self.clock,
            self.max_files_per_run,
            self.full_listing_interval,
            self.max_full_listing_pages,
        )
        for request in result.dynamic_partitions_requests or []:
            self.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        self.cursor = result.cursor
        self.results.append(result)
        return result

    def requested_files(self, result: SensorResult) -> list[list[str]]:
        """Per run request, the file keys named in its run config (without digests)."""
        runs = []
        for request in result.run_requests or []:
            ops = request.run_config["ops"]
            runs.append([key.split("#")[0] for op in ops.values() for key in op["config"]["files"]])
        return runs


def land(store: Store, key: str, text: str, mtime: float | None = None) -> None:
    store.write_bytes(f"landing/{key}", text.encode())
    if mtime is not None and isinstance(store, LocalStore):
        os.utime(store.path / "landing" / key, (mtime, mtime))


def products(rows: int, start: int = 1) -> str:
    return PRODUCTS_HEADER + "".join(f"{i},1,dairy,item {i}\n" for i in range(start, start + rows))


@pytest.fixture
def driver(instance: DagsterInstance, store: LocalStore) -> SensorDriver:
    return SensorDriver(instance, store)


def test_new_files_of_several_data_sets_become_one_run_with_parents_first(driver: SensorDriver) -> None:
    land(driver.store, "order_items/2025-04-01.csv", "x\n")
    land(driver.store, "orders/2025-04-01.csv", "x\n")
    land(driver.store, "products/products.csv", products(2))
    result = driver.tick()
    assert len(result.run_requests) == 1
    request = result.run_requests[0]
    # One run from the raw tables down to the archive: everything `lakehouse_job` loads from them.
    assert [k.to_user_string() for k in request.asset_selection] == [
        "analytics/daily_sales",
        "analytics/top_products",
        "archived/landed_files",
        "catalog/glue_tables",
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
    assert driver.requested_files(result) == [
        ["products/products.csv", "orders/2025-04-01.csv", "order_items/2025-04-01.csv"]
    ]
    digest = driver.store.list("landing/products")[0].digest
    x_digest = driver.store.list("landing/orders")[0].digest  # both "x" files
    assert request.tags == {
        "lakehouse/trigger": "landing_files_sensor",
        "lakehouse/host": socket.gethostname(),
        "lakehouse/file_count": "3",
        "lakehouse/files": (
            f"products/products.csv#{digest},orders/2025-04-01.csv#{x_digest},order_items/2025-04-01.csv#{x_digest}"
        ),
    }
    assert request.run_config["ops"]["ingest_landed_files"]["config"]["files"][0] == f"products/products.csv#{digest}"
    assert sorted(driver.instance.get_dynamic_partitions(landed_files.landed_files_partitions.name)) == sorted(
        f"{o.key.removeprefix('landing/')}#{o.digest}"
        for dataset in ("products", "orders", "order_items")
        for o in driver.store.list(f"landing/{dataset}")
    )
    # Nothing new: a skip that says why and what was listed.
    again = driver.tick()
    assert again.run_requests is None or again.run_requests == []
    assert again.skip_reason.skip_message == (
        "No new files in landing/ (3 objects in 3 list calls, listing after the cursor)."
    )


def test_files_landing_in_the_same_second_as_the_last_one_seen_are_not_lost(driver: SensorDriver) -> None:
    same_second = 1_700_000_000.0
    land(driver.store, "orders/2025-04-01.csv", "a\n", mtime=same_second)
    assert driver.requested_files(driver.tick()) == [["orders/2025-04-01.csv"]]
    land(driver.store, "orders/2025-04-02.csv", "b\n", mtime=same_second)
    land(driver.store, "orders/2025-04-03.csv", "c\n", mtime=same_second)
    assert driver.requested_files(driver.tick()) == [["orders/2025-04-02.csv", "orders/2025-04-03.csv"]]


def test_reupload_with_new_content_triggers_again_and_same_content_does_not(driver: SensorDriver) -> None:
    land(driver.store, "products/a.csv", products(1))
    land(driver.store, "products/b.csv", products(1))
    assert driver.requested_files(driver.tick()) == [["products/a.csv", "products/b.csv"]]
    # The last key seen, re-uploaded: the next ordinary tick lists it again.
    land(driver.store, "products/b.csv", products(1))
    assert driver.tick().run_requests in (None, [])
    land(driver.store, "products/b.csv", products(2))
    assert driver.requested_files(driver.tick()) == [["products/b.csv"]]
    # An older key re-uploaded sorts before the cursor: found by the next full listing.
    land(driver.store, "products/a.csv", products(3))
    assert driver.tick().run_requests in (None, [])
    assert driver.requested_files(driver.tick(after_seconds=HOUR)) == [["products/a.csv"]]
    # Same content back under a key already seen: never requested again, even on a full listing.
    land(driver.store, "products/a.csv", products(1))
    assert driver.tick(after_seconds=HOUR).run_requests in (None, [])
    assert len(driver.instance.get_dynamic_partitions("landed_files")) == 4


def test_a_deleted_cursor_key_does_not_stop_the_listing(driver: SensorDriver) -> None:
    for day in (1, 2, 3):
        land(driver.store, f"orders/2025-04-0{day}.csv", f"{day}\n")
    driver.tick()
    assert LandingCursor.parse(driver.cursor).start_after == {"orders": "landing/orders/2025-04-02.csv"}
    # The files the cursor points at are archived (gone from landing); new ones keep coming.
    for day in (1, 2, 3):
        driver.store.move(f"landing/orders/2025-04-0{day}.csv", f"archived/orders/2025-04-0{day}.csv")
    land(driver.store, "orders/2025-04-04.csv", "4\n")
    assert driver.requested_files(driver.tick()) == [["orders/2025-04-04.csv"]]


def test_incomplete_uploads_wait_and_the_skip_says_so(driver: SensorDriver) -> None:
    land(driver.store, "orders/2025-04-01.csv._COPYING_", "partial")
    result = driver.tick()
    assert result.skip_reason.skip_message == (
        "No new files in landing/ (1 object in 4 list calls, full listing); 1 incomplete or hidden file "
        "waiting (e.g. landing/orders/2025-04-01.csv._COPYING_)."
    )
    driver.store.move("landing/orders/2025-04-01.csv._COPYING_", "landing/orders/2025-04-01.csv")
    assert driver.requested_files(driver.tick()) == [["orders/2025-04-01.csv"]]


def test_batches_are_capped_and_parents_come_first(driver: SensorDriver) -> None:
    driver.max_files_per_run = 2
    for day in (1, 2):
        land(driver.store, f"order_items/2025-04-0{day}.csv", f"{day}\n")
        land(driver.store, f"orders/2025-04-0{day}.csv", f"{day}\n")
    land(driver.store, "products/products.csv", products(1))
    result = driver.tick()
    assert driver.requested_files(result) == [
        ["products/products.csv", "orders/2025-04-01.csv"],
        ["orders/2025-04-02.csv", "order_items/2025-04-01.csv"],
        ["order_items/2025-04-02.csv"],
    ]
    assert len({request.run_key for request in result.run_requests}) == 3


def test_the_files_tag_of_a_large_batch_stops_at_a_whole_file_and_counts_them(driver: SensorDriver) -> None:
    for number in range(30):
        land(driver.store, f"products/p{number:02d}.csv", products(1, start=number))
    (request,) = driver.tick().run_requests
    keys = [f"{o.key.removeprefix('landing/')}#{o.digest}" for o in driver.store.list("landing/products")]
    # 49 characters a key: 20 keys and their commas fill the 1,000 characters.
    assert [len(key) for key in keys] == [49] * 30
    assert request.tags["lakehouse/file_count"] == "30"
    assert request.tags["lakehouse/files"] == ",".join(keys[:20]) + ",... (30 files)"


def test_on_s3_pagination_beyond_1000_keys_and_one_list_call_per_data_set_after(
    instance: DagsterInstance, s3_root: str, tmp_path: Path
) -> None:
    store = open_store(s3_root)
    bucket, prefix = s3_root.removeprefix("s3://").split("/", 1)
    client = boto3.client("s3")
    for i in range(1_005):
        client.put_object(Bucket=bucket, Key=f"{prefix}/landing/orders/2025-04-01-{i:05d}.csv", Body=f"{i}\n".encode())
    driver = SensorDriver(instance, store, max_files_per_run=500)
    result = driver.tick()
    assert [len(files) for files in driver.requested_files(result)] == [500, 500, 5]
    assert store.list_calls == 5  # landing/ itself; orders: 2 pages; products, order_items: 1 each
    land(store, "orders/2025-04-02.csv", "new\n")
    assert driver.requested_files(driver.tick()) == [["orders/2025-04-02.csv"]]
    assert store.list_calls == 8  # one call per data set, after the cursor
    assert driver.tick().skip_reason.skip_message == (
        "No new files in landing/ (1 object in 3 list calls, listing after the cursor)."
    )


def test_on_s3_a_full_listing_larger_than_a_tick_resumes_where_it_stopped(
    instance: DagsterInstance, s3_root: str
) -> None:
    store = open_store(s3_root)
    bucket, prefix = s3_root.removeprefix("s3://").split("/", 1)
    client = boto3.client("s3")
    for i in range(1_001):
        client.put_object(Bucket=bucket, Key=f"{prefix}/landing/orders/2025-04-01-{i:05d}.csv", Body=f"{i}\n".encode())
    land(store, "products/products.csv", products(1))
    driver = SensorDriver(instance, store, max_files_per_run=2_000, max_full_listing_pages=2)
    # Tick 1: products (one page) and the first 1,000 orders spend the budget; order_items waits.
    assert [len(files) for files in driver.requested_files(driver.tick())] == [1_001]
    assert store.list_calls == 3  # landing/ itself, products, the first page of orders
    assert LandingCursor.parse(driver.cursor).full_listing == {
        "orders": "landing/orders/2025-04-01-00999.csv",
        "order_items": "",
    }
    # Tick 2: the last order and order_items; the full listing is complete.
    assert driver.requested_files(driver.tick()) == [["orders/2025-04-01-01000.csv"]]
    cursor = LandingCursor.parse(driver.cursor)
    assert (cursor.full_listing, cursor.listed_all_at) == (None, driver.clock)
    assert cursor.start_after == {"orders": "landing/orders/2025-04-01-00999.csv"}
    assert store.list_calls == 6  # tick 2 also lists products after its cursor
    assert driver.tick().skip_reason.skip_message == (
        "No new files in landing/ (2 objects in 3 list calls, listing after the cursor)."
    )


def test_files_outside_the_data_set_folders_are_left_alone_and_named(driver: SensorDriver) -> None:
    driver.store.write_bytes("landing/customers/2025-04-01.csv", b"customer_id\n1\n")
    driver.store.write_bytes("landing/readme.txt", b"drop files into landing/<dataset>/\n")
    result = driver.tick()
    assert result.skip_reason.skip_message == (
        "No new files in landing/ (0 objects in 4 list calls, full listing); left alone, outside the data-set "
        "folders: landing/customers/, landing/readme.txt."
    )
    assert driver.store.exists("landing/customers/2025-04-01.csv")


def test_a_fresh_zero_byte_file_waits_as_an_upload_placeholder(driver: SensorDriver) -> None:
    land(driver.store, "orders/2025-04-01.csv", "")
    assert driver.tick().skip_reason.skip_message == (
        "No new files in landing/ (1 object in 4 list calls, full listing); 1 incomplete or hidden file "
        "waiting (e.g. landing/orders/2025-04-01.csv)."
    )
    land(driver.store, "orders/2025-04-01.csv", "1\n")  # the upload wrote its bytes: a new version
    assert driver.requested_files(driver.tick()) == [["orders/2025-04-01.csv"]]
    # Still empty after the grace period: an empty delivery, requested (the run quarantines it).
    land(driver.store, "orders/2025-04-02.csv", "", mtime=time.time() - 600)
    assert driver.requested_files(driver.tick()) == [["orders/2025-04-02.csv"]]


ODD_NAMES = ["a...b.csv", "100%.csv", "colon 10:00.csv", "glob[1]*.csv", "été, copie.csv"]


def test_on_s3_odd_keys_become_partitions_and_map_back_to_their_files(instance: DagsterInstance, s3_root: str) -> None:
    """S3 keys may hold what Dagster refuses in a partition key (`...`, control characters): escaped, not lost.

    (Control characters: moto's server refuses them in a key, so only the unit test below has them.)
    """
    store = open_store(s3_root)
    for name in ODD_NAMES:
        land(store, f"products/{name}", products(1))
    driver = SensorDriver(instance, store)
    (request,) = driver.tick().run_requests
    requested = request.run_config["ops"]["ingest_landed_files"]["config"]["files"]
    digest = store.list("landing/products")[0].digest  # the same bytes in every file
    assert sorted(requested) == sorted(
        [
            f"products/100%25.csv#{digest}",
            f"products/a%2E%2E%2Eb.csv#{digest}",
            f"products/colon 10:00.csv#{digest}",
            f"products/glob[1]*.csv#{digest}",
            f"products/été, copie.csv#{digest}",
        ]
    )
    assert sorted(landed_files.version_id(key) for key in requested) == sorted(
        o.version_id for o in store.list("landing/products")
    )
    assert sorted(instance.get_dynamic_partitions(landed_files.landed_files_partitions.name)) == sorted(requested)
    assert driver.tick().skip_reason is not None  # remembered: not requested again


def test_partition_keys_escape_what_dagster_refuses_and_map_back(instance: DagsterInstance) -> None:
    versions = ["landing/orders/a...b.csv#d1", "landing/orders/tab\there\n.csv#d2", "landing/orders/5%25.csv#d3"]
    keys = [landed_files.partition_key(v) for v in versions]
    assert keys == ["orders/a%2E%2E%2Eb.csv#d1", "orders/tab%09here%0A.csv#d2", "orders/5%2525.csv#d3"]
    assert [landed_files.version_id(k) for k in keys] == versions
    landed_files.register(instance, versions)
    assert instance.get_dynamic_partitions(landed_files.landed_files_partitions.name) == keys
    # An ordinary key is its own partition key.
    assert landed_files.partition_key("landing/orders/2025-04-01.csv#d4") == "orders/2025-04-01.csv#d4"


def test_the_sensor_settings_come_from_the_environment_when_the_sensors_are_built() -> None:
    environ = {
        "LAKEHOUSE_SENSOR_INTERVAL_SECONDS": "5",
        "LAKEHOUSE_AUTOMATION_INTERVAL_SECONDS": "600",
        "LAKEHOUSE_MAX_FILES_PER_RUN": "10",
        "LAKEHOUSE_FULL_LISTING_INTERVAL_SECONDS": "90.5",
        "LAKEHOUSE_MAX_FULL_LISTING_PAGES": "3",
    }
    settings = SensorSettings.from_environment(environ)
    assert settings == SensorSettings(5, 600, 10, 90.5, 3)
    assert SensorSettings.from_environment({}) == SensorSettings(30, 30, 100, 300.0, 20)
    intervals = {sensor.name: sensor.minimum_interval_seconds for sensor in build_sensors(settings)}
    assert intervals == {"landing_files_sensor": 5, "lakehouse_automation": 600, "dead_runs": 60}
