"""The lakehouse root: one layout on a local folder or on `s3://bucket/prefix`.

Spark reads and writes the Delta tables itself (through the path from `spark_path`); everything
that is about files rather than tables — listing the landing zone, reading a header, moving a
file to the archive or to quarantine — goes through a `Store`, so the pipeline never cares which
kind of root it runs on. The S3 store uses plain boto3 so the same code runs on AWS Glue, in
Dagster, and against any S3 endpoint (`AWS_ENDPOINT_URL`).

A move is a copy, then a delete (S3 has no rename), so a crash in between leaves the file in both
places, never in neither. Moves are therefore resumable: a target that already holds the source's
content is not copied again, and `holds_copy_of` lets a caller tell that copy apart from another
file that happens to have the same name. On S3 the copy is server side and multipart past
`COPY_PART_BYTES` (a single CopyObject stops at 5 GB); a multipart copy gets a new ETag, so the
copy carries the source's digest in its metadata (`SOURCE_DIGEST_METADATA`).
"""

from __future__ import annotations

# In the store classes `list` is a method once it is defined: annotations after it say `builtins.list`.
import builtins
import hashlib
import os
import posixpath
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

LANDING = "landing"
RAW = "raw"
PROCESSED = "processed"
REJECTED = "rejected"
ARCHIVED = "archived"
QUARANTINE = "quarantine"
AUDIT = "audit"
# Short-lived copies of landing files Spark cannot read under their own key (see `landing`).
STAGING = "_staging"

# User metadata on an S3 copy: the digest (ETag) of the object it was copied from.
SOURCE_DIGEST_METADATA = "lakehouse-source-digest"
# S3 server-side copies up to this size are one CopyObject request, larger ones multipart in parts of this size.
COPY_PART_BYTES = 256 * 1024 * 1024
# Object headers a copy keeps (S3 replaces them when the copy's metadata is replaced).
COPIED_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "ContentType")


@dataclass(frozen=True)
class StoredObject:
    """A file under the root; `key` is relative to the root (`landing/orders/2025-04-01.csv`)."""

    key: str
    size: int
    digest: str  # content identity: MD5 of a local file, the ETag on S3
    modified_at: datetime

    @property
    def name(self) -> str:
        return posixpath.basename(self.key)

    @property
    def version_id(self) -> str:
        """One delivery of one file: the same key with other content is another version."""
        return f"{self.key}#{self.digest}"


class Store(Protocol):
    root: str

    def list(self, prefix: str) -> list[StoredObject]: ...

    def list_pages(self, prefix: str, start_after: str | None = None) -> Iterator[builtins.list[StoredObject]]:
        """Files under `prefix` in key order, after `start_after` (exclusive), one page per list call."""
        ...

    def list_children(self, prefix: str) -> builtins.list[str]:
        """The names directly under `prefix`: folders with a trailing `/`, then files (one list call)."""
        ...

    def read_bytes(self, key: str, max_bytes: int | None = None) -> bytes: ...

    def write_bytes(self, key: str, data: bytes) -> None: ...

    def move(self, source_key: str, target_key: str) -> None:
        """Copy, then delete; a target already holding the source's content is not copied again."""
        ...

    def copy(self, source_key: str, target_key: str) -> None:
        """A plain copy (server side on S3), replacing whatever `target_key` held."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key`; no error when it is already gone."""
        ...

    def exists(self, key: str) -> bool: ...

    def stat(self, key: str) -> StoredObject | None:
        """The file at `key` (digest as `list` reports it), or None."""
        ...

    def holds_copy_of(self, key: str, obj: StoredObject) -> bool:
        """Whether `key` holds the content of `obj`: the copy of a move that has not deleted its source yet."""
        ...

    def spark_path(self, key: str) -> str: ...


def table_key(zone: str, dataset: str) -> str:
    return f"{zone}/{dataset}"


def safe_key(key: str) -> str:
    """Refuse keys that would leave the root (`..`, absolute paths, empty parts)."""
    parts = key.split("/")
    if key.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"unsafe key outside the lakehouse root: {key!r}")
    return key


