"""The JVM jars local Spark needs beyond pyspark's own, fetched once and cached for offline use.

AWS Glue 5 ships Delta Lake and S3 access; a laptop does not. `make install` runs
`python -m lakehouse_assets.spark_jars` which copies these artifacts from Maven Central into the
cache folder with `mvn dependency:copy` (Spark's Ivy resolver needs the network at every start;
this does not). The Spark session then loads them with `spark.jars` from the cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# Versions match pyspark 3.5 (Scala 2.12, Hadoop 3.3.4) and the Glue 5 runtime (Delta 3.3).
JARS: tuple[str, ...] = (
    "io.delta:delta-spark_2.12:3.3.0",
    "io.delta:delta-storage:3.3.0",
    "org.apache.hadoop:hadoop-aws:3.3.4",
    "com.amazonaws:aws-java-sdk-bundle:1.12.262",
)


def jar_cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lakehouse" / "jars"
    return Path(os.environ.get("LAKEHOUSE_JARS_DIR", default))


def jar_file_name(coordinate: str) -> str:
    _, artifact, version = coordinate.split(":")
    return f"{artifact}-{version}.jar"


def jar_paths() -> list[Path]:
    """The cached jars; raises with the fix when one is missing."""
    paths = [jar_cache_dir() / jar_file_name(coordinate) for coordinate in JARS]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Spark jars missing from {jar_cache_dir()}: {', '.join(missing)}. Run `make install` "
            "(or `python -m lakehouse_assets.spark_jars`) once with access to Maven Central."
        )
    return paths


def fetch_jars() -> list[Path]:
    """Copy every missing jar into the cache with Maven (idempotent, offline once cached)."""
    cache = jar_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    for coordinate in JARS:
        target = cache / jar_file_name(coordinate)
        if target.is_file():
            continue
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("Maven (`mvn`) is needed once to fetch the Spark jars from Maven Central")
        print(f"fetching {coordinate} into {cache}", flush=True)
        subprocess.run(
            [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={coordinate}", f"-DoutputDirectory={cache}"],
            check=True,
        )
    return jar_paths()


if __name__ == "__main__":
    try:
        jars = fetch_jars()
    except RuntimeError as error:  # no Maven, or Maven Central out of reach: say so in one line
        print(f"lakehouse: {error}", file=sys.stderr)
        sys.exit(1)
    for path in jars:
        print(path)
    sys.exit(0)
