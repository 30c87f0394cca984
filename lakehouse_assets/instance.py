"""The Dagster instance the lakehouse expects: `DAGSTER_HOME` with a `dagster.yaml` made for it.

Defaults (SQLite storage under `DAGSTER_HOME`, default `./.dagster`) plus two settings the pipeline
relies on: every concurrency pool has one slot, so two runs never write the same Delta table at the
same time (each writing step holds the pool named after its table, see `assets.py`), and telemetry
is off for a project-local instance. An existing `dagster.yaml` is left as it is: it is the
operator's; `INSTANCE_YAML` shows what to merge into it.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_DAGSTER_HOME = ".dagster"

INSTANCE_YAML = """\
# Written by `lakehouse` (lakehouse_assets/instance.py); edit freely, it is not overwritten.
telemetry:
  enabled: false
concurrency:
  pools:
    # One writer per Delta table: steps that write the same table wait for each other.
    default_limit: 1
    granularity: op
"""


def ensure_dagster_home() -> Path:
    """Set `DAGSTER_HOME` (default `./.dagster`) and write its `dagster.yaml` when there is none."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(DEFAULT_DAGSTER_HOME).resolve())))
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_YAML)
    return home
