"""`lakehouse query`: read-only SQL over the tables, locally with Spark or through Athena in AWS mode."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from glue_scripts.jvm import is_command, parsed_plan
from glue_scripts.storage import open_store
from lakehouse_assets.cli.errors import UserError
from lakehouse_assets.cli.root import reach_root

if TYPE_CHECKING:
    from pyspark.errors import AnalysisException


def athena_query(sql: str, limit: int) -> int:
    """The `aws` environment (`resources.environment_name`): the query goes to Athena (`cli.athena`)."""
    from lakehouse_assets.cli.athena import AthenaQueryError, athena_rows

    try:
        columns, rows = athena_rows(sql, limit)
    except AthenaQueryError as error:
        raise UserError(str(error)) from error
    print_rows(columns, rows, limit)
    return 0


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], limit: int) -> None:
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join("" if value is None else str(value) for value in row))
    print(f"({len(rows)} row{'s' if len(rows) != 1 else ''}{', limited' if len(rows) == limit else ''})")


def refused_statement(spark: Any, sql: str) -> str | None:
    """What in `sql` would change something (a write, DDL, a Delta command, a setting), or None for a query.

    `spark.sql` runs commands eagerly, so the statement is parsed first (Spark's parser with Delta's
    extension: `VACUUM`, `OPTIMIZE` ... are recognised) and every node of the parsed plan is looked
    at: any command (`DELETE`, `UPDATE`, `MERGE`, `CREATE`, `DROP`, `SET` ...) or insert statement,
    also one inside a `WITH`, is refused before anything runs.
    """
    pending = [parsed_plan(spark, sql)]
    while pending:
        node = pending.pop()
        name = node.getClass().getSimpleName()
        if is_command(spark, node) or name.endswith("Statement") or name.startswith("InsertInto"):
            return name.removesuffix("Statement").removesuffix("Command") or name
        children = node.children()
        pending.extend(children.apply(i) for i in range(children.size()))
    return None


def query_problem(error: AnalysisException, views: Sequence[str]) -> str:
    """Spark's error in one line: the parser's message with its position, the analyzer's first line (no plan).

    An unknown table is named with the position and the tables there are (the views registered).
    """
    text = str(error)
    if error.getErrorClass() == "TABLE_OR_VIEW_NOT_FOUND":
        name = (error.getMessageParameters() or {}).get("relationName", "?")
        position = re.search(r"; (line \d+ pos \d+)", text)
        where = f" ({position.group(1)})" if position else ""
        return f"no table {name}{where}; the tables are: {', '.join(views)}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[0].rstrip(";") if lines else type(error).__name__


def query(sql: str, limit: int, lakehouse_root: str) -> int:
    """Run SQL over read-only views of the lakehouse tables, by the names Athena sees in Glue.

    `products`, `orders`, `order_items` (processed), `rejected_<dataset>`, `daily_sales` and
    `top_products` (`glue_scripts.catalog.lakehouse_tables`): temporary views over each Delta table's
    current snapshot, so the same SQL runs here and in Athena. The processed tables must exist; the
    others are there once a run made them. Also `file_loads`, the file ledger of every data set (one
    row per stage a file version reached; local only, not registered in Glue).
    """
    from pyspark.errors import AnalysisException

    from glue_scripts.catalog import lakehouse_tables
    from glue_scripts.delta_tables import read_table, table_exists
    from glue_scripts.file_fates import FILE_LEDGER_VIEW, existing_ledgers
    from glue_scripts.storage import PROCESSED
    from lakehouse_assets.spark.config import local_spark_session

    reach_root(lakehouse_root, PROCESSED)
    store = open_store(lakehouse_root)
    spark = local_spark_session()
    views: list[str] = []
    try:
        if refused := refused_statement(spark, sql):
            message = f"lakehouse query runs queries only; {refused} is refused (the tables are read-only here)"
            print(message, file=sys.stderr)
            return 2
        for table in lakehouse_tables():
            path = store.spark_path(table.key)
            if not table_exists(spark, path):
                if table.key.startswith(f"{PROCESSED}/"):
                    raise FileNotFoundError(f"no {table.key} table under {store.root}: run `lakehouse run` first")
                continue
            read_table(spark, path).createOrReplaceTempView(table.name)
            views.append(table.name)
        if (ledgers := existing_ledgers(spark, store)) is not None:
            ledgers.createOrReplaceTempView(FILE_LEDGER_VIEW)
            views.append(FILE_LEDGER_VIEW)
        frame = spark.sql(sql)
        rows = frame.limit(limit).collect()
    except AnalysisException as error:  # ParseException is one too
        raise UserError(query_problem(error, views)) from error
    print_rows(frame.columns, rows, limit)
    return 0
