"""A few driver-side rows (ledger entries, workbook cells) as a DataFrame, without a Python worker.

`spark.createDataFrame(list_of_rows)` ships the rows through a Python RDD: every such frame forks a
Python worker when it is evaluated, which costs about a second per call on a small machine, and the
ledger writes one such frame per stage. Here the rows travel as JSON lines in a single Py4J call
and are parsed inside the JVM against the declared schema (timestamps as ISO-8601 text, read in
the session time zone, UTC), so the frame is a plain JVM plan like any table read.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.types import StructType

from glue_scripts.jvm import json_lines_frame


def _json_value(value: Any) -> Any:
    """Values JSON cannot hold as they are: times as ISO-8601 text, decimals as exact text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def rows_frame(spark: SparkSession, rows: Iterable[Sequence[Any]], schema: StructType) -> DataFrame:
    """`rows` (tuples in `schema`'s field order) as a DataFrame with exactly `schema`'s names and types.

    Every field comes back nullable (JSON has no NOT NULL); Delta still enforces a table's own
    NOT NULL columns when the frame is written.
    """
    names = schema.fieldNames()
    lines = [json.dumps(dict(zip(names, map(_json_value, row), strict=True))) for row in rows]
    return json_lines_frame(spark, lines, schema)