class LocalStore:
    """A root on the local file system (the default: `./lakehouse_data`)."""

    def __init__(self, root: str | Path) -> None:
        self.path = Path(root).expanduser().resolve()
        self.root = str(self.path)

    def _file(self, key: str) -> Path:
        return self.path / safe_key(key)

    def list(self, prefix: str) -> list[StoredObject]:
        return [obj for page in self.list_pages(prefix) for obj in page]

    def list_pages(self, prefix: str, start_after: str | None = None) -> Iterator[builtins.list[StoredObject]]:
        base = self._file(prefix.rstrip("/"))
        if not base.is_dir():
            yield []  # one (empty) page, as an S3 listing of an empty prefix
            return
        keys = sorted(p.relative_to(self.path).as_posix() for p in base.rglob("*") if p.is_file())
        objects = []
        for key in keys:
            if start_after is not None and key <= start_after:
                continue
            file = self.path / key
            stat = file.stat()
            objects.append(
                StoredObject(
                    key=key,
                    size=stat.st_size,
                    digest=_md5(file),
                    modified_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
                )
            )
        yield objects

    def list_children(self, prefix: str) -> builtins.list[str]:
        base = self._file(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        entries = sorted(base.iterdir())
        return [f"{e.name}/" for e in entries if e.is_dir()] + [e.name for e in entries if e.is_file()]

    def read_bytes(self, key: str, max_bytes: int | None = None) -> bytes:
        with self._file(key).open("rb") as handle:
            return handle.read() if max_bytes is None else handle.read(max_bytes)

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self._file(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        temporary.write_bytes(data)
        os.replace(temporary, target)

    def move(self, source_key: str, target_key: str) -> None:
        """Copy, then delete: a crash in between leaves both copies, never none; a rerun only deletes."""
        source, target = self._file(source_key), self._file(target_key)
        if not (target.is_file() and _same_content(source, target)):
            target.parent.mkdir(parents=True, exist_ok=True)
            temporary = target.with_name(f".{target.name}.tmp")
            shutil.copy2(source, temporary)
            os.replace(temporary, target)
        source.unlink()

    def copy(self, source_key: str, target_key: str) -> None:
        target = self._file(target_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(self._file(source_key), temporary)
        os.replace(temporary, target)

    def delete(self, key: str) -> None:
        self._file(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._file(key).exists()

    def stat(self, key: str) -> StoredObject | None:
        file = self._file(key)
        if not file.is_file():
            return None
        stat = file.stat()
        return StoredObject(key, stat.st_size, _md5(file), datetime.fromtimestamp(stat.st_mtime, tz=UTC))

    def holds_copy_of(self, key: str, obj: StoredObject) -> bool:
        stored = self.stat(key)
        return stored is not None and (stored.size, stored.digest) == (obj.size, obj.digest)

    def spark_path(self, key: str) -> str:
        return str(self._file(key))


class S3Store:
    """A root at `s3://bucket/prefix`; files through boto3, tables through Spark's s3a."""

    def __init__(self, root: str, client: Any | None = None, copy_part_bytes: int = COPY_PART_BYTES) -> None:
        if not root.startswith("s3://"):
            raise ValueError(f"not an S3 root: {root!r}")
        self.root = root.rstrip("/")
        bucket, _, prefix = self.root.removeprefix("s3://").partition("/")
        self.bucket, self.prefix = bucket, prefix
        import boto3
        from boto3.s3.transfer import TransferConfig

        self.client = boto3.client("s3") if client is None else client
        self.copy_config = TransferConfig(multipart_threshold=copy_part_bytes, multipart_chunksize=copy_part_bytes)
        self.list_calls = 0  # ListObjectsV2 requests made (the sensor reports them)

    def _object_key(self, key: str) -> str:
        safe_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def list(self, prefix: str) -> list[StoredObject]:
        return [obj for page in self.list_pages(prefix) for obj in page]

    def list_pages(self, prefix: str, start_after: str | None = None) -> Iterator[builtins.list[StoredObject]]:
        """ListObjectsV2 pages (1,000 keys each); S3 returns keys in UTF-8 byte order, as `sorted` does."""
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Prefix": self._object_key(prefix.rstrip("/")) + "/"}
        if start_after is not None:
            arguments["StartAfter"] = self._object_key(start_after)
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(**arguments):
            self.list_calls += 1
            yield [
                StoredObject(
                    key=item["Key"][len(self.prefix) + 1 :] if self.prefix else item["Key"],
                    size=item["Size"],
                    digest=item["ETag"].strip('"'),
                    modified_at=item["LastModified"],
                )
                for item in page.get("Contents", [])
                if not item["Key"].endswith("/")
            ]

    def list_children(self, prefix: str) -> builtins.list[str]:
        full_prefix = self._object_key(prefix.rstrip("/")) + "/"
        folders, files = [], []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix, Delimiter="/"):
            self.list_calls += 1
            folders += [item["Prefix"][len(full_prefix) :] for item in page.get("CommonPrefixes", [])]
            files += [
                item["Key"][len(full_prefix) :] for item in page.get("Contents", []) if item["Key"] != full_prefix
            ]
        return sorted(folders) + sorted(files)

    def read_bytes(self, key: str, max_bytes: int | None = None) -> bytes:
        from botocore.exceptions import ClientError

        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self._object_key(key)}
        if max_bytes is not None:
            if max_bytes <= 0:
                return b""  # S3 ignores an invalid range and would send the whole object
            arguments["Range"] = f"bytes=0-{max_bytes - 1}"
        try:
            return self.client.get_object(**arguments)["Body"].read()
        except ClientError as error:
            # A range of an empty object is "not satisfiable" (416) on S3; a file read gives no bytes.
            if max_bytes is not None and error.response.get("Error", {}).get("Code") == "InvalidRange":
                return b""
            raise

    def write_bytes(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._object_key(key), Body=data)

    def move(self, source_key: str, target_key: str) -> None:
        """Server-side copy (multipart when large), then delete; a rerun after a crash in between only deletes.

        The copy is made only of the source version looked at (`CopySourceIfMatch`), keeps its
        headers and metadata, and records its digest under `SOURCE_DIGEST_METADATA`.
        """
        source = self._head(source_key)
        if source is None:
            raise FileNotFoundError(f"no such object: {self.root}/{source_key}")
        digest = _etag(source)
        if not _is_copy(self._head(target_key), digest, source["ContentLength"]):
            extra_args = {
                **{header: source[header] for header in COPIED_HEADERS if header in source},
                "Metadata": {**source.get("Metadata", {}), SOURCE_DIGEST_METADATA: digest},
                "MetadataDirective": "REPLACE",
                "CopySourceIfMatch": source["ETag"],
            }
            self.client.copy(
                CopySource={"Bucket": self.bucket, "Key": self._object_key(source_key)},
                Bucket=self.bucket,
                Key=self._object_key(target_key),
                ExtraArgs=extra_args,
                Config=self.copy_config,
            )
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(source_key))

    def copy(self, source_key: str, target_key: str) -> None:
        self.client.copy(
            CopySource={"Bucket": self.bucket, "Key": self._object_key(source_key)},
            Bucket=self.bucket,
            Key=self._object_key(target_key),
            Config=self.copy_config,
        )

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))

    def exists(self, key: str) -> bool:
        return self._head(key) is not None

    def stat(self, key: str) -> StoredObject | None:
        head = self._head(key)
        if head is None:
            return None
        return StoredObject(key, head["ContentLength"], _etag(head), head["LastModified"])

    def holds_copy_of(self, key: str, obj: StoredObject) -> bool:
        return _is_copy(self._head(key), obj.digest, obj.size)

    def _head(self, key: str) -> dict[str, Any] | None:
        """HeadObject, or None when there is no such object."""
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def spark_path(self, key: str) -> str:
        return f"s3a://{self.bucket}/{self._object_key(key)}"


def open_store(root: str, s3_client: Any | None = None) -> Store:
    if root.startswith("s3://"):
        return S3Store(root, s3_client)
    return LocalStore(root)


def _etag(head: dict[str, Any]) -> str:
    return head["ETag"].strip('"')


def _is_copy(head: dict[str, Any] | None, digest: str, size: int) -> bool:
    """Whether a HeadObject response is of the object with `digest`, or of a copy made of it."""
    if head is None or head["ContentLength"] != size:
        return False
    return digest in (_etag(head), head.get("Metadata", {}).get(SOURCE_DIGEST_METADATA))


def _same_content(first: Path, second: Path) -> bool:
    return first.stat().st_size == second.stat().st_size and _md5(first) == _md5(second)


def _md5(file: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
