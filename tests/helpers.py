"""What several test modules share that is not a fixture: the repository's paths, and landing a file."""

from __future__ import annotations

import os
from pathlib import Path

from glue_scripts.storage import LocalStore

REPO = Path(__file__).resolve().parents[1]
LAB_DATA = REPO / "data" / "lab_apr_2025" / "csv"


def write_landing(store: LocalStore, dataset: str, name: str, text: str) -> str:
    key = f"landing/{dataset}/{name}"
    store.write_bytes(key, text.encode())
    os.utime(store.path / key)
    return key
