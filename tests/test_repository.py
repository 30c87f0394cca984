"""The repository itself: no credentials committed, in any tracked file.

Looks for the shapes real secrets have (AWS access key ids, a secret key assigned in config or
code, private key blocks, GitHub tokens); the test credentials the suite uses for moto are plain
words that match none of them.
"""

from __future__ import annotations

import re
import subprocess

from tests.helpers import REPO

SECRET_SHAPES = {
    "AWS access key id": re.compile(rb"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret key assignment": re.compile(
        rb"(?i)aws_?secret_?access_?key['\"]?\s*[:=]\s*['\"]?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])"
    ),
    "private key": re.compile(rb"-----BEGIN (?:RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "GitHub token": re.compile(rb"\bgh[pousr]_[A-Za-z0-9]{36}\b"),
}


def test_no_tracked_file_holds_a_credential() -> None:
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    paths = [REPO / name for name in tracked.decode().split("\0") if name]
    assert len(paths) > 100  # the listing worked
    found = [
        f"{path.relative_to(REPO)}: {kind}"
        for path in paths
        if path.is_file()
        for kind, shape in SECRET_SHAPES.items()
        if shape.search(path.read_bytes())
    ]
    assert found == []


def test_the_shapes_catch_what_they_name() -> None:
    # Built at run time, so this file holds none of them.
    samples = {
        "AWS access key id": b"key = " + b"AKIA" + b"ABCDEFGHIJKLMNOP",
        "AWS secret key assignment": b"aws_secret_access_key = " + b"a1B2/c3D4+" * 4,
        "private key": b"-----BEGIN " + b"RSA PRIVATE KEY-----",
        "GitHub token": b"token: ghp_" + b"a1" * 18,
    }
    assert {kind: bool(SECRET_SHAPES[kind].search(sample)) for kind, sample in samples.items()} == dict.fromkeys(
        samples, True
    )


def test_the_makefile_installs_the_project_without_setuptools_editable_note() -> None:
    """Checked by hand: `pip install -e .` prints a 14-line "Editable installation" note without the filter."""
    makefile = (REPO / "Makefile").read_text()
    installs = [line.strip() for line in makefile.splitlines() if "pip install" in line and " -e " in line]
    assert len(installs) == 2 and all(line.startswith("$(EDITABLE_NOTE) ") for line in installs), installs
    assert 'EDITABLE_NOTE := PYTHONWARNINGS="ignore:Editable installation"' in makefile
