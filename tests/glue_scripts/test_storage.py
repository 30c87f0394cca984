"""The two stores behave the same: a local folder and an S3 bucket (a moto server, over HTTP).

Every test that takes `any_store` runs on both. The S3-only tests are about what S3 adds: list
requests one page at a time, ETags, server-side and multipart copies, object metadata.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from glue_scripts.storage import SOURCE_DIGEST_METADATA, LocalStore, S3Store, Store

MIB = 1024 * 1024


@pytest.fixture(params=["local", "s3"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    if request.param == "local":
        return LocalStore(tmp_path / "lakehouse")
    return S3Store(request.getfixturevalue("s3_root"), request.getfixturevalue("s3_client"))


@pytest.fixture
def s3_store(s3_root: str, s3_client: Any) -> S3Store:
    return S3Store(s3_root, s3_client)


def object_key(store: S3Store, key: str) -> str:
    return f"{store.prefix}/{key}"


def count_requests(client: Any, *operations: str) -> dict[str, int]:
    """Counts of the S3 requests named, as the client sends them (botocore's event hooks)."""
    counts = dict.fromkeys(operations, 0)

    def counter(operation: str) -> Callable[..., None]:
        def count(**_: Any) -> None:
            counts[operation] += 1

        return count

    for operation in operations:
        client.meta.events.register(f"before-call.s3.{operation}", counter(operation), unique_id=f"count-{operation}")
    return counts


def stop_counting(client: Any, *operations: str) -> None:
    for operation in operations:
        client.meta.events.unregister(f"before-call.s3.{operation}", unique_id=f"count-{operation}")


def test_list_and_list_pages_in_key_order_after_a_start_key_1000_keys_per_s3_call(any_store: Store) -> None:
    """Same keys from both; S3 answers one page per ListObjectsV2 request (the sensor reports the calls)."""
    keys = [f"landing/orders/2025-04-{i:04d}.csv" for i in range(1_001)]
    with ThreadPoolExecutor(max_workers=8) as pool:  # boto3 clients are thread-safe
        list(pool.map(lambda key: any_store.write_bytes(key, b"x"), keys))
    any_store.write_bytes("landing/orders_old/a.csv", b"not under landing/orders/")
    any_store.write_bytes("landing/order.csv", b"not under landing/orders/ either")

    pages = list(any_store.list_pages("landing/orders"))
    assert [o.key for page in pages for o in page] == keys
    after = list(any_store.list_pages("landing/orders", start_after=keys[499]))
    assert [o.key for page in after for o in page] == keys[500:]
    assert [o.key for page in any_store.list_pages("landing/orders", start_after=keys[-1]) for o in page] == []
    assert list(any_store.list_pages("landing/nothing")) == [[]]
    if isinstance(any_store, S3Store):
        assert ([len(page) for page in pages], [len(page) for page in after], any_store.list_calls) == (
            [1_000, 1],
            [501],
            5,  # 2 + 1 + 1 (after the last key: one empty page) + 1 (nothing there)
        )
    else:
        assert ([len(page) for page in pages], [len(page) for page in after]) == ([1_001], [501])
    assert [o.key for o in any_store.list("landing/orders")] == keys
    assert [o.key for o in any_store.list("landing/orders/")] == keys
    assert any_store.list("landing/nothing") == []
    if isinstance(any_store, S3Store):
        assert any_store.list_calls == 10


def test_list_children_names_the_folders_then_the_files_directly_under_a_prefix(any_store: Store) -> None:
    for key in ("landing/orders/a.csv", "landing/orders/2025/b.csv", "landing/zz/c.csv", "landing/readme.txt"):
        any_store.write_bytes(key, b"x")
    assert any_store.list_children("landing") == ["orders/", "zz/", "readme.txt"]
    assert any_store.list_children("landing/orders") == ["2025/", "a.csv"]
    assert any_store.list_children("nothing") == []


def test_s3_listing_skips_folder_markers(s3_store: S3Store, s3_client: Any) -> None:
    s3_client.put_object(Bucket=s3_store.bucket, Key=object_key(s3_store, "landing/orders/sub/"), Body=b"")
    s3_store.write_bytes("landing/orders/sub/a.csv", b"a")
    assert [o.key for o in s3_store.list("landing/orders")] == ["landing/orders/sub/a.csv"]


def test_read_bytes_whole_or_the_first_bytes(any_store: Store) -> None:
    any_store.write_bytes("landing/orders/a.csv", b"order_id,date\n1,2025-04-01\n")
    any_store.write_bytes("landing/orders/empty.csv", b"")
    assert any_store.read_bytes("landing/orders/a.csv") == b"order_id,date\n1,2025-04-01\n"
    assert any_store.read_bytes("landing/orders/a.csv", max_bytes=8) == b"order_id"
    assert any_store.read_bytes("landing/orders/a.csv", max_bytes=1) == b"o"
    assert any_store.read_bytes("landing/orders/a.csv", max_bytes=0) == b""
    assert any_store.read_bytes("landing/orders/a.csv", max_bytes=64 * 1024) == b"order_id,date\n1,2025-04-01\n"
    assert any_store.read_bytes("landing/orders/empty.csv", max_bytes=64 * 1024) == b""
    assert any_store.read_bytes("landing/orders/empty.csv") == b""


def test_write_replaces_and_stat_and_exists_tell_what_is_there(any_store: Store) -> None:
    any_store.write_bytes("landing/orders/a.csv", b"first")
    any_store.write_bytes("landing/orders/a.csv", b"second version")
    assert any_store.read_bytes("landing/orders/a.csv") == b"second version"
    stored = any_store.stat("landing/orders/a.csv")
    assert stored is not None
    assert (stored.key, stored.size, stored.digest) == (
        "landing/orders/a.csv",
        14,
        hashlib.md5(b"second version").hexdigest(),
    )
    [listed] = any_store.list("landing/orders")
    assert (listed.key, listed.size, listed.digest) == (stored.key, stored.size, stored.digest)
    assert any_store.exists("landing/orders/a.csv") is True
    assert any_store.exists("landing/orders/b.csv") is False
    assert any_store.stat("landing/orders/b.csv") is None


def test_digest_is_the_md5_of_the_content(any_store: Store) -> None:
    """Single-part uploads: the S3 ETag is the MD5 of the bytes, as the local digest is."""
    content = b"product_id,department_id,department,product_name\n5,1,Books,A\n"
    any_store.write_bytes("landing/products/p.csv", content)
    [listed] = any_store.list("landing/products")
    assert listed.digest == hashlib.md5(content).hexdigest() == "a6d7f3cee47e14f0bf2b1d50f263075c"
    assert listed.version_id == "landing/products/p.csv#a6d7f3cee47e14f0bf2b1d50f263075c"


def test_move_copies_then_deletes(any_store: Store) -> None:
    any_store.write_bytes("landing/orders/a.csv", b"a,b\n1,2\n")
    source = any_store.stat("landing/orders/a.csv")
    assert source is not None
    any_store.move("landing/orders/a.csv", "archived/orders/2025/04/20/a.csv")
    assert any_store.exists("landing/orders/a.csv") is False
    assert any_store.read_bytes("archived/orders/2025/04/20/a.csv") == b"a,b\n1,2\n"
    assert any_store.holds_copy_of("archived/orders/2025/04/20/a.csv", source) is True
    assert [o.key for o in any_store.list("archived")] == ["archived/orders/2025/04/20/a.csv"]
    assert any_store.list("landing") == []


def test_move_over_another_file_replaces_it(any_store: Store) -> None:
    any_store.write_bytes("landing/orders/a.csv", b"new")
    any_store.write_bytes("archived/orders/a.csv", b"old content")
    any_store.move("landing/orders/a.csv", "archived/orders/a.csv")
    assert any_store.read_bytes("archived/orders/a.csv") == b"new"
    assert any_store.list("landing") == []


def test_a_move_rerun_after_its_copy_only_deletes_the_source(any_store: Store) -> None:
    """A crash between copy and delete leaves both; the rerun's move finds the copy and deletes."""
    any_store.write_bytes("landing/orders/a.csv", b"a,b\n1,2\n")
    any_store.write_bytes("archived/orders/a.csv", b"a,b\n1,2\n")  # the copy the crashed move made
    source = any_store.stat("landing/orders/a.csv")
    assert source is not None
    before = any_store.stat("archived/orders/a.csv")
    any_store.move("landing/orders/a.csv", "archived/orders/a.csv")
    assert any_store.stat("archived/orders/a.csv") == before  # not written again
    assert any_store.exists("landing/orders/a.csv") is False
    assert [o.key for o in any_store.list("archived")] == ["archived/orders/a.csv"]


def test_holds_copy_of_compares_content_not_names(any_store: Store) -> None:
    any_store.write_bytes("landing/orders/a.csv", b"1,2\n")
    source = any_store.stat("landing/orders/a.csv")
    assert source is not None
    any_store.write_bytes("archived/same.csv", b"1,2\n")
    any_store.write_bytes("archived/other.csv", b"1,3\n")
    any_store.write_bytes("archived/longer.csv", b"1,2\n\n")
    assert any_store.holds_copy_of("archived/same.csv", source) is True
    assert any_store.holds_copy_of("archived/other.csv", source) is False
    assert any_store.holds_copy_of("archived/longer.csv", source) is False
    assert any_store.holds_copy_of("archived/missing.csv", source) is False
    assert any_store.holds_copy_of("landing/orders/a.csv", source) is True


@pytest.mark.parametrize(
    "key", ["../outside.csv", "/etc/passwd", "landing//a.csv", "landing/./a.csv", "landing/../../a.csv", ""]
)
def test_keys_outside_the_root_are_refused(any_store: Store, key: str) -> None:
    any_store.write_bytes("landing/orders/a.csv", b"x")
    operations: list[Callable[[], object]] = [
        lambda: any_store.read_bytes(key),
        lambda: any_store.write_bytes(key, b"x"),
        lambda: any_store.exists(key),
        lambda: any_store.stat(key),
        lambda: any_store.move("landing/orders/a.csv", key),
        lambda: any_store.move(key, "archived/a.csv"),
        lambda: any_store.spark_path(key),
        lambda: any_store.list(key or "/"),
    ]
    for operation in operations:
        with pytest.raises(ValueError, match="unsafe key outside the lakehouse root"):
            operation()
    assert [o.key for o in any_store.list("landing")] == ["landing/orders/a.csv"]


def test_s3_move_is_one_server_side_copy_that_keeps_headers_and_records_the_source_digest(
    s3_store: S3Store, s3_client: Any
) -> None:
    s3_client.put_object(
        Bucket=s3_store.bucket,
        Key=object_key(s3_store, "landing/orders/a.csv"),
        Body=b"1,2\n",
        ContentType="text/csv",
        Metadata={"uploaded-by": "partner-sftp"},
    )
    source = s3_store.stat("landing/orders/a.csv")
    assert source is not None
    operations = ("CopyObject", "UploadPartCopy", "DeleteObject", "PutObject")
    counts = count_requests(s3_client, *operations)
    try:
        s3_store.move("landing/orders/a.csv", "archived/orders/a.csv")
    finally:
        stop_counting(s3_client, *operations)
    assert counts == {"CopyObject": 1, "UploadPartCopy": 0, "DeleteObject": 1, "PutObject": 0}
    head = s3_client.head_object(Bucket=s3_store.bucket, Key=object_key(s3_store, "archived/orders/a.csv"))
    assert head["ContentType"] == "text/csv"
    assert head["Metadata"] == {"uploaded-by": "partner-sftp", SOURCE_DIGEST_METADATA: source.digest}
    assert head["ETag"] == f'"{source.digest}"'


def test_s3_move_of_a_large_object_is_a_multipart_copy(s3_root: str, s3_client: Any) -> None:
    """Past `copy_part_bytes` the copy goes in parts (how objects over 5 GB move); parts of 5 MiB here."""
    store = S3Store(s3_root, s3_client, copy_part_bytes=5 * MIB)
    content = bytes(range(256)) * (11 * MIB // 256)  # 11 MiB: parts of 5, 5 and 1 MiB
    store.write_bytes("landing/order_items/big.csv", content)
    source = store.stat("landing/order_items/big.csv")
    assert source is not None
    assert source.digest == hashlib.md5(content).hexdigest()
    operations = ("CopyObject", "UploadPartCopy", "CompleteMultipartUpload", "DeleteObject")
    counts = count_requests(s3_client, *operations)
    try:
        store.move("landing/order_items/big.csv", "archived/order_items/big.csv")
    finally:
        stop_counting(s3_client, *operations)
    assert counts == {"CopyObject": 0, "UploadPartCopy": 3, "CompleteMultipartUpload": 1, "DeleteObject": 1}
    target = store.stat("archived/order_items/big.csv")
    assert target is not None
    assert target.size == 11 * MIB
    assert target.digest.endswith("-3")  # a multipart ETag: not the MD5 of the content any more
    assert target.digest != source.digest
    assert store.holds_copy_of("archived/order_items/big.csv", source) is True  # through the recorded digest
    assert store.read_bytes("archived/order_items/big.csv") == content
    assert store.exists("landing/order_items/big.csv") is False

    # The crash case on a multipart copy: the source back in place, the rerun's move only deletes it.
    store.write_bytes("landing/order_items/big.csv", content)
    counts = count_requests(s3_client, *operations)
    try:
        store.move("landing/order_items/big.csv", "archived/order_items/big.csv")
    finally:
        stop_counting(s3_client, *operations)
    assert counts == {"CopyObject": 0, "UploadPartCopy": 0, "CompleteMultipartUpload": 0, "DeleteObject": 1}
    assert store.stat("archived/order_items/big.csv") == target
    assert store.list("landing") == []
