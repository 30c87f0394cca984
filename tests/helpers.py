"""What several test modules share that is not a fixture: repository paths, landing a file, crashing at a failpoint."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from glue_scripts.storage import LocalStore

REPO = Path(__file__).resolve().parents[1]
LAB_DATA = REPO / "data" / "lab_apr_2025" / "csv"


def write_landing(store: LocalStore, dataset: str, name: str, text: str) -> str:
    key = f"landing/{dataset}/{name}"
    store.write_bytes(key, text.encode())
    os.utime(store.path / key)
    return key


class InjectedCrash(BaseException):
    """Raised at a failpoint in this process: a BaseException, so no `except Exception` in a stage stops it."""


def raise_at(point: str) -> Callable[[str], None]:
    """A failpoint hook (`glue_scripts.failpoints.install_hook`) that crashes the stage at `point`."""

    def hook(name: str) -> None:
        if name == point:
            raise InjectedCrash(point)

    return hook
