"""Shared fixtures: one Spark session (with Delta) for the whole suite, and empty lakehouse roots.

Every test is in one tier, by marker, which `make` selects on (see the Makefile):
- `unit`: pure Python, no JVM (contracts, parsing, sensors' planning, summaries, infra validators,
  the instance and its locks on a PostgreSQL server of the tests' own);
- `spark`: the shared Spark session (and the in-process moto server), a handful of rows per test;
- `e2e`: whole pipeline runs (every stage, through `lakehouse run`, Dagster or the job scripts;
  crashed and rerun), servers, subprocesses and browsers (`dagster dev`, `lakehouse` processes,
  killed JVMs).
A test marked `e2e` is end to end; otherwise a test that asks for the Spark session is `spark`, and
the rest are `unit`. A `unit` test that starts a JVM fails, saying so. `make test-fast` runs `unit`
and `spark`: every rule and stage function on a handful of rows, in a few minutes.

The end-to-end tests that share the lab-data run and the `lakehouse dev` on it are one xdist group
(`lab`); every other module is a group of its own, so its module fixtures are built once. The
groups of the slowest tiers go first, so the two workers finish together.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyspark import SparkContext
from pyspark.sql import SparkSession

from glue_scripts.storage import LocalStore
from tests.spark_settings import spark_session_for_tests

pytest_plugins = ["tests.s3_fixtures", "tests.postgres_fixtures", "tests.lab_fixtures"]

TIERS = ("e2e", "spark", "unit")
SPARK_FIXTURES = {"spark", "s3_spark"}


def tier(item: pytest.Item) -> str:
    if item.get_closest_marker("e2e"):
        return "e2e"
    return "spark" if SPARK_FIXTURES & set(getattr(item, "fixturenames", ())) else "unit"


def pytest_itemcollected(item: pytest.Item) -> None:
    """Each test's tier, and its xdist group: its module's unless it names one (before xdist reads them)."""
    item.add_marker(tier(item))
    if not item.get_closest_marker("xdist_group"):
        item.add_marker(pytest.mark.xdist_group(item.nodeid.split("::")[0]))


def group(item: pytest.Item) -> str:
    marker = item.get_closest_marker("xdist_group")
    return marker.args[0] if marker else ""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slowest tiers' groups first (a stable sort keeps each module's own order)."""
    group_tier: dict[str, int] = {}
    for item in items:
        group_tier[group(item)] = min(group_tier.get(group(item), len(TIERS)), TIERS.index(tier(item)))
    items.sort(key=lambda item: group_tier[group(item)])


@pytest.fixture(autouse=True)
def _unit_tests_start_no_jvm(request: pytest.FixtureRequest) -> Iterator[None]:
    had_jvm = SparkContext._gateway is not None
    yield
    if request.node.get_closest_marker("unit") and not had_jvm and SparkContext._gateway is not None:
        pytest.fail("this test started a JVM: ask for the `spark` fixture (tier spark) or mark it e2e")


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    session = spark_session_for_tests()
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
