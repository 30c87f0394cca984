"""The JVM jars local Spark needs beyond pyspark's own, fetched once and cached for offline use.

AWS Glue 5 ships Delta Lake and S3 access; a laptop does not. `make install` runs
`python -m lakehouse_assets.spark.jars` which copies these artifacts from Maven Central into the
cache folder with `mvn dependency:copy` (Spark's Ivy resolver needs the network at every start;
this does not). The Spark session then loads them with `spark.jars` from the cache.

One jar, Delta's DynamoDB log store, is not served by the Maven mirror this project's machines
reach; when Maven cannot provide it, it is compiled from the upstream 3.3.0 sources kept unchanged
in `third_party/delta-storage-s3-dynamodb` (see its README) into the same cache path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
# Delta's log store for several writers on S3 (lakehouse_assets/spark/delta_conf.py); deploy ships it to Glue.
DYNAMODB_LOG_STORE = "io.delta:delta-storage-s3-dynamodb:3.3.0"
# Versions match pyspark 3.5 (Scala 2.12, Hadoop 3.3.4) and the Glue 5 runtime (Delta 3.3). The log
# store comes last: building it from source needs the ones before it.
JARS: tuple[str, ...] = (
    "io.delta:delta-spark_2.12:3.3.0",
    "io.delta:delta-storage:3.3.0",
    "org.apache.hadoop:hadoop-aws:3.3.4",
    "com.amazonaws:aws-java-sdk-bundle:1.12.262",
    DYNAMODB_LOG_STORE,
)
# Jars that can be compiled from upstream sources kept in the repository, when Maven does not serve them.
SOURCES = {DYNAMODB_LOG_STORE: REPO / "third_party" / "delta-storage-s3-dynamodb" / "src" / "main" / "java"}


def jar_cache_dir() -> Path:
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lakehouse" / "jars"
    return Path(os.environ.get("LAKEHOUSE_JARS_DIR", default))


def jar_file_name(coordinate: str) -> str:
    _, artifact, version = coordinate.split(":")
    return f"{artifact}-{version}.jar"


def jar_path(coordinate: str) -> Path:
    return jar_cache_dir() / jar_file_name(coordinate)


def jar_paths() -> list[Path]:
    """The cached jars; raises with the fix when one is missing."""
    paths = [jar_path(coordinate) for coordinate in JARS]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"Spark jars missing from {jar_cache_dir()}: {', '.join(missing)}. Run `make install` "
            "(or `python -m lakehouse_assets.spark.jars`) once with access to Maven Central."
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
        command = [mvn, "-q", "-B", "dependency:copy", f"-Dartifact={coordinate}", f"-DoutputDirectory={cache}"]
        if coordinate not in SOURCES:
            subprocess.run(command, check=True)
        elif subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
            print(f"Maven does not serve {coordinate}: building it from {SOURCES[coordinate]}", flush=True)
            build_from_source(SOURCES[coordinate], target)
    return jar_paths()


def build_from_source(sources: Path, target: Path) -> None:
    """Compile `sources` into the jar `target`, against the cached jars and pyspark's own (Hadoop, SLF4J, ...)."""
    import pyspark

    javac, jar = shutil.which("javac"), shutil.which("jar")
    if javac is None or jar is None:
        raise RuntimeError(f"a JDK (`javac`, `jar`) is needed once to build {target.name}")
    pyspark_jars = Path(pyspark.__file__).parent / "jars"
    classpath = [str(path) for path in sorted(jar_cache_dir().glob("*.jar")) if path != target]
    classpath.append(f"{pyspark_jars}/*")
    with tempfile.TemporaryDirectory() as classes:
        files = sorted(str(path) for path in sources.rglob("*.java"))
        compile_command = [javac, "-nowarn", "--release", "8", "-d", classes, "-cp", os.pathsep.join(classpath)]
        compiled = subprocess.run([*compile_command, *files], capture_output=True, text=True)
        if compiled.returncode != 0:  # javac's notes (deprecated API) are not worth printing otherwise
            raise RuntimeError(f"could not build {target.name}:\n{compiled.stderr}")
        partial = target.with_suffix(".jar.partial")
        subprocess.run([jar, "--create", "--file", str(partial), "-C", classes, "."], check=True)
        partial.replace(target)


if __name__ == "__main__":
    try:
        jars = fetch_jars()
    except RuntimeError as error:  # no Maven, or Maven Central out of reach: say so in one line
        print(f"lakehouse: {error}", file=sys.stderr)
        sys.exit(1)
    for path in jars:
        print(path)
    sys.exit(0)
