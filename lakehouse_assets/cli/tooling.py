"""`lakehouse generate` (synthetic data for tests and benchmarks) and `lakehouse deploy` (the AWS stacks)."""

from __future__ import annotations

import sys
from pathlib import Path


def generate(out: Path, scale: float, days: int, dirty_share: float, seed: int, start_date: str) -> int:
    """Write a synthetic data set (lakehouse_assets.tooling.generator) and print its rows per data set."""
    from lakehouse_assets.tooling.generator import generate as write_data_set
    from lakehouse_assets.tooling.generator import rows_written

    manifest = write_data_set(out, scale, days, dirty_share, seed, start_date)
    print(f"{'dataset':<12} {'files':>6} {'rows':>12} {'clean':>12} {'dirty':>10}")
    for name, dataset in manifest["datasets"].items():
        print(
            f"{name:<12} {len(dataset['files']):>6} {dataset['rows']:>12,} {dataset['clean']:>12,} "
            f"{dataset['dirty']:>10,}"
        )
    seconds = manifest["elapsed_seconds"]
    rows = rows_written(manifest)
    print(f"\nwrote {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s) into {out}")
    print(f"manifest: {out / 'manifest.json'}")
    return 0


def deploy(
    stack: str,
    bucket: str,
    region: str | None,
    dagster_image: str | None = None,
    dagster_parameters: list[str] | None = None,
) -> int:
    """Deploy to AWS (lakehouse_assets.tooling.deploy) and print what was uploaded and the stack's outputs."""
    from lakehouse_assets.tooling.deploy import DeployError
    from lakehouse_assets.tooling.deploy import deploy as deploy_stack

    dagster_parameters = dagster_parameters or []
    malformed = [item for item in dagster_parameters if "=" not in item]
    if malformed:
        print(f"lakehouse deploy: --dagster-parameter takes KEY=VALUE, not {malformed[0]!r}", file=sys.stderr)
        return 1
    parameters = dict(item.split("=", 1) for item in dagster_parameters)
    try:
        result = deploy_stack(stack, bucket, region=region, dagster_image=dagster_image, dagster_parameters=parameters)
        print(result.render())
    except DeployError as error:
        print(f"lakehouse deploy: {error}", file=sys.stderr)
        return 1
    return 0
