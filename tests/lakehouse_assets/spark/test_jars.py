"""The jars local Spark loads, and Delta's DynamoDB log store built from its upstream sources."""

from __future__ import annotations

import hashlib
import zipfile

from lakehouse_assets.spark.jars import DYNAMODB_LOG_STORE, JARS, SOURCES, jar_path

# SHA-256 of delta-io/delta v3.3.0 storage-s3-dynamodb/src/main/java (third_party/delta-storage-s3-dynamodb).
UPSTREAM_SOURCES = {
    "io/delta/storage/BaseExternalLogStore.java": "da902c7463168abd203f61fd1357c9641f41c3043d5757f20a291871e4f56706",
    "io/delta/storage/ExternalCommitEntry.java": "bbf4cbeac9fbdeca933f38f68ab6104705a7b7f1d2b231d960044401ea4dbd46",
    "io/delta/storage/RetryableCloseableIterator.java": (
        "09ccac8260714c3f91333be59000d4be9a92dbd59c0cf619a5ec56af3d66afa6"
    ),
    "io/delta/storage/S3DynamoDBLogStore.java": "a982e6d61b6f4b3d952530a3c88d214233d9ed7c6c573cdb2b85368f832fa898",
    "io/delta/storage/utils/ReflectionUtils.java": "41d24b445b7546243f762409a7f9134eca11a30b1592542ce9486a7937b1f5d2",
    "io/delta/storage/utils/ThrowingSupplier.java": "136ccdd5c4bddfabf14ff9decf94c55d26bb9e1571c519441faaeb75402572f4",
}


def test_the_log_store_matches_delta_spark_and_comes_last() -> None:
    assert DYNAMODB_LOG_STORE == "io.delta:delta-storage-s3-dynamodb:3.3.0"
    assert "io.delta:delta-spark_2.12:3.3.0" in JARS
    assert JARS[-1] == DYNAMODB_LOG_STORE  # built from source, it needs the jars before it


def test_the_kept_sources_are_upstream_s_unchanged() -> None:
    root = SOURCES[DYNAMODB_LOG_STORE]
    found = {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*.java")
    }
    assert found == UPSTREAM_SOURCES


def test_the_cached_jar_has_the_log_store_classes() -> None:
    names = set(zipfile.ZipFile(jar_path(DYNAMODB_LOG_STORE)).namelist())
    assert {"io/delta/storage/S3DynamoDBLogStore.class", "io/delta/storage/BaseExternalLogStore.class"} <= names
