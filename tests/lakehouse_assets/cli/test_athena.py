"""`lakehouse query` in AWS mode goes to Athena (moto's: it runs no SQL and answers with queued rows)."""

from __future__ import annotations

import uuid
from typing import Any

import boto3
import pytest

from lakehouse_assets import cli
from lakehouse_assets.cli.athena import AthenaQueryError, first_keyword, workgroup
from tests.s3_fixtures import queue_athena_results


@pytest.mark.parametrize(
    ("sql", "keyword"),
    [
        ("select 1", "SELECT"),
        ("  -- totals\n WITH t AS (SELECT 1) SELECT * FROM t", "WITH"),
        ("/* a\n comment */ (SELECT 1)", "SELECT"),
        ("DROP TABLE orders", "DROP"),
        ("", ""),
    ],
)
def test_the_first_keyword_decides_what_is_sent(sql: str, keyword: str) -> None:
    assert first_keyword(sql) == keyword


def test_the_workgroup_is_named_or_the_stacks() -> None:
    assert workgroup({"LAKEHOUSE_STACK": "prod"}) == "prod-lakehouse"
    assert workgroup({"LAKEHOUSE_STACK": "prod", "LAKEHOUSE_ATHENA_WORKGROUP": "analysts"}) == "analysts"
    with pytest.raises(AthenaQueryError, match="set LAKEHOUSE_ATHENA_WORKGROUP or LAKEHOUSE_STACK"):
        workgroup({})


def test_in_aws_mode_the_query_goes_to_athena_in_the_stacks_workgroup(
    s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    athena: Any = boto3.client("athena")
    stack = f"lakehouse-{uuid.uuid4().hex[:8]}"
    athena.create_work_group(
        Name=f"{stack}-lakehouse",
        Configuration={"EngineVersion": {"SelectedEngineVersion": "Athena engine version 3"}},
    )
    for name, value in {
        "LAKEHOUSE_EXECUTION": "glue",
        "LAKEHOUSE_STACK": stack,
        "LAKEHOUSE_ROOT": "s3://lakehouse-data/lakehouse",
        "LAKEHOUSE_GLUE_DATABASE": "lakehouse_prod",
    }.items():
        monkeypatch.setenv(name, value)
    queue_athena_results(s3_endpoint, [["date", "revenue"], ["2025-04-01", "15.01"], ["2025-04-02", "7.10"]])
    sql = "SELECT date, revenue FROM daily_sales ORDER BY date"

    assert cli.main(["query", sql]) == 0
    assert capsys.readouterr().out == "date | revenue\n2025-04-01 | 15.01\n2025-04-02 | 7.10\n(2 rows)\n"
    (execution_id,) = athena.list_query_executions(WorkGroup=f"{stack}-lakehouse")["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=execution_id)["QueryExecution"]
    assert (execution["Query"], execution["QueryExecutionContext"]["Database"]) == (sql, "lakehouse_prod")

    # Anything but a query is refused before Athena sees it.
    assert cli.main(["query", "DROP TABLE orders"]) == 2
    assert capsys.readouterr().err == "lakehouse query: only queries go to Athena; DROP is refused\n"
    assert len(athena.list_query_executions(WorkGroup=f"{stack}-lakehouse")["QueryExecutionIds"]) == 1
