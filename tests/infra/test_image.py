"""The Dagster image for AWS (infra/image): its files, and a smoke test of the built image.

The smoke test runs the image's webserver and daemon with `buildah run` (chroot isolation: no
container runtime, the host's network, so 127.0.0.1 is this machine) against a real PostgreSQL 15
server and the suite's moto server (S3 root, ECS run task definition), and proves that the webserver
answers, that it loads the code location, and that the daemon's loops tick into the shared
PostgreSQL storage. It does not build the image: `make image` (a step of `make install`) does, about
two minutes cold; the test finds the image by the tag of its inputs (`infra/image/build.sh --tag`)
and skips, saying so, when that image is missing, as it does without root, podman or buildah.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from tests.lab_fixtures import graphql as webserver_graphql

REPO = Path(__file__).resolve().parents[2]
IMAGE_DIR = REPO / "infra" / "image"
BUILD = IMAGE_DIR / "build.sh"
POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")
# Percent-encoding matters: the entry point must build a URL that psycopg2 reads back as this password.
DB_PASSWORD = "smoke-p@ss:w/rd#1?"
# Every loop of dagster-daemon 1.13 with this dagster.yaml (MONITORING: run_monitoring is on).
DAEMON_TYPES = {"ASSET", "BACKFILL", "FRESHNESS_DAEMON", "MONITORING", "QUEUED_RUN_COORDINATOR", "SCHEDULER", "SENSOR"}


# --- the files -------------------------------------------------------------------------------------


def test_dagster_yaml_is_postgres_queued_and_ecs_with_no_secret_in_it() -> None:
    config = yaml.safe_load((IMAGE_DIR / "dagster.yaml").read_text())
    assert config["storage"] == {"postgres": {"postgres_url": {"env": "LAKEHOUSE_POSTGRES_URL"}}}
    assert config["run_coordinator"] == {"module": "dagster._core.run_coordinator", "class": "QueuedRunCoordinator"}
    assert config["concurrency"] == {
        "runs": {"max_concurrent_runs": 4},
        "pools": {"default_limit": 1, "granularity": "op"},
    }
    assert config["run_launcher"] == {
        "module": "dagster_aws.ecs",
        "class": "EcsRunLauncher",
        "config": {
            "task_definition": {"env": "DAGSTER_RUN_TASK_DEFINITION"},
            "container_name": "run",
            "secrets_tag": None,
        },
    }
    assert config["compute_logs"]["config"] == {
        "bucket": {"env": "LAKEHOUSE_COMPUTE_LOG_BUCKET"},
        "prefix": {"env": "LAKEHOUSE_COMPUTE_LOG_PREFIX"},
    }
    assert config["telemetry"] == {"enabled": False}
    assert "password" not in (IMAGE_DIR / "dagster.yaml").read_text().replace("password never", "")


def test_containerfile_is_non_root_python_3_11_without_java() -> None:
    text = (IMAGE_DIR / "Containerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert instructions[-5:] == ["USER", "WORKDIR", "EXPOSE", "ENTRYPOINT", "CMD"]
    assert "USER dagster" in text and "--uid 10001" in text
    assert "python3 python3-venv ca-certificates" in text
    assert not any(word in text.lower() for word in ("openjdk", "default-jre", "java"))
    assert 'print("\\n".join(p["dependencies"]))' in text


def test_the_dependencies_pin_dagster_postgres_with_dagster() -> None:
    import tomllib

    dependencies = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    for pin in ("dagster==1.13.27", "dagster-aws==0.29.27", "dagster-postgres==0.29.27", "psycopg2-binary==2.9.13"):
        assert pin in dependencies


def test_the_tag_is_a_hash_of_the_inputs(tmp_path: Path) -> None:
    if shutil.which("sha256sum") is None:
        pytest.skip("sha256sum not found")
    first = subprocess.run([BUILD, "--tag"], capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    again = subprocess.run([BUILD, "--tag"], capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    assert first == again
    name, digest = first.rsplit(":", 1)
    assert name == "localhost/lakehouse-dagster" and len(digest) == 16 and int(digest, 16) >= 0


# --- the smoke test -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def built_image() -> str:
    if os.geteuid() != 0:
        pytest.skip("the image smoke test needs root (podman and buildah with chroot isolation)")
    missing = [tool for tool in ("podman", "buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"{', '.join(missing)} not found: make install (apt-get install mmdebstrap podman buildah)")
    if not (POSTGRES_BIN / "initdb").exists():
        pytest.skip(f"PostgreSQL 15 not found in {POSTGRES_BIN}: apt-get install postgresql-15")
    image = subprocess.run([BUILD, "--tag"], capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    if subprocess.run(["podman", "image", "exists", image], check=False).returncode != 0:
        pytest.skip(f"{image} is not built for the current sources: make image")
    return image


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A PostgreSQL 15 server on a free 127.0.0.1 port with password authentication, stopped afterwards."""
    image = built_image()  # skip before starting anything
    data = Path(tempfile.mkdtemp(prefix="lakehouse-pg-"))
    shutil.chown(data, "postgres", "postgres")
    password_file = data / "pwfile"
    password_file.write_text(DB_PASSWORD + "\n")
    shutil.chown(password_file, "postgres", "postgres")
    port = free_port()

    def as_postgres(*command: str) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=120)

    as_postgres(
        str(POSTGRES_BIN / "initdb"), "-D", str(data / "db"), "-U", "dagster", "--auth=scram-sha-256",
        f"--pwfile={password_file}",
    )  # fmt: skip
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {data}"
    as_postgres(
        str(POSTGRES_BIN / "pg_ctl"), "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start"
    )
    try:
        env = {**os.environ, "PGPASSWORD": DB_PASSWORD}
        subprocess.run(
            [str(POSTGRES_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster", "dagster"],
            env=env, check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        yield {"image": image, "port": str(port), "data": str(data)}
    finally:
        as_postgres(str(POSTGRES_BIN / "pg_ctl"), "-D", str(data / "db"), "-m", "fast", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


def graphql(port: int, query: str) -> dict[str, Any]:
    return webserver_graphql(f"http://127.0.0.1:{port}", query)["data"]


DAEMON_HEALTH = "{ instance { daemonHealth { allDaemonStatuses { daemonType healthy lastHeartbeatTime } } } }"
LOCATIONS = (
    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus locationOrLoadError { __typename"
    " ... on PythonError { message } ... on RepositoryLocation { repositories { name jobs { name } } } } } } } }"
)


@pytest.mark.e2e
def test_webserver_answers_and_daemon_ticks_against_postgres(postgres: dict[str, str], s3_client: Any) -> None:
    bucket = f"lakehouse-smoke-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=bucket)
    # EcsRunLauncher checks its run task definition when the daemon builds it: moto's ECS has one.
    boto3.client("ecs").register_task_definition(
        family="smoke-run", containerDefinitions=[{"name": "run", "image": postgres["image"], "memory": 512}]
    )
    port = free_port()
    environment = {
        # The parts ECS gives the container; the entry point assembles LAKEHOUSE_POSTGRES_URL.
        "LAKEHOUSE_POSTGRES_HOST": "127.0.0.1",
        "LAKEHOUSE_POSTGRES_PORT": postgres["port"],
        "LAKEHOUSE_POSTGRES_DB": "dagster",
        "LAKEHOUSE_POSTGRES_USER": "dagster",
        "LAKEHOUSE_POSTGRES_PASSWORD": DB_PASSWORD,
        "DAGSTER_RUN_TASK_DEFINITION": "smoke-run",
        "LAKEHOUSE_COMPUTE_LOG_BUCKET": bucket,
        "LAKEHOUSE_COMPUTE_LOG_PREFIX": "lakehouse/_dagster/compute_logs",
        "LAKEHOUSE_ROOT": f"s3://{bucket}/lakehouse",
        "LAKEHOUSE_EXECUTION": "glue",
        "LAKEHOUSE_STACK": "smoke",
        "LAKEHOUSE_SENSOR_INTERVAL_SECONDS": "5",
        **{name: os.environ[name] for name in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")},
        "AWS_DEFAULT_REGION": os.environ["AWS_DEFAULT_REGION"],
    }
    container = subprocess.run(
        ["buildah", "from", "--pull-never", postgres["image"]], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    # Not root, Python 3.11, no Java anywhere on the PATH.
    facts = subprocess.run(
        ["buildah", "run", "--isolation", "chroot", container, "--", "sh", "-c",
         "id -u; python3 -c 'import sys; print(sys.version_info[:2])'; command -v java || echo no-java"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout.split("\n")  # fmt: skip
    assert facts[:3] == ["10001", "(3, 11)", "no-java"]
    processes: list[subprocess.Popen[bytes]] = []
    logs = Path(postgres["data"])

    def start(name: str, *command: str) -> None:
        env_args = [arg for key, value in environment.items() for arg in ("--env", f"{key}={value}")]
        processes.append(
            subprocess.Popen(
                ["buildah", "run", "--isolation", "chroot", *env_args, container, "--",
                 "/usr/local/bin/lakehouse-entrypoint", *command],
                stdout=(logs / f"{name}.log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
            )
        )  # fmt: skip

    try:
        started = time.monotonic()
        start(
            "webserver", "dagster-webserver", "-h", "127.0.0.1", "-p", str(port), "-m", "lakehouse_assets.definitions"
        )
        info = None
        while time.monotonic() - started < 120 and info is None:
            assert all(p.poll() is None for p in processes), (logs / "webserver.log").read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
                    info = json.loads(response.read())
            except OSError:
                time.sleep(1)
        assert info is not None, (logs / "webserver.log").read_text()[-3000:]
        answered = time.monotonic() - started
        # The daemon once the webserver has created the storage's schema: two processes creating it on an
        # empty database at once race ("type instigators already exists"), and one of them exits; on ECS
        # the service would start that task again.
        start("daemon", "dagster-daemon", "run", "-m", "lakehouse_assets.definitions")
        assert info["dagster_webserver_version"] == "1.13.27"
        assert info["dagster_version"] == "1.13.27"
        # The code location loads (in the webserver's own code server): the lakehouse's jobs are there.
        entries = []
        while time.monotonic() - started < 180 and not any(e["loadStatus"] == "LOADED" for e in entries):
            entries = graphql(port, LOCATIONS)["workspaceOrError"]["locationEntries"]
            time.sleep(1)
        (entry,) = entries
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        assert entry["name"] == "lakehouse_assets.definitions"
        (repository,) = location["repositories"]
        assert repository["name"] == "__repository__"
        assert {"__ASSET_JOB"} <= {job["name"] for job in repository["jobs"]}

        # Every daemon loop has written a heartbeat to PostgreSQL, which the webserver reads back.
        healthy: set[str] = set()
        while time.monotonic() - started < 180 and healthy != DAEMON_TYPES:
            assert processes[1].poll() is None, (logs / "daemon.log").read_text()[-3000:]
            statuses = graphql(port, DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
            healthy = {s["daemonType"] for s in statuses if s["healthy"]}
            time.sleep(2)
        assert healthy == DAEMON_TYPES, (logs / "daemon.log").read_text()[-3000:]
        print(
            f"webserver answered after {answered:.1f} s, all daemons healthy after {time.monotonic() - started:.1f} s"
        )
    finally:
        # Each `buildah run` leads a process group of its own (the server under it included).
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        subprocess.run(["buildah", "rm", container], capture_output=True, check=False, timeout=60)

    # The storage is the test's PostgreSQL: Dagster made its tables there, and the heartbeats are rows.
    tables = subprocess.run(
        [str(POSTGRES_BIN / "psql"), "-h", "127.0.0.1", "-p", postgres["port"], "-U", "dagster", "-d", "dagster",
         "-Atc", "select daemon_type from daemon_heartbeats order by 1"],
        env={**os.environ, "PGPASSWORD": DB_PASSWORD}, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.split()  # fmt: skip
    assert set(tables) == DAEMON_TYPES
