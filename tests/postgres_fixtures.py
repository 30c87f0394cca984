"""A real PostgreSQL server for the tests: Debian's binaries, a temporary data folder, a free port.

No system service: `initdb` into a fresh folder, `pg_ctl start` on 127.0.0.1 and a free port (its
socket in the data folder too), password authentication only, stopped and removed at the end of the
session. As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root). Each
test gets a database of its own. Without the binaries (`make install` installs Debian's
`postgresql`), the tests that need the server skip, saying so.

`instance_on_each_storage`: the instance `lakehouse` makes, once on SQLite (the local default) and
once on a database of this server (`LAKEHOUSE_POSTGRES_URL`), for what depends on the storage.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster import DagsterInstance

from lakehouse_assets.instance import POSTGRES_URL_VARIABLE, ensure_dagster_home

USER = "lakehouse"


def postgres_bin() -> Path | None:
    """The newest PostgreSQL server binaries: `LAKEHOUSE_PG_BIN`, else Debian's /usr/lib/postgresql/*/bin."""
    if os.environ.get("LAKEHOUSE_PG_BIN"):
        return Path(os.environ["LAKEHOUSE_PG_BIN"])
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    password: str

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        import psycopg2

        connection = psycopg2.connect(self.url())
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)


def run_as_server_user(command: list[str]) -> subprocess.CompletedProcess[str]:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + command, capture_output=True, text=True, check=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    binaries = postgres_bin()
    if binaries is None:
        pytest.skip("PostgreSQL server binaries not found: `make install` installs Debian's postgresql")
    folder = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    folder.chmod(0o755)
    data = folder / "data"
    password = secrets.token_hex(12)
    password_file = folder / "password"
    password_file.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(password_file, "postgres")
    port = free_port()
    try:
        run_as_server_user(
            [str(binaries / "initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256", f"--pwfile={password_file}"]
        )
        password_file.unlink()
        options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={data} -c fsync=off"
        pg_ctl = [str(binaries / "pg_ctl"), "-D", str(data)]
        run_as_server_user([*pg_ctl, "-o", options, "-l", str(data / "log"), "-w", "start"])
        yield PostgresServer("127.0.0.1", port, password)
    finally:
        if (data / "postmaster.pid").exists():
            run_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"])
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """The URL of a database of this test's own."""
    return postgres_server.create_database(f"t_{secrets.token_hex(6)}")


@pytest.fixture(params=["sqlite", "postgres"])
def instance_on_each_storage(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterInstance]:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    if request.param == "postgres":
        monkeypatch.setenv(POSTGRES_URL_VARIABLE, request.getfixturevalue("postgres_url"))
    else:
        monkeypatch.delenv(POSTGRES_URL_VARIABLE, raising=False)
    monkeypatch.delenv("LAKEHOUSE_MAX_CONCURRENT_RUNS", raising=False)
    ensure_dagster_home()
    with DagsterInstance.get() as instance:
        yield instance
