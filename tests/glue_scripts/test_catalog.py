"""The Glue Data Catalog entries Athena reads, registered against moto's Glue; a query through Athena.

moto (server mode, `s3_endpoint`) stores a Glue `TableInput` as given and keeps a version per
`UpdateTable`, so what is registered, whether a rerun wrote anything, and what a schema change
left behind are all observable. It does not check that Athena could read the table: that the entry
has what Athena engine v3 needs (`table_type=DELTA`, an s3:// location, `PartitionKeys` present) is
asserted on the exact input instead.

moto's Athena runs no SQL: a query succeeds after two status polls and returns results queued
beforehand through moto's own API (`/moto-api/static/athena/query-results`), written as CSV to the
query's output location. So the Athena test proves the request path of dagster-aws's
`AthenaClientResource` (workgroup, polling, reading the result CSV from S3), not the answer.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import pytest
from dagster_aws.athena import AthenaClientResource
from pyspark.sql import SparkSession
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    ByteType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from glue_scripts import catalog
from glue_scripts.contracts import ORDERS, PRODUCTS
from glue_scripts.delta_tables import ensure_table
from glue_scripts.stages import processed_schema
from tests.s3_fixtures import queue_athena_results

PARAMETERS = {
    "table_type": "DELTA",
    "classification": "delta",
    "spark.sql.sources.provider": "delta",
    "EXTERNAL": "TRUE",
}
PARQUET = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
}
SERDE = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
ORDERS_LOCATION = "s3://lakehouse-data/lakehouse/processed/orders"
ORDERS_COLUMNS = [
    {"Name": "order_num", "Type": "int"},
    {"Name": "order_id", "Type": "int"},
    {"Name": "user_id", "Type": "int"},
    {"Name": "order_timestamp", "Type": "timestamp"},
    {"Name": "total_amount", "Type": "decimal(12,2)"},
    {"Name": "source_file", "Type": "string"},
    {"Name": "source_line", "Type": "int"},
    {"Name": "run_id", "Type": "string"},
    {"Name": "processed_at", "Type": "timestamp"},
]


def test_spark_types_become_hive_type_strings() -> None:
    cases = {
        BooleanType(): "boolean",
        ByteType(): "tinyint",
        ShortType(): "smallint",
        IntegerType(): "int",
        LongType(): "bigint",
        FloatType(): "float",
        DoubleType(): "double",
        DecimalType(12, 2): "decimal(12,2)",
        StringType(): "string",
        BinaryType(): "binary",
        DateType(): "date",
        TimestampType(): "timestamp",
        TimestampNTZType(): "timestamp",
        ArrayType(StringType()): "array<string>",
        MapType(StringType(), StringType()): "map<string,string>",
        StructType([StructField("a", IntegerType()), StructField("b", ArrayType(DecimalType(5, 1)))]): (
            "struct<a:int,b:array<decimal(5,1)>>"
        ),
    }
    assert {t.simpleString(): catalog.glue_type(t) for t in cases} == {
        t.simpleString(): name for t, name in cases.items()
    }


def test_names_athena_sees() -> None:
    assert [(t.name, t.key) for t in catalog.lakehouse_tables()] == [
        ("products", "processed/products"),
        ("orders", "processed/orders"),
        ("order_items", "processed/order_items"),
        ("rejected_products", "rejected/products"),
        ("rejected_orders", "rejected/orders"),
        ("rejected_order_items", "rejected/order_items"),
        ("daily_sales", "analytics/daily_sales"),
        ("top_products", "analytics/top_products"),
    ]


def orders_input() -> dict[str, Any]:
    return catalog.table_input(
        "orders", "s3a://lakehouse-data/lakehouse/processed/orders", processed_schema(ORDERS), ["date"], "Orders."
    )


def test_table_input_of_the_processed_orders_table_on_s3() -> None:
    assert orders_input() == {
        "Name": "orders",
        "Description": "Orders.",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": PARAMETERS,
        "StorageDescriptor": {
            "Columns": ORDERS_COLUMNS,
            "Location": ORDERS_LOCATION,
            **PARQUET,
            "SerdeInfo": {
                "SerializationLibrary": SERDE,
                "Parameters": {"serialization.format": "1", "path": ORDERS_LOCATION},
            },
        },
        "PartitionKeys": [{"Name": "date", "Type": "date"}],
    }


def test_exact_table_input_of_a_small_delta_table(spark: SparkSession, tmp_path: Path) -> None:
    schema = StructType(
        [
            StructField("id", IntegerType(), False, {"comment": "Primary key."}),
            StructField("amount", DecimalType(12, 2)),
            StructField("day", DateType()),
            StructField("at", TimestampType()),
            StructField("tags", ArrayType(StringType())),
            StructField("attributes", MapType(StringType(), StringType())),
        ]
    )
    path = str(tmp_path / "small")
    ensure_table(spark, path, schema, "day")
    spark.createDataFrame(
        [(1, Decimal("1.50"), None, None, ["a"], {"k": "v"})],
        "id int, amount decimal(12,2), day date, at timestamp, tags array<string>, attributes map<string,string>",
    ).write.format("delta").mode("append").save(path)

    assert catalog.delta_table_input(spark, "small", path, "A small table.") == {
        "Name": "small",
        "Description": "A small table.",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": PARAMETERS,
        "StorageDescriptor": {
            "Columns": [
                {"Name": "id", "Type": "int", "Comment": "Primary key."},
                {"Name": "amount", "Type": "decimal(12,2)"},
                {"Name": "at", "Type": "timestamp"},
                {"Name": "tags", "Type": "array<string>"},
                {"Name": "attributes", "Type": "map<string,string>"},
            ],
            "Location": path,
            **PARQUET,
            "SerdeInfo": {"SerializationLibrary": SERDE, "Parameters": {"serialization.format": "1", "path": path}},
        },
        "PartitionKeys": [{"Name": "day", "Type": "date"}],
    }


def test_unpartitioned_tables_still_give_athena_an_empty_partition_key_list() -> None:
    table = catalog.table_input("products", "s3a://b/p/processed/products", processed_schema(PRODUCTS))
    assert table["PartitionKeys"] == []
    assert "Description" not in table
    with pytest.raises(ValueError, match="partition columns"):
        catalog.table_input("products", "s3a://b/p", processed_schema(PRODUCTS), ["date"])


# ---------------------------------------------------------------------------------------------
# against moto's Glue


class Calls:
    """The Glue operations a client sent, in order (botocore's before-call event)."""

    def __init__(self, client: Any) -> None:
        self.names: list[str] = []
        client.meta.events.register("before-call.glue", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)

    def take(self) -> list[str]:
        names, self.names = self.names, []
        return names


def test_create_then_unchanged_then_schema_change(glue: Any, database: str) -> None:
    registrar = boto3.client("glue")  # the test reads through `glue`, so only registration calls count
    calls = Calls(registrar)
    table = orders_input()

    created = catalog.register_table(registrar, database, "orders", table)
    assert (created.action, created.changes) == ("created", [])
    assert calls.take() == ["GetDatabase", "CreateDatabase", "GetTable", "CreateTable"]
    stored = glue.get_table(DatabaseName=database, Name="orders")["Table"]
    assert {key: stored[key] for key in table} == table
    assert stored["VersionId"] == "1"

    again = catalog.register_table(registrar, database, "orders", orders_input())
    assert (again.action, again.changes) == ("unchanged", [])
    assert calls.take() == ["GetDatabase", "GetTable"]  # no UpdateTable, no CreateDatabase
    assert glue.get_table(DatabaseName=database, Name="orders")["Table"]["VersionId"] == "1"

    schema = processed_schema(ORDERS)
    evolved = StructType(
        [
            StructField("total_amount", DecimalType(14, 2)) if f.name == "total_amount" else f
            for f in schema.fields
            if f.name != "order_num"
        ]
        + [StructField("channel", StringType())]
    )
    changed = catalog.table_input("orders", ORDERS_LOCATION, evolved, ["date"], "Orders.")
    updated = catalog.register_table(registrar, database, "orders", changed)
    assert updated.action == "updated"
    assert updated.changes == [
        "column added: channel string",
        "column removed: order_num",
        "column type: total_amount decimal(12,2) -> decimal(14,2)",
    ]
    assert calls.take() == ["GetDatabase", "GetTable", "UpdateTable"]
    stored = glue.get_table(DatabaseName=database, Name="orders")["Table"]
    assert stored["VersionId"] == "2"
    assert [c["Name"] for c in stored["StorageDescriptor"]["Columns"]][-1] == "channel"
    # Glue keeps the definition before the change.
    versions = glue.get_table_versions(DatabaseName=database, TableName="orders")["TableVersions"]
    by_id = {v["VersionId"]: v["Table"]["StorageDescriptor"]["Columns"] for v in versions}
    assert by_id == {"1": ORDERS_COLUMNS, "2": changed["StorageDescriptor"]["Columns"]}

    assert catalog.register_table(registrar, database, "orders", changed).action == "unchanged"
    assert calls.take() == ["GetDatabase", "GetTable"]


def test_fields_glue_adds_or_others_set_do_not_count_as_changes() -> None:
    desired = orders_input()
    stored = {
        **desired,
        "DatabaseName": "lakehouse",
        "CreateTime": "2025-04-01T00:00:00Z",
        "VersionId": "3",
        "Parameters": {**desired["Parameters"], "last_modified_by": "someone"},
        "StorageDescriptor": {**desired["StorageDescriptor"], "Compressed": False, "NumberOfBuckets": -1},
    }
    assert catalog.table_changes(stored, desired) == []
    moved = {**desired, "StorageDescriptor": {**desired["StorageDescriptor"], "Location": "s3://old/orders"}}
    assert catalog.table_changes(moved, desired) == [f"location: s3://old/orders -> {ORDERS_LOCATION}"]
    relabelled = {**desired, "Parameters": {**desired["Parameters"], "table_type": "HIVE"}}
    assert catalog.table_changes(relabelled, desired) == ["Parameters changed"]


# ---------------------------------------------------------------------------------------------
# Athena, through dagster-aws's resource


def test_query_daily_sales_through_dagster_aws_athena_resource(
    s3_endpoint: str, s3_client: Any, glue: Any, database: str
) -> None:
    bucket = f"athena-results-{uuid.uuid4().hex[:8]}"
    s3_client.create_bucket(Bucket=bucket)
    output = f"s3://{bucket}/lakehouse/_athena_results/"
    athena = boto3.client("athena")
    workgroup = f"lakehouse-{uuid.uuid4().hex[:8]}"
    # As the stack creates it: engine v3, an enforced result location.
    athena.create_work_group(
        Name=workgroup,
        Configuration={
            "ResultConfiguration": {"OutputLocation": output},
            "EnforceWorkGroupConfiguration": True,
            "EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"},
        },
    )
    daily = catalog.table_input(
        "daily_sales",
        "s3a://lakehouse-data/lakehouse/analytics/daily_sales",
        StructType(
            [
                StructField("date", DateType()),
                StructField("orders", LongType()),
                StructField("revenue", DecimalType(18, 2)),
            ]
        ),
    )
    assert catalog.register_table(glue, database, "daily_sales", daily).action == "created"
    queue_athena_results(s3_endpoint, [["date", "revenue"], ["2025-04-01", "15.01"], ["2025-04-02", "7.10"]])

    resource = AthenaClientResource(workgroup=workgroup, polling_interval=0, max_polls=5)
    client = resource.get_client()

    # moto gap: Athena puts the results of a query that names only a workgroup at the workgroup's
    # (enforced) output location; moto records no location then, and dagster-aws reads the results
    # from there. Add the workgroup's location to the request, as Athena would on its side.
    def workgroup_output(params: dict[str, Any], **_: Any) -> None:
        params.setdefault("ResultConfiguration", {"OutputLocation": output})

    client.client.meta.events.register("before-parameter-build.athena.StartQueryExecution", workgroup_output)
    sql = f"SELECT date, revenue FROM {database}.daily_sales ORDER BY date"
    assert client.execute_query(sql, fetch_results=True) == [("2025-04-01", "15.01"), ("2025-04-02", "7.10")]

    (execution_id,) = athena.list_query_executions(WorkGroup=workgroup)["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert (execution["Query"], execution["WorkGroup"], execution["Status"]["State"]) == (sql, workgroup, "SUCCEEDED")
    assert execution["ResultConfiguration"]["OutputLocation"] == f"{output}{execution_id}.csv"
    body = s3_client.get_object(Bucket=bucket, Key=f"lakehouse/_athena_results/{execution_id}.csv")["Body"].read()
    assert body.decode().splitlines() == ['"date","revenue"', '"2025-04-01","15.01"', '"2025-04-02","7.10"']
    # The table the query names is in the catalog as a Delta table at its s3:// location.
    stored = glue.get_table(DatabaseName=database, Name="daily_sales")["Table"]
    assert (stored["Parameters"]["table_type"], stored["StorageDescriptor"]["Location"]) == (
        "DELTA",
        "s3://lakehouse-data/lakehouse/analytics/daily_sales",
    )
