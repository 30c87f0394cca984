"""One writer per data set, whoever launched the run: locks held by every step that writes a table.

A concurrency pool slot claim on SQLite storage can be won by two processes, so every writing step
also holds a lock per data set it writes, taken in name order: a PostgreSQL advisory lock, or an
`flock` on `<DAGSTER_HOME>/locks/<name>.lock` beside a SQLite instance. PostgreSQL or the kernel frees
it when its holder dies, however it dies. What a lock covers, and why the pools and the locks cannot
deadlock: RELIABILITY.md, "Concurrent runs".
"""

from __future__ import annotations

import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

LOCK_DIRECTORY = "locks"
# Keys of PostgreSQL's advisory locks are 64-bit integers shared by every application of the
# database: this namespace keeps the lakehouse's apart.
ADVISORY_NAMESPACE = "lakehouse-table-lock"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for a lock name."""
    digest = hashlib.sha256(f"{ADVISORY_NAMESPACE}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def postgres_url(instance: DagsterInstance) -> str | None:
    """The instance's PostgreSQL URL, when its run storage is PostgreSQL."""
    return getattr(instance.run_storage, "postgres_url", None)


@contextmanager
def file_lock(directory: Path, name: str, waiting: Callable[[str], None]) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / f"{name}.lock").open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting(name)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def postgres_locks(url: str, names: Sequence[str], waiting: Callable[[str], None]) -> Iterator[None]:
    import psycopg2

    # Keepalives: a holder whose machine disappears loses its session (and its locks) in about a minute.
    keepalives = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
    connection: Any = psycopg2.connect(url, **keepalives)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            for name in names:
                cursor.execute("SELECT pg_try_advisory_lock(%s)", (advisory_key(name),))
                if not cursor.fetchone()[0]:
                    waiting(name)
                    cursor.execute("SELECT pg_advisory_lock(%s)", (advisory_key(name),))
        yield
    finally:
        connection.close()  # ends the session: PostgreSQL frees every lock it held


@contextmanager
def table_locks(
    instance: DagsterInstance, names: Sequence[str], waiting: Callable[[str], None] | None = None
) -> Iterator[None]:
    """Hold the locks `names` (in name order) for the block; `waiting(name)` is told before blocking."""
    ordered = sorted(set(names))
    told = waiting or (lambda name: None)
    url = postgres_url(instance)
    if url:
        with postgres_locks(url, ordered, told):
            yield
        return
    directory = Path(instance.root_directory) / LOCK_DIRECTORY
    with ExitStack() as stack:
        for name in ordered:
            stack.enter_context(file_lock(directory, name, told))
        yield


def dataset_lock(dataset: str) -> str:
    """The lock of a data set's raw, processed and rejected tables and its file ledger."""
    return f"dataset_{dataset}"


def table_lock(zone: str, name: str) -> str:
    """The lock of a table with no file ledger of its own (an analytics table)."""
    return f"{zone}_{name}"


LOCK_ACQUIRED = "table lock acquired: "
LOCK_RELEASED = "table lock released: "


@contextmanager
def held_by_step(context: Any, names: Sequence[str]) -> Iterator[None]:
    """`table_locks` for a Dagster step; a wait, and each lock's hold, are in the run's log."""
    started: dict[str, float] = {}

    def waiting(name: str) -> None:
        started[name] = time.monotonic()
        context.log.info(f"waiting for table lock {name}: another run is writing it")

    with table_locks(context.instance, names, waiting):
        for name in sorted(set(names)):
            waited = f" after waiting {time.monotonic() - started[name]:.1f} s" if name in started else ""
            context.log.debug(f"{LOCK_ACQUIRED}{name}{waited}")
        try:
            yield
        finally:
            for name in sorted(set(names)):
                context.log.debug(f"{LOCK_RELEASED}{name}")
