"""Table locks on both storages: one holder at a time, across processes, and freed when the holder is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance

from lakehouse_assets.instance import POSTGRES_URL_VARIABLE
from lakehouse_assets.table_locks import advisory_key, dataset_lock, postgres_url, table_locks

HOLDER = """
import sys, time
from dagster import DagsterInstance
from lakehouse_assets.table_locks import table_locks
with DagsterInstance.get() as instance, table_locks(instance, sys.argv[1:]):
    print("held", flush=True)
    time.sleep(600)
"""


@pytest.fixture
def instance(instance_on_each_storage: DagsterInstance) -> DagsterInstance:
    return instance_on_each_storage


def start_holder(names: list[str]) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, *names], stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_lock_held_by_a_killed_process_is_freed_and_taken_in_turn(instance: DagsterInstance) -> None:
    holder = start_holder([dataset_lock("orders"), dataset_lock("products")])
    waited: list[str] = []

    def kill_holder(name: str) -> None:
        waited.append(name)
        os.kill(holder.pid, signal.SIGKILL)  # no clean-up runs: the kernel or PostgreSQL frees the lock

    started = time.monotonic()
    with table_locks(instance, [dataset_lock("products"), dataset_lock("order_items")], kill_holder):
        pass
    assert holder.wait(timeout=10) == -signal.SIGKILL
    # order_items was free; products (taken after it, in name order) was held until the kill.
    assert waited == ["dataset_products"]
    assert time.monotonic() - started < 60


def test_a_free_lock_is_taken_at_once_and_can_be_taken_again(instance: DagsterInstance) -> None:
    waited: list[str] = []
    for _ in range(2):
        with table_locks(instance, [dataset_lock("orders")], waited.append):
            pass
    assert waited == []


def test_where_the_lock_lives(instance: DagsterInstance) -> None:
    url = postgres_url(instance)
    if url is None:
        with table_locks(instance, ["dataset_orders"]):
            assert (Path(instance.root_directory) / "locks" / "dataset_orders.lock").is_file()
    else:
        assert url == os.environ[POSTGRES_URL_VARIABLE]


def test_advisory_keys_are_stable_signed_64_bit_integers() -> None:
    assert advisory_key("dataset_orders") == advisory_key("dataset_orders")
    assert advisory_key("dataset_orders") != advisory_key("dataset_products")
    assert all(-(2**63) <= advisory_key(name) < 2**63 for name in ("a", "dataset_orders", "analytics_daily_sales"))
