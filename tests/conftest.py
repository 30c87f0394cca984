"""Shared fixtures: one Spark session (with Delta) for the whole suite, and empty lakehouse roots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark.sql import SparkSession

from glue_scripts.storage import LocalStore
from lakehouse_assets.spark_config import local_spark_conf

REPO = Path(__file__).resolve().parents[1]
LAB_DATA = REPO / "data" / "lab_apr_2025" / "csv"

pytest_plugins = ["tests.s3_fixtures"]


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    conf = local_spark_conf(cores=2, driver_memory="2g")
    conf["spark.sql.shuffle.partitions"] = "2"
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "lakehouse")


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def write_landing(store: LocalStore, dataset: str, name: str, text: str) -> str:
    key = f"landing/{dataset}/{name}"
    store.write_bytes(key, text.encode())
    os.utime(store.path / key)
    return key
