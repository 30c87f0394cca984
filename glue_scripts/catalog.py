"""Registering the lakehouse's Delta tables in the Glue Data Catalog, so Athena engine v3 can query them.

Athena reads a Delta table registered in Glue through the table's own transaction log, so a commit is
visible to the next query with no crawler, manifest or Glue partition. `register_table` still writes
the columns and partition keys, and calls `UpdateTable` only when they differ from the Delta log
(docs/ARCHITECTURE.md, "Registering tables in Glue"). The Athena names are the ones `lakehouse query`
uses. No Dagster import: the Glue catalog job runs this module as it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from py4j.protocol import Py4JError
from pyspark.sql import SparkSession
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from glue_scripts.analytics import ANALYTICS, ANALYTICS_TABLES
from glue_scripts.contracts import CONTRACTS
from glue_scripts.jvm import delta_log_metadata
from glue_scripts.storage import PROCESSED, REJECTED, Store, table_key

EXTERNAL_TABLE = "EXTERNAL_TABLE"
# What Athena, Spark on Glue/EMR and Glue's own tools look for on a native Delta table.
DELTA_TABLE_PARAMETERS = {
    "table_type": "DELTA",  # Athena engine v3: read the Delta log at Location
    "classification": "delta",  # Glue console and crawlers: the data format
    "spark.sql.sources.provider": "delta",  # Spark with the Glue catalog: a Delta data source table
    "EXTERNAL": "TRUE",  # Hive: dropping the table leaves the data alone
}
# Hive-compatible storage (Delta data files are Parquet); engines that read the log ignore it, and
# Spark finds the table's root in the SerDe's `path` parameter.
PARQUET_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
PARQUET_OUTPUT_FORMAT = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
PARQUET_SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"

DEFAULT_DATABASE = "lakehouse"

_PRIMITIVE_TYPES: dict[type[DataType], str] = {
    BooleanType: "boolean",
    ByteType: "tinyint",
    ShortType: "smallint",
    IntegerType: "int",
    LongType: "bigint",
    FloatType: "float",
    DoubleType: "double",
    StringType: "string",
    BinaryType: "binary",
    DateType: "date",
    TimestampType: "timestamp",
    # Hive has one timestamp type; Athena reads Delta's timestamp_ntz as a timestamp without zone.
    TimestampNTZType: "timestamp",
}


def glue_type(data_type: DataType) -> str:
    """The Hive/Glue type string of a Spark type (`decimal(12,2)`, `array<string>`, `struct<a:int>`)."""
    for spark_type, name in _PRIMITIVE_TYPES.items():
        if type(data_type) is spark_type:
            return name
    if isinstance(data_type, DecimalType):
        return f"decimal({data_type.precision},{data_type.scale})"
    if isinstance(data_type, ArrayType):
        return f"array<{glue_type(data_type.elementType)}>"
    if isinstance(data_type, MapType):
        return f"map<{glue_type(data_type.keyType)},{glue_type(data_type.valueType)}>"
    if isinstance(data_type, StructType):
        return "struct<" + ",".join(f"{f.name}:{glue_type(f.dataType)}" for f in data_type.fields) + ">"
    raise ValueError(f"no Glue type for Spark type {data_type.simpleString()}")


def glue_location(path: str) -> str:
    """The location as Glue and Athena name it: `s3://`, not Hadoop's `s3a://` (a local path stays as it is)."""
    for scheme in ("s3a://", "s3n://"):
        if path.startswith(scheme):
            return "s3://" + path.removeprefix(scheme)
    return path


def _column(name: str, data_type: DataType, comment: str | None) -> dict[str, str]:
    column = {"Name": name, "Type": glue_type(data_type)}
    if comment:
        column["Comment"] = comment
    return column


