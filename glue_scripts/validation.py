"""Casting and validating raw rows, and every rule that rejects one.

Each rule is a DataFrame -> DataFrame function that appends reason codes to the array column
`reject_reasons`, so a row collects every reason that applies instead of the first one. The raw text
keeps the contract's column names and the cast values sit beside it in the struct column `typed`, so a
rejected row is written as it landed and an accepted one with its typed values. The stages call
`validate_rows`, `check_references`, `mark_duplicates`, `mark_stale` in that order (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from glue_scripts.contracts import (
    LATE_PARENT_REASONS,
    RAW_RECORD,
    REJECT_REASONS,
    SOURCE_FILE,
    SOURCE_LINE,
    Column,
    DatasetContract,
)

TYPED = "typed"
# What the CSV reader puts where a file's bytes are not UTF-8 (Java's decoder replaces them).
REPLACEMENT_CHARACTER = "\ufffd"

# What a value must look like before it is cast (a cast alone is too lenient: "1.9" -> 1).
PATTERNS: dict[str, str] = {
    "int": r"^[+-]?[0-9]+$",
    "decimal": r"^[+-]?[0-9]{1,10}(\.[0-9]{1,2})?$",
    "timestamp": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?$",
    "date": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
}


def text_sql(name: str) -> str:
    """SQL for a raw value with surrounding white space removed; empty text becomes null."""
    return f"nullif(trim(`{name}`), '')"


def text(name: str) -> SparkColumn:
    return F.expr(text_sql(name))


def cast_value(column: Column) -> SparkColumn:
    """The typed value, or null when the text is empty, malformed, impossible or out of range.

    `try_cast` (null instead of an error, whatever the ANSI setting) after a pattern check: a
    cast alone is too lenient ("1.9" -> 1 as int) and a pattern alone misses impossible values
    such as 2025-02-30 or an int overflow.
    """
    value_sql = text_sql(column.name)
    if column.type == "string":
        return F.expr(value_sql)
    if column.type == "timestamp":
        value_sql = f"replace({value_sql}, 'T', ' ')"
    typed = F.expr(f"try_cast({value_sql} as {column.spark_type})")
    accepted = text(column.name).rlike(PATTERNS[column.type])
    if column.min_value is not None:
        accepted = accepted & (typed >= F.lit(column.min_value))
    if column.allowed_values is not None:
        accepted = accepted & typed.isin(*column.allowed_values)
    return F.when(accepted, typed)


def add_reasons(df: DataFrame, *reasons: SparkColumn) -> DataFrame:
    """Append each reason (a nullable string column: null = does not apply) to `reject_reasons`."""
    current = F.col(REJECT_REASONS) if REJECT_REASONS in df.columns else F.array().cast("array<string>")
    return df.withColumn(REJECT_REASONS, F.array_compact(F.concat(current, F.array(*reasons))))


def is_clean() -> SparkColumn:
    return F.size(REJECT_REASONS) == 0


def is_waiting() -> SparkColumn:
    """Rejected only because a parent has not arrived (yet): waiting, not rejected (`LATE_PARENT_REASONS`)."""
    late = F.array(*[F.lit(reason) for reason in sorted(LATE_PARENT_REASONS)])
    return (F.size(REJECT_REASONS) > 0) & (F.size(F.array_except(REJECT_REASONS, late)) == 0)


def typed(name: str) -> SparkColumn:
    return F.col(f"{TYPED}.`{name}`")


def text_columns(contract: DatasetContract) -> list[str]:
    """The landed text a row carries into validation: its contract values and a malformed line's text.

    Unknown columns stay in raw (`extra_fields`) and are never processed, so they are not checked.
    """
    return [*contract.column_names, RAW_RECORD]


def not_utf8(contract: DatasetContract) -> SparkColumn:
    """A value (or a malformed line's text) holds U+FFFD: bytes that were not UTF-8.

    Only the header is decoded strictly before Spark reads a file (an undecodable header
    quarantines it); the body is decoded by Spark, which replaces invalid bytes with U+FFFD. Such
    a row is rejected rather than merged with a silently altered value. A U+FFFD that was really
    in the file is rejected too: it is itself the trace of an earlier broken conversion.
    """
    found = [F.coalesce(F.col(name).contains(REPLACEMENT_CHARACTER), F.lit(False)) for name in text_columns(contract)]
    return reduce(lambda a, b: a | b, found)


def too_long(contract: DatasetContract) -> SparkColumn:
    """A value (or a malformed line's text) longer than `contract.max_field_chars` characters."""
    lengths = [F.coalesce(F.length(name), F.lit(0)) for name in text_columns(contract)]
    return F.greatest(*lengths) > F.lit(contract.max_field_chars)


def validate_rows(raw: DataFrame, contract: DatasetContract) -> DataFrame:
    """Cast every column into `typed` and reject malformed rows, bad text, missing and invalid values."""
    df = raw.withColumn(TYPED, F.struct(*[cast_value(c).alias(c.name) for c in contract.columns]))
    malformed = F.col(RAW_RECORD).isNotNull()
    reasons: list[SparkColumn] = [
        F.when(malformed, F.lit("malformed_row")),
        F.when(not_utf8(contract), F.lit("not_utf8")),
        F.when(too_long(contract), F.lit("field_too_long")),
    ]
    for column in contract.columns:
        empty = text(column.name).isNull()
        if column.name == contract.primary_key:
            missing_code = "missing_primary_key"
        elif not column.nullable:
            missing_code = f"missing_{column.name}"
        else:
            missing_code = None
        if missing_code:
            reasons.append(F.when(~malformed & empty, F.lit(missing_code)))
        reasons.append(F.when(~malformed & ~empty & typed(column.name).isNull(), F.lit(f"invalid_{column.name}")))
    for rule in contract.date_rules:
        differs = typed(rule.column) != F.to_date(typed(rule.timestamp_column))
        reasons.append(F.when(~malformed & differs, F.lit(rule.reason)))
    return add_reasons(df, *reasons)


def check_references(df: DataFrame, contract: DatasetContract, parents: dict[str, DataFrame]) -> DataFrame:
    """Reject rows whose parent is unknown, or that disagree with their parent.

    `parents` maps each parent data set to its processed rows (stored table, which already holds
    this run's good parent rows because parents are merged first). Each parent is reduced to its
    key and the columns a child must match before the join.
    """
    for fk in contract.foreign_keys:
        matches = [m for m in contract.parent_matches if m.foreign_key == fk.column]
        found = f"__found_{fk.column}"
        parent = parents[fk.parent].select(
            F.col(fk.parent_column).alias(f"__key_{fk.column}"),
            *[F.col(m.parent_column).alias(f"__parent_{m.column}") for m in matches],
            F.lit(True).alias(found),
        )
        if fk.broadcast_parent:
            parent = F.broadcast(parent)
        df = df.join(parent, typed(fk.column) == F.col(f"__key_{fk.column}"), "left")
        known = F.col(found).isNotNull()
        reasons = [F.when(typed(fk.column).isNotNull() & ~known, F.lit(fk.reason))]
        for match in matches:
            differs = typed(match.column) != F.col(f"__parent_{match.column}")
            reasons.append(F.when(known & differs, F.lit(match.reason)))
        df = add_reasons(df, *reasons).drop(f"__key_{fk.column}", found, *[f"__parent_{m.column}" for m in matches])
    return df


def winner_order(contract: DatasetContract) -> list[SparkColumn]:
    """Newest first: the ordering column (if any), then the later file, then the later line."""
    order = [F.col(SOURCE_FILE).desc(), F.col(SOURCE_LINE).desc()]
    if contract.ordering_column:
        order.insert(0, typed(contract.ordering_column).desc())
    return order


def mark_duplicates(df: DataFrame, contract: DatasetContract) -> DataFrame:
    """Among clean rows, keep one per primary key; the others are `duplicate_primary_key`."""
    window = Window.partitionBy(typed(contract.primary_key), is_clean()).orderBy(*winner_order(contract))
    rank = F.when(is_clean(), F.row_number().over(window))
    return add_reasons(df.withColumn("__rank", rank), F.when(F.col("__rank") > 1, F.lit("duplicate_primary_key"))).drop(
        "__rank"
    )


KEY_IS_STORED = "key_is_stored"


def mark_stale(df: DataFrame, contract: DatasetContract, stored: DataFrame) -> DataFrame:
    """Reject clean rows older than the stored row with the same key (`stale_record`).

    Adds `stored_partition`: the partition value of the stored row for the same key (null when the
    key is new), which the merge needs to prune its scan and still find rows that move partition;
    and `key_is_stored`, which tells a batch of new keys only (appended, not merged) from the rest.
    """
    partition = contract.partition_column
    key = contract.primary_key
    columns = [F.col(key).alias("__stored_key")]
    if contract.ordering_column:
        columns.append(F.col(contract.ordering_column).alias("__stored_order"))
    columns.append(
        (F.col(partition).cast("string") if partition else F.lit(None).cast("string")).alias("stored_partition")
    )
    df = df.join(stored.select(*columns), typed(key) == F.col("__stored_key"), "left")
    if contract.ordering_column:
        older = typed(contract.ordering_column) < F.col("__stored_order")
        df = add_reasons(df, F.when(is_clean() & older, F.lit("stale_record"))).drop("__stored_order")
    return df.withColumn(KEY_IS_STORED, F.col("__stored_key").isNotNull()).drop("__stored_key")
