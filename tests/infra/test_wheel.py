"""What ships: the wheel carries what `lakehouse deploy` sends, and the Glue bundle only what runs on AWS."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

from lakehouse_assets.tooling import deploy

REPO = Path(__file__).resolve().parents[2]


def test_the_package_list_names_every_package() -> None:
    configured = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("lakehouse_assets", "glue_scripts")
        for init in (REPO / top).rglob("__init__.py")
    }
    assert on_disk == {name for name in configured if not name.startswith("lakehouse_infra")}
    assert {"lakehouse_infra.cloudformation", "lakehouse_infra.stepfunctions"} <= configured


def test_the_glue_bundle_holds_the_spark_code_and_no_dev_tooling() -> None:
    names = zipfile.ZipFile(io.BytesIO(deploy.package_glue_scripts())).namelist()
    assert "glue_scripts/steps.py" in names and "glue_scripts/jobs/analytics.py" in names
    assert not [name for name in names if "generator" in name or name.startswith(("tests/", "lakehouse_assets/"))]


SENT = """
import hashlib, json
from lakehouse_assets.tooling import deploy
print(json.dumps({
    "infra": str(deploy.INFRA),
    "glue_scripts": str(deploy.GLUE_SCRIPTS),
    "scripts": [p.name for p in deploy.job_scripts()],
    "bundle": hashlib.sha256(deploy.package_glue_scripts()).hexdigest(),
    "templates": {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in (deploy.TEMPLATE, deploy.DEFINITION, deploy.DAGSTER_TEMPLATE)},
}))
"""


@pytest.mark.e2e
def test_deploy_sends_the_same_code_and_templates_from_an_installed_wheel(tmp_path: Path) -> None:
    # Built from a copy of the sources, so the build leaves nothing in the checkout.
    source = tmp_path / "source"
    for name in ("pyproject.toml", "README.md"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / name, source / name)
    for folder in ("lakehouse_assets", "glue_scripts", "infra/cloudformation", "infra/stepfunctions"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("lakehouse-*.whl")
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    # `-S`: no site processing, so the editable install's finder cannot lend the checkout; the
    # dependencies come from this environment's site-packages, the project from the unpacked wheel.
    path = f"{site}:{sysconfig.get_paths()['purelib']}"
    done = subprocess.run(
        [sys.executable, "-S", "-c", SENT], env={"PYTHONPATH": path}, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    sent = json.loads(done.stdout)
    assert (sent["infra"], sent["glue_scripts"]) == (str(site / "lakehouse_infra"), str(site / "glue_scripts"))
    assert sent["scripts"] == [p.name for p in deploy.job_scripts()]
    assert sent["bundle"] == hashlib.sha256(deploy.package_glue_scripts()).hexdigest()
    assert sent["templates"] == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (deploy.TEMPLATE, deploy.DEFINITION, deploy.DAGSTER_TEMPLATE)
    }
