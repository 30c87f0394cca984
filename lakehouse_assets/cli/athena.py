"""`lakehouse query` in AWS mode: the SQL goes to Athena, over the tables the catalog registered in Glue.

In the `aws` environment (`LAKEHOUSE_ENV=aws`, or `LAKEHOUSE_EXECUTION=glue|emr_serverless`) the Dagster
host has no JVM, and the tables are
registered in the Glue database anyway: Athena answers, in the stack's workgroup
(`LAKEHOUSE_ATHENA_WORKGROUP`, default `<LAKEHOUSE_STACK>-lakehouse`) with the database as the query's
context (`LAKEHOUSE_GLUE_DATABASE`, default `lakehouse`), so the same SQL runs here and locally
(`FROM daily_sales`). Only queries are sent (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN, VALUES).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import Any

import boto3

from glue_scripts.catalog import DEFAULT_DATABASE

QUERY_STATEMENTS = ("SELECT", "WITH", "SHOW", "DESCRIBE", "EXPLAIN", "VALUES")
DONE_STATES = ("SUCCEEDED", "FAILED", "CANCELLED")


class AthenaQueryError(Exception):
    """A query Athena refused or failed (its reason), or a statement that is not a query."""


def workgroup(environ: Mapping[str, str]) -> str:
    if name := environ.get("LAKEHOUSE_ATHENA_WORKGROUP"):
        return name
    if stack := environ.get("LAKEHOUSE_STACK"):
        return f"{stack}-lakehouse"
    raise AthenaQueryError("in AWS mode the query goes to Athena: set LAKEHOUSE_ATHENA_WORKGROUP or LAKEHOUSE_STACK")


def first_keyword(sql: str) -> str:
    """The statement's first word, after comments and opening parentheses."""
    text = re.sub(r"--[^\n]*|/\*.*?\*/", " ", sql, flags=re.S).lstrip(" \t\r\n(")
    match = re.match(r"\w+", text)
    return match.group(0).upper() if match else ""


def athena_rows(
    sql: str, limit: int, client: Any = None, environ: Mapping[str, str] | None = None, poll: float = 0.5
) -> tuple[list[str], list[list[str | None]]]:
    """Run `sql` in Athena and return its column names and at most `limit` rows (strings, None for null)."""
    environ = os.environ if environ is None else environ
    keyword = first_keyword(sql)
    if keyword not in QUERY_STATEMENTS:
        raise AthenaQueryError(f"only queries go to Athena; {keyword or 'an empty statement'} is refused")
    client = client or boto3.client("athena")
    execution_id = client.start_query_execution(
        QueryString=sql,
        WorkGroup=workgroup(environ),
        QueryExecutionContext={"Database": environ.get("LAKEHOUSE_GLUE_DATABASE", DEFAULT_DATABASE)},
    )["QueryExecutionId"]
    while True:
        status = client.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]["Status"]
        if status["State"] in DONE_STATES:
            break
        time.sleep(poll)
    if status["State"] != "SUCCEEDED":
        raise AthenaQueryError(f"Athena: {status['State']}: {status.get('StateChangeReason', 'no reason given')}")
    page = client.get_query_results(QueryExecutionId=execution_id, MaxResults=min(limit + 1, 1000))
    columns = [column["Name"] for column in page["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]]
    rows = [[cell.get("VarCharValue") for cell in row["Data"]] for row in page["ResultSet"]["Rows"]]
    if rows and rows[0] == columns:  # a SELECT's first row is its header
        rows = rows[1:]
    return columns, rows[:limit]
