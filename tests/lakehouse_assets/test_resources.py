"""The resources: the lakehouse resource's store on either root."""

from __future__ import annotations

from typing import Any

from glue_scripts.storage import LocalStore, S3Store
from lakehouse_assets.resources import LakehouseResource


def test_the_dagster_resource_builds_the_s3_store_through_s3resource(s3_root: str, s3_client: Any) -> None:
    """`LakehouseResource.store()` on an s3:// root: a dagster-aws client that finds the endpoint in the environment."""
    store = LakehouseResource(root=s3_root).store()
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix) == (s3_root.removeprefix("s3://").split("/")[0], "lakehouse")
    store.write_bytes("landing/products/p.csv", b"product_id\n1\n")
    body = s3_client.get_object(Bucket=store.bucket, Key="lakehouse/landing/products/p.csv")["Body"].read()
    assert body == b"product_id\n1\n"
    assert isinstance(LakehouseResource(root="/tmp/lakehouse").store(), LocalStore)
