"""Pointing Delta's DynamoDB log store at a local endpoint (moto, LocalStack), with the AWS SDK's own switches.

Delta builds its DynamoDB client itself (AWS SDK for Java v1) and has no endpoint setting, so a local
stand-in's endpoint is given as JVM system properties: a region metadata override naming its host and
port, and, on the loopback interface only, no certificate check. The stand-in must speak HTTPS. On AWS
none of this is applied (docs/ARCHITECTURE.md, "A local endpoint for Delta's DynamoDB log store").
"""

from __future__ import annotations

import hashlib
import ipaddress
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lakehouse_assets.spark.delta_conf import aws_region

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

REGIONS_OVERRIDE = "com.amazonaws.regions.RegionUtils.fileOverride"
DISABLE_CERT_CHECKING = "com.amazonaws.sdk.disableCertChecking"
REGION_METADATA = """<?xml version="1.0" encoding="UTF-8"?>
<XmlRegionMetadata>
  <Regions>
    <Region>
      <Name>{region}</Name>
      <Domain>amazonaws.com</Domain>
      <Endpoint>
        <ServiceName>dynamodb</ServiceName>
        <Http>false</Http>
        <Https>true</Https>
        <Hostname>{host}</Hostname>
      </Endpoint>
    </Region>
  </Regions>
</XmlRegionMetadata>
"""


def dynamodb_endpoint(environ: Mapping[str, str] | None = None) -> str | None:
    """The DynamoDB endpoint boto3 would use: `AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`, else AWS itself."""
    environ = os.environ if environ is None else environ
    return environ.get("AWS_ENDPOINT_URL_DYNAMODB") or environ.get("AWS_ENDPOINT_URL") or None


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def region_metadata_file(host: str, region: str) -> Path:
    """The SDK's region metadata with `region`'s DynamoDB at `host` (written once, named by its content)."""
    text = REGION_METADATA.format(region=region, host=host)
    path = Path(tempfile.gettempdir()) / f"lakehouse-aws-regions-{hashlib.sha256(text.encode()).hexdigest()[:16]}.xml"
    if not path.is_file():
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_text(text)
        partial.replace(path)
    return path


def endpoint_properties(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The JVM system properties that send the log store's client to the environment's endpoint; none for AWS.

    An `http://` endpoint is used as it is given: the client still speaks HTTPS to it, and fails
    saying so at the first commit on S3 (README, "Running on S3").
    """
    endpoint = dynamodb_endpoint(environ)
    if not endpoint:
        return {}
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    properties = {REGIONS_OVERRIDE: str(region_metadata_file(parts.netloc, aws_region(environ)))}
    if is_loopback(parts.hostname or ""):
        properties[DISABLE_CERT_CHECKING] = "true"
    return properties


def java_options(properties: Mapping[str, str]) -> str:
    """`properties` as JVM options (`-Dname=value ...`)."""
    return " ".join(f"-D{name}={value}" for name, value in properties.items())


def apply_dynamodb_endpoint(spark: SparkSession, environ: Mapping[str, str] | None = None) -> Callable[[], None]:
    """Send a running JVM's log store clients to the environment's endpoint; returns the undo.

    A JVM started before the endpoint was known (a shared test session) gets the properties here;
    the SDK reads its region metadata once, so it is reloaded (`RegionUtils.initialize`), and
    clients built from now on (one per Delta table the session opens) use it.
    """
    from glue_scripts.jvm import jvm, set_system_properties

    region_utils = jvm(spark).com.amazonaws.regions.RegionUtils
    restore_properties = set_system_properties(spark, endpoint_properties(environ))
    region_utils.initialize()

    def undo() -> None:
        restore_properties()
        region_utils.initialize()

    return undo
