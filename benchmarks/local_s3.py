"""A moto server on 127.0.0.1 for the benchmarks, with the standard AWS variables pointing at it.

S3 over HTTP; DynamoDB (Delta's log store, lakehouse_assets/spark/delta_conf.py) also over TLS on a second
port with a throwaway certificate, as tests/s3_fixtures.py does: the log store's client speaks
HTTPS only (lakehouse_assets/spark/dynamodb_endpoint.py).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings

import boto3
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.server import ThreadedMotoServer
from werkzeug.serving import make_server

from lakehouse_assets.spark.delta_conf import create_log_table, delta_log_table


def start_moto() -> ThreadedMotoServer:
    """Start the server on a free port and point boto3 and s3a at it (dummy credentials)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    app = DomainDispatcherApplication(create_backend_app)
    tls = make_server(host, 0, app, threaded=True, request_handler=MotoRequestHandler, ssl_context="adhoc")
    threading.Thread(target=tls.serve_forever, daemon=True).start()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ENDPOINT_URL_DYNAMODB=f"https://{host}:{tls.server_address[1]}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return server


def create_delta_log_table() -> None:
    """The log store's table as the stack creates it (on-demand, TTL on `expireTime`)."""
    warnings.filterwarnings("ignore", message="Unverified HTTPS request", module="urllib3")
    client = boto3.client("dynamodb", verify=False)  # moto's throwaway certificate
    create_log_table(client, delta_log_table())
