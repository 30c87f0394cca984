"""A moto S3 server on 127.0.0.1 for the benchmarks, with the standard AWS variables pointing at it."""

from __future__ import annotations

import logging
import os

from moto.server import ThreadedMotoServer


def start_moto() -> ThreadedMotoServer:
    """Start the server on a free port and point boto3 and s3a at it (dummy credentials)."""
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
    )
    return server
