"""The user's mistakes: one line on stderr and exit status 2, and what botocore's errors mean to them."""

from __future__ import annotations


class UserError(Exception):
    """A mistake of the user's: `lakehouse <command>: <message>` on stderr, exit status 2."""


def s3_problem(error: Exception) -> str | None:
    """What botocore says went wrong (no credentials, no endpoint, refused by S3) and what to do, or None."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
    )
    from botocore.exceptions import ConnectionError as EndpointError

    if not isinstance(error, BotoCoreError | ClientError):
        return None
    lines = str(error).strip().splitlines() or [""]
    problem = f"{lines[0]} ({type(error).__name__})"
    if isinstance(error, NoCredentialsError | PartialCredentialsError):
        return f"{problem}; set AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
    if isinstance(error, EndpointError | HTTPClientError):
        return f"{problem}; check the network and the endpoint (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION)"
    if isinstance(error, ClientError):
        return f"{problem}; check the bucket name and that the credentials may use it"
    return problem