def table_input(
    name: str,
    location: str,
    schema: StructType,
    partition_columns: Sequence[str] = (),
    description: str = "",
) -> dict[str, Any]:
    """The exact Glue `TableInput` of a native Delta table at `location` with this schema.

    Column comments come from the Delta schema (`comment` in a field's metadata). `PartitionKeys` is
    always present, empty when unpartitioned: Athena expects the list.
    """
    fields = {f.name: f for f in schema.fields}
    missing = [c for c in partition_columns if c not in fields]
    if missing:
        raise ValueError(f"{name}: partition columns {missing} are not in the schema")
    location = glue_location(location)
    columns = [
        _column(f.name, f.dataType, f.metadata.get("comment")) for f in schema.fields if f.name not in partition_columns
    ]
    partition_keys = [_column(c, fields[c].dataType, fields[c].metadata.get("comment")) for c in partition_columns]
    result: dict[str, Any] = {"Name": name}
    if description:
        result["Description"] = description
    result.update(
        {
            "TableType": EXTERNAL_TABLE,
            "Parameters": dict(DELTA_TABLE_PARAMETERS),
            "StorageDescriptor": {
                "Columns": columns,
                "Location": location,
                "InputFormat": PARQUET_INPUT_FORMAT,
                "OutputFormat": PARQUET_OUTPUT_FORMAT,
                "SerdeInfo": {
                    "SerializationLibrary": PARQUET_SERDE,
                    "Parameters": {"serialization.format": "1", "path": location},
                },
            },
            "PartitionKeys": partition_keys,
        }
    )
    return result


def delta_table_input(spark: SparkSession, name: str, path: str, description: str = "") -> dict[str, Any]:
    """`table_input` for the Delta table at `path`, its schema and partitioning read from its log."""
    schema, partition_columns = delta_schema(spark, path)
    return table_input(name, path, schema, partition_columns, description)


def delta_schema(spark: SparkSession, path: str) -> tuple[StructType, list[str]]:
    """The table's schema and partition columns: from Delta's log cache, or (another Delta release)
    from `DESCRIBE DETAIL`, which costs two Spark jobs per table."""
    try:
        metadata = delta_log_metadata(spark, path)
        return StructType.fromJson(json.loads(metadata["schemaString"])), list(metadata["partitionColumns"])
    except Py4JError:
        from delta.tables import DeltaTable

        table = DeltaTable.forPath(spark, path)
        detail = table.detail().select("partitionColumns").first()
        assert detail is not None  # DESCRIBE DETAIL is one row
        return table.toDF().schema, list(detail[0])


# ---------------------------------------------------------------------------------------------
# which tables, by which names


@dataclass(frozen=True)
class CatalogTable:
    """A lakehouse table as Athena sees it: `name` in the database, `key` under the root."""

    name: str
    key: str
    description: str


def catalog_name(zone: str, dataset: str) -> str:
    """The Athena/Glue name of `<zone>/<dataset>` (lowercase, no slash)."""
    if zone == REJECTED:
        return f"rejected_{dataset}"
    return dataset


def lakehouse_tables() -> list[CatalogTable]:
    """Every table Athena users get: processed/*, rejected/*, analytics/* (not raw or the ledger)."""
    tables = [
        CatalogTable(catalog_name(PROCESSED, c.name), table_key(PROCESSED, c.name), c.description)
        for c in CONTRACTS.values()
    ]
    tables += [
        CatalogTable(
            catalog_name(REJECTED, c.name),
            table_key(REJECTED, c.name),
            f"Rejected {c.name} rows: raw values as text, every reason in reject_reasons, lineage.",
        )
        for c in CONTRACTS.values()
    ]
    tables += [
        CatalogTable(catalog_name(ANALYTICS, t.name), table_key(ANALYTICS, t.name), t.description)
        for t in ANALYTICS_TABLES.values()
    ]
    return tables


