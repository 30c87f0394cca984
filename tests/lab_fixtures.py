"""The lab data set run once on a moto S3 root, and one `lakehouse dev` on it: shared end-to-end fixtures.

The Dagster instance of both keeps its runs and events in the tests' PostgreSQL server
(`LAKEHOUSE_POSTGRES_URL`), as a production deployment would.

`lab_lakehouse` lands the bundled lab data and runs `lakehouse run` once, in this process (the shared
Spark session), with a Dagster instance of its own; the CLI, query and UI tests read what it
left. `lakehouse_dev` then starts `lakehouse dev` (webserver, daemon, code server: `dagster dev`) on
the same root and instance, in its own process group on a free localhost port; the UI tests look at
it and the event-driven test drops a new delivery into its landing zone. Both belong to the xdist
group `lab` (`LAB_GROUP`): its tests run on one worker, in file order, and the server is stopped as
soon as the group's last test is done.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from dagster import DagsterInstance

from glue_scripts.storage import S3Store
from lakehouse_assets import cli
from lakehouse_assets.instance import POSTGRES_URL_VARIABLE
from tests.helpers import LAB_DATA, REPO
from tests.postgres_fixtures import PostgresServer
from tests.processes import free_port, start_group, stop_group
from tests.spark_settings import subprocess_environment

LAB_GROUP = "lab"
LAB_FILES = 31
LAB_ROWS = {"products": 1_000, "orders": 7_500, "order_items": 40_803}
START_TIMEOUT_S = 300


@dataclass
class LabLakehouse:
    """The lab data after one `lakehouse run`: where it is, and what the command printed."""

    root: str
    home: Path
    store: S3Store
    summary: str
    postgres_url: str

    @property
    def run_id(self) -> str:
        """The run id from the summary's first line, `lakehouse run <run id> succeeded (root ...)`."""
        match = re.search(r"^lakehouse run (\S+) ", self.summary, re.MULTILINE)
        assert match, self.summary
        return match.group(1)

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        """`DAGSTER_HOME` and the PostgreSQL URL of the lab's instance, restored afterwards."""
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("DAGSTER_HOME", str(self.home))
            patch.setenv(POSTGRES_URL_VARIABLE, self.postgres_url)
            yield

    def cli(self, *args: str) -> tuple[int, str, str]:
        """`lakehouse ARGS --root <lab root>` in this process: exit status, stdout, stderr."""
        out, err = io.StringIO(), io.StringIO()
        with self.environment(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            status = cli.main([*args, "--root", self.root])
        return status, out.getvalue(), err.getvalue()

    def instance(self) -> DagsterInstance:
        with self.environment():
            return DagsterInstance.from_config(str(self.home))


@pytest.fixture(scope="session")
def lab_lakehouse(
    s3_spark: Any, s3_client: Any, postgres_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> LabLakehouse:
    bucket = f"lakehouse-lab-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=bucket)
    root = f"s3://{bucket}/lakehouse"
    home = tmp_path_factory.mktemp("lab") / "dagster_home"
    home.mkdir()
    postgres_url = postgres_server.create_database("lab")
    lab = LabLakehouse(root, home, S3Store(root, s3_client), summary="", postgres_url=postgres_url)
    status, _, err = lab.cli("land", str(LAB_DATA))
    assert status == 0, err
    status, lab.summary, err = lab.cli("run")
    assert status == 0, lab.summary + err
    return lab


@dataclass
class LakehouseDev:
    """A running `lakehouse dev`: its UI's address and its log."""

    base_url: str
    port: int
    log: Path


def graphql(base_url: str, query: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{base_url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def warning_lines(text: str) -> list[str]:
    """Python warnings and Spark WARN lines in a log: a clean `lakehouse dev` prints none."""
    return re.findall(r"^.*(?:\w+Warning: | WARN ).*$", text, re.MULTILINE)


def wait_for(condition: Callable[[], bool], seconds: float, what: str, every: float = 2) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}")


def code_location_loaded(base_url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    """True once the webserver answers with the `lakehouse` code location loaded; fails on a load error."""
    assert process.poll() is None, f"lakehouse dev exited {process.returncode}:\n{tail(log)}"
    query = (
        "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
        " locationOrLoadError { __typename ... on PythonError { message } } } } } }"
    )
    try:
        entries = graphql(base_url, query)["data"]["workspaceOrError"]["locationEntries"]
    except (OSError, KeyError, TypeError, ValueError):
        return False
    entry = next((entry for entry in entries if entry["name"] == "lakehouse"), None)
    loaded = entry and entry["loadStatus"] == "LOADED" and entry["locationOrLoadError"]
    if loaded and loaded["__typename"] == "PythonError":
        pytest.fail(f"the lakehouse code location failed to load: {loaded['message']}")
    return bool(loaded and loaded["__typename"] == "RepositoryLocation")


_running: list[subprocess.Popen[bytes]] = []


def stop_lakehouse_dev() -> None:
    while _running:
        stop_group(_running.pop())


@pytest.fixture(scope="session")
def lakehouse_dev(lab_lakehouse: LabLakehouse, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LakehouseDev]:
    """`lakehouse dev` on the lab's root and instance, the landing sensor ticking every 5 s."""
    environment = {
        **subprocess_environment(dict(os.environ)),
        "DAGSTER_HOME": str(lab_lakehouse.home),
        "LAKEHOUSE_ROOT": lab_lakehouse.root,
        "LAKEHOUSE_SENSOR_INTERVAL_SECONDS": "5",
        "LAKEHOUSE_MAX_CONCURRENT_RUNS": "2",
        POSTGRES_URL_VARIABLE: lab_lakehouse.postgres_url,
    }
    log = tmp_path_factory.mktemp("dev") / "lakehouse_dev.log"
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    process = start_group(
        [str(REPO / ".venv" / "bin" / "lakehouse"), "dev", "--port", str(port)], environment, REPO, log
    )
    _running.append(process)
    try:
        wait_for(lambda: code_location_loaded(base_url, process, log), START_TIMEOUT_S, "the lakehouse code location")
        # The community sign-up dialog the UI opens on localhost: mark it seen, as its Skip button does.
        graphql(base_url, "mutation { setNuxSeen }")
        yield LakehouseDev(base_url, port, log)
    finally:
        stop_lakehouse_dev()


def in_lab_group(item: pytest.Item | None) -> bool:
    return item is not None and any(mark.args[:1] == (LAB_GROUP,) for mark in item.iter_markers("xdist_group"))


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop `lakehouse dev` once the lab group's last test on this worker is done (not at the session's end)."""
    if in_lab_group(item) and not in_lab_group(nextitem):
        stop_lakehouse_dev()
