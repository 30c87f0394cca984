"""S3 for the tests: a moto server on 127.0.0.1, a real S3 API endpoint that boto3 and Spark's s3a both reach.

A server rather than moto's in-process mock because s3a runs in the JVM: only HTTP reaches it. The
server starts once per session on a free port; while it runs, the standard AWS variables point
every client at it (`AWS_ENDPOINT_URL`, dummy credentials, a region), as they would at MinIO or
LocalStack, and are restored afterwards. Each test that wants a root gets a fresh bucket.

Delta's DynamoDB log store (lakehouse_assets/spark/delta_conf.py) commits through DynamoDB with a client
that speaks HTTPS only (lakehouse_assets/spark/dynamodb_endpoint.py), so the same moto backends are also
served over TLS, with a throwaway self-signed certificate, on a second port:
`AWS_ENDPOINT_URL_DYNAMODB`. The log store's table is created once, as the stack creates it.

The session's Spark may have been built before the server existed, so `s3_spark` hands the
endpoints and credentials to the running session (`apply_s3a_endpoint`, `apply_dynamodb_endpoint`)
and takes them back after.
"""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from moto import backends as moto_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from pyspark.sql import SparkSession
from werkzeug.serving import make_server

from lakehouse_assets.spark.config import apply_s3a_endpoint
from lakehouse_assets.spark.delta_conf import create_log_table, delta_log_table
from lakehouse_assets.spark.dynamodb_endpoint import apply_dynamodb_endpoint

# Distinctive values, so a test can look for them where they must never appear (logs, run metadata,
# tables): `secret_leaks`.
TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "lakehouse-test-access-key-id",
    "AWS_SECRET_ACCESS_KEY": "lakehouse-test-secret-access-key",
    "AWS_DEFAULT_REGION": "us-east-1",
}
SECRET_VALUES = (TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"], TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
# Variables that would send a client elsewhere or mix other credentials into the test ones.
CLEARED_VARIABLES = (
    "AWS_ENDPOINT_URL_S3",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_REGION",
    "LAKEHOUSE_DELTA_LOG_TABLE",
)


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The moto server's URL; the AWS environment points at it for the rest of the session."""
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    # The same backends (moto keeps them per process) over TLS, for the log store's HTTPS-only client.
    app = DomainDispatcherApplication(create_backend_app)
    tls = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler, ssl_context="adhoc")
    tls_thread = threading.Thread(target=tls.serve_forever, daemon=True)
    tls_thread.start()
    try:
        with pytest.MonkeyPatch.context() as environment:
            # moto finds a request's backend by listing its own package folder, a stat per service,
            # on every request; the folder does not change while the server runs.
            moto_modules = frozenset(moto_backends.list_of_moto_modules())
            environment.setattr(moto_backends, "list_of_moto_modules", lambda: moto_modules)
            for variable in CLEARED_VARIABLES:
                environment.delenv(variable, raising=False)
            environment.setenv("AWS_ENDPOINT_URL", endpoint)
            environment.setenv("AWS_ENDPOINT_URL_DYNAMODB", f"https://{host}:{tls.server_address[1]}")
            for variable, value in TEST_CREDENTIALS.items():
                environment.setenv(variable, value)
            yield endpoint
    finally:
        tls.shutdown()
        tls_thread.join()
        server.stop()
        werkzeug.setLevel(level)


@pytest.fixture(scope="session")
def s3_client(s3_endpoint: str) -> Any:
    """A boto3 S3 client built the standard way (the environment names the endpoint)."""
    return boto3.client("s3")


@pytest.fixture(scope="session")
def dynamodb_client(s3_endpoint: str) -> Any:
    """A boto3 DynamoDB client on the TLS endpoint (its certificate is self-signed: not verified)."""
    warnings.filterwarnings("ignore", message="Unverified HTTPS request", module="urllib3")
    return boto3.client("dynamodb", verify=False)


@pytest.fixture(scope="session")
def delta_log_table_name(dynamodb_client: Any) -> str:
    """The log store's table, created as the stack creates it (on-demand, TTL on `expireTime`)."""
    name = delta_log_table()
    if name in dynamodb_client.list_tables()["TableNames"]:  # made by a writer first (Delta creates a missing one)
        return name
    create_log_table(dynamodb_client, name)
    return name


@pytest.fixture
def s3_root(s3_client: Any, delta_log_table_name: str) -> Iterator[str]:
    """`s3://<fresh bucket>/lakehouse`, the log store's table ready; the bucket is emptied and removed afterwards."""
    bucket = f"lakehouse-test-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=bucket)
    yield f"s3://{bucket}/lakehouse"
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3_client.delete_objects(Bucket=bucket, Delete={"Objects": keys})
    s3_client.delete_bucket(Bucket=bucket)


@pytest.fixture(scope="session")
def s3_spark(s3_endpoint: str, delta_log_table_name: str, spark: SparkSession) -> Iterator[SparkSession]:
    """The shared Spark session, with s3a and Delta's log store pointed at the moto server."""
    undo_s3a, undo_dynamodb = apply_s3a_endpoint(spark), apply_dynamodb_endpoint(spark)
    yield spark
    undo_dynamodb()
    undo_s3a()


@pytest.fixture
def glue(s3_endpoint: str) -> Any:
    """A Glue client on moto."""
    return boto3.client("glue")


@pytest.fixture
def database() -> str:
    """A new Glue database name for one test."""
    return f"lakehouse_{uuid.uuid4().hex[:8]}"


def secret_leaks(paths: Sequence[Path], s3_root: str | None = None, more: Sequence[str] = ()) -> list[str]:
    """Where the test credentials (and `more` secrets) appear: files under `paths`, objects under `s3_root`."""
    found = []
    secrets = [*SECRET_VALUES, *more]
    files = [p for path in paths for p in ([path] if path.is_file() else sorted(path.rglob("*"))) if p.is_file()]
    for file in files:
        data = file.read_bytes()
        found += [f"{file}: {secret}" for secret in secrets if secret.encode() in data]
    if s3_root is not None:
        bucket, _, prefix = s3_root.removeprefix("s3://").partition("/")
        client = boto3.client("s3")
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", []):
                data = client.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                found += [f"s3://{bucket}/{item['Key']}: {s}" for s in secrets if s.encode() in data]
    return found


def queue_athena_results(endpoint: str, rows: list[list[str]]) -> None:
    """moto's API for canned Athena results: the next query execution gets these rows."""
    response = requests.post(
        f"{endpoint}/moto-api/static/athena/query-results",
        json={
            "region": "us-east-1",
            "results": [
                {
                    "rows": [{"Data": [{"VarCharValue": value} for value in row]} for row in rows],
                    "column_info": [{"Name": name, "Type": "varchar"} for name in rows[0]],
                }
            ],
        },
        timeout=10,
    )
    assert response.status_code == 201
