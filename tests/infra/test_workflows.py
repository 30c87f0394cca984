"""The GitHub Actions workflows: actionlint clean, and the deploy gated on CI with OIDC, no stored keys.

actionlint checks workflow syntax, expressions and contexts, action inputs, and (when shellcheck is
on PATH) every `run:` script. It is a Go program: `make install-infra-tools` builds it through the
Go module proxy into ~/.cache/lakehouse/tools.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO / ".github" / "workflows"
# Where `make install-infra-tools` links it (TOOLS in the Makefile).
ACTIONLINT = Path.home() / ".cache" / "lakehouse" / "tools" / "bin" / "actionlint"


def actionlint() -> str:
    if ACTIONLINT.exists():
        return str(ACTIONLINT)
    found = shutil.which("actionlint")
    if found is None:
        pytest.skip(f"actionlint not found ({ACTIONLINT} or PATH): make install-infra-tools (needs Go)")
    return found


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_actionlint_is_clean() -> None:
    result = subprocess.run(
        [actionlint(), "-verbose"], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found 0 errors in 2 files" in result.stderr, result.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: push\njobs:\n  deploy:\n    runs-on: ubuntu-24.04\n    needs: [no-such-job]\n"
        "    steps:\n      - run: echo ${{ secret.TOKEN }}\n"
    )
    result = subprocess.run([actionlint(), str(broken)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1
    assert "no-such-job" in result.stdout and "secret" in result.stdout


def test_ci_runs_make_test_on_python_3_11_and_java_17_with_the_jars_cached() -> None:
    ci = load("ci.yml")
    steps = ci["jobs"]["test"]["steps"]
    runs = [step.get("run") for step in steps]
    assert "make test" in runs and "make lint" in runs
    withs = {step["uses"].split("@")[0]: step.get("with", {}) for step in steps if "uses" in step}
    assert withs["actions/setup-python"]["python-version"] == "3.11"
    assert withs["actions/setup-java"]["java-version"] == "17"
    assert any(step.get("with", {}).get("path") == "~/.cache/lakehouse/jars" for step in steps)
    assert ci["permissions"] == {"contents": "read"}


def test_deploy_runs_after_ci_passed_with_an_oidc_role_and_no_keys() -> None:
    text = (WORKFLOWS / "deploy.yml").read_text()
    deploy = load("deploy.yml")
    trigger = deploy[True]  # YAML 1.1 reads the key `on` as True
    assert trigger["workflow_run"] == {"workflows": ["CI"], "types": ["completed"], "branches": ["main"]}
    assert deploy["permissions"] == {"contents": "read", "id-token": "write"}
    job = deploy["jobs"]["deploy"]
    assert "conclusion == 'success'" in job["if"] and "event == 'push'" in job["if"]
    credentials = next(s for s in job["steps"] if s.get("uses", "").startswith("aws-actions/configure-aws-credentials"))
    assert credentials["with"]["role-to-assume"] == "${{ vars.AWS_DEPLOY_ROLE_ARN }}"
    assert "aws-access-key-id" not in credentials["with"] and "secrets." not in text
    assert "AWS_ACCESS_KEY_ID" not in text and "AWS_SECRET_ACCESS_KEY" not in text
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout"))
    assert checkout["with"]["ref"] == "${{ github.event.workflow_run.head_sha }}"  # the commit CI tested
    assert any("lakehouse deploy --stack" in s.get("run", "") for s in job["steps"])


def test_dependabot_updates_the_actions_and_pip_but_not_the_glue_runtime_pins() -> None:
    """.github/dependabot.yml (actionlint does not read it): both ecosystems, weekly, Spark and Delta held."""
    config = yaml.safe_load((REPO / ".github" / "dependabot.yml").read_text())
    assert config["version"] == 2
    updates = {update["package-ecosystem"]: update for update in config["updates"]}
    assert sorted(updates) == ["github-actions", "pip"]
    assert all(
        update["directory"] == "/" and update["schedule"] == {"interval": "weekly"} for update in updates.values()
    )
    assert [rule["dependency-name"] for rule in updates["pip"]["ignore"]] == ["pyspark", "delta-spark"]
    assert updates["pip"]["groups"]["dagster"]["patterns"] == ["dagster", "dagster-*"]