def lakehouse_table_inputs(spark: SparkSession, store: Store) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The `TableInput` of every lakehouse table that exists, by name; and the names not there yet."""
    from glue_scripts.delta_tables import table_exists

    inputs, missing = {}, []
    for table in lakehouse_tables():
        path = store.spark_path(table.key)
        if table_exists(spark, path):
            inputs[table.name] = delta_table_input(spark, table.name, path, table.description)
        else:
            missing.append(table.name)
    return inputs, missing


# ---------------------------------------------------------------------------------------------
# registration

CREATED, UPDATED, UNCHANGED = "created", "updated", "unchanged"


@dataclass
class Registration:
    """What `register_table` did: `created`, `updated` (with what changed) or `unchanged`."""

    name: str
    action: str
    changes: list[str] = field(default_factory=list)


def _error_code(error: Exception) -> str | None:
    return getattr(error, "response", {}).get("Error", {}).get("Code")


def ensure_database(glue: Any, database: str, description: str = "Lakehouse tables for Athena.") -> bool:
    """Create the Glue database unless it exists; True when created.

    On AWS the stack creates it, so the jobs' role only needs `glue:GetDatabase`; `CreateDatabase`
    is reached where nothing made it (a fresh account, moto).
    """
    try:
        glue.get_database(Name=database)
        return False
    except Exception as error:
        if _error_code(error) != "EntityNotFoundException":
            raise
    try:
        glue.create_database(DatabaseInput={"Name": database, "Description": description})
    except Exception as error:
        if _error_code(error) != "AlreadyExistsException":  # created meanwhile: fine
            raise
        return False
    return True


def _as_stored(existing: Any, desired: Any) -> Any:
    """`existing` reduced to the shape of `desired`: fields Glue adds (CreateTime, VersionId, defaults
    like `Compressed`) or others set (extra parameters) are not ours to compare."""
    if isinstance(desired, dict):
        if not isinstance(existing, dict):
            return existing
        return {key: _as_stored(existing.get(key), value) for key, value in desired.items()}
    if isinstance(desired, list):
        if not isinstance(existing, list) or len(existing) != len(desired):
            return existing
        return [_as_stored(e, d) for e, d in zip(existing, desired, strict=True)]
    return existing


def _column_changes(kind: str, before: list[dict[str, Any]] | None, after: list[dict[str, Any]]) -> list[str]:
    old = {c["Name"]: c.get("Type") for c in before or []}
    new = {c["Name"]: c["Type"] for c in after}
    changes = [f"{kind} added: {name} {new[name]}" for name in new if name not in old]
    changes += [f"{kind} removed: {name}" for name in old if name not in new]
    changes += [
        f"{kind} type: {name} {old[name]} -> {new[name]}" for name in new if old.get(name, new[name]) != new[name]
    ]
    if not changes and [c["Name"] for c in before or []] != list(new):
        changes.append(f"{kind} reordered")
    return changes


def table_changes(existing: Mapping[str, Any], desired: Mapping[str, Any]) -> list[str]:
    """What differs between the table Glue holds and the desired `TableInput` (empty: nothing)."""
    stored = _as_stored(dict(existing), dict(desired))
    if stored == desired:
        return []
    changes: list[str] = []
    stored_sd, desired_sd = stored.get("StorageDescriptor") or {}, desired["StorageDescriptor"]
    if stored_sd.get("Columns") != desired_sd["Columns"]:
        changes += _column_changes("column", stored_sd.get("Columns"), desired_sd["Columns"]) or ["column comments"]
    if stored.get("PartitionKeys") != desired["PartitionKeys"]:
        changes += _column_changes("partition key", stored.get("PartitionKeys"), desired["PartitionKeys"]) or [
            "partition key comments"
        ]
    if stored_sd.get("Location") != desired_sd["Location"]:
        changes.append(f"location: {stored_sd.get('Location')} -> {desired_sd['Location']}")
    described = {"StorageDescriptor", "PartitionKeys"}
    changes += [f"{key} changed" for key in desired if key not in described and stored.get(key) != desired[key]]
    other_sd = [k for k in desired_sd if k not in ("Columns", "Location") and stored_sd.get(k) != desired_sd[k]]
    changes += [f"StorageDescriptor.{key} changed" for key in other_sd]
    return changes


def register_table(glue: Any, database: str, name: str, table_input: Mapping[str, Any]) -> Registration:
    """Create the table, or update it when it differs from `table_input`; no call that changes anything
    when it is already so. The database is created if missing. `table_input` replaces the whole
    definition on update: these tables are the lakehouse's own."""
    if table_input.get("Name", name) != name:
        raise ValueError(f"table input is named {table_input['Name']!r}, not {name!r}")
    desired = {**table_input, "Name": name}
    ensure_database(glue, database)
    try:
        existing = glue.get_table(DatabaseName=database, Name=name)["Table"]
    except Exception as error:
        if _error_code(error) != "EntityNotFoundException":
            raise
        existing = None
    if existing is None:
        try:
            glue.create_table(DatabaseName=database, TableInput=desired)
            return Registration(name, CREATED)
        except Exception as error:
            if _error_code(error) != "AlreadyExistsException":
                raise
            existing = glue.get_table(DatabaseName=database, Name=name)["Table"]  # created meanwhile
    changes = table_changes(existing, desired)
    if not changes:
        return Registration(name, UNCHANGED)
    glue.update_table(DatabaseName=database, TableInput=desired)
    return Registration(name, UPDATED, changes)


def register_tables(glue: Any, database: str, inputs: Mapping[str, Mapping[str, Any]]) -> list[Registration]:
    """`register_table` for each `name -> TableInput`, in the order given."""
    return [register_table(glue, database, name, table) for name, table in inputs.items()]
