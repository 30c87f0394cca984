"""Data contracts: the one place where the rules of each data set are declared.

Every stage reads these declarations instead of repeating column lists: the landing reader
(which header columns are required), validation (types, ranges, nullability), deduplication
(primary key and ordering column), the merge (key and partition column), referential integrity
(foreign keys) and the Dagster asset checks. Adding a column or a rule means editing this file
only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

from pyspark.sql.types import DataType, DateType, DecimalType, IntegerType, StringType, TimestampType

ColumnType = Literal["int", "string", "timestamp", "decimal", "date"]

# The longest value (in characters) a row may carry in any contract column, or as the text of a
# malformed line. Far above any real value here; what exceeds it is a runaway quote that swallowed
# the rest of a file, or garbage, and is rejected as `field_too_long` rather than merged.
MAX_FIELD_CHARS = 65_536

# Spark SQL type names for each contract type (decimal precision is fixed by the contract).
SPARK_TYPES: dict[ColumnType, str] = {
    "int": "int",
    "string": "string",
    "timestamp": "timestamp",
    "decimal": "decimal(12,2)",
    "date": "date",
}
DATA_TYPES: dict[ColumnType, DataType] = {
    "int": IntegerType(),
    "string": StringType(),
    "timestamp": TimestampType(),
    "decimal": DecimalType(12, 2),
    "date": DateType(),
}


@dataclass(frozen=True)
class Column:
    """One column of a data set, as found in the landing CSV header."""

    name: str
    type: ColumnType
    nullable: bool = False
    min_value: int | Decimal | None = None
    allowed_values: tuple[int, ...] | None = None
    description: str = ""

    @property
    def spark_type(self) -> str:
        return SPARK_TYPES[self.type]

    @property
    def data_type(self) -> DataType:
        return DATA_TYPES[self.type]


@dataclass(frozen=True)
class ForeignKey:
    """`column` must exist as `parent_column` in the processed `parent` data set.

    `broadcast_parent`: the parent is a small dimension (products: ~50,000 rows at full scale), so
    the joins against it (validation and the referential check) send its keys to every task instead
    of shuffling the child rows by key, whatever Spark's size estimate says. A parent that grows
    with the facts (orders) is left to Spark's planner.
    """

    column: str
    parent: str
    parent_column: str
    broadcast_parent: bool = False

    @property
    def reason(self) -> str:
        return f"unknown_{self.column}"


@dataclass(frozen=True)
class MatchesParent:
    """`column` must equal the parent row's `parent_column`, looked up through `foreign_key`."""

    column: str
    foreign_key: str
    parent_column: str

    @property
    def reason(self) -> str:
        return f"{self.column}_mismatch"


@dataclass(frozen=True)
class DateOf:
    """`column` (a date) must equal the date part of `timestamp_column`."""

    column: str
    timestamp_column: str
    reason: str = "date_mismatch"


@dataclass(frozen=True)
class DatasetContract:
    name: str
    columns: tuple[Column, ...]
    primary_key: str
    description: str
    # Newer rows win on this column when the same key arrives twice (None: later file/line wins).
    ordering_column: str | None = None
    partition_column: str | None = None
    foreign_keys: tuple[ForeignKey, ...] = ()
    parent_matches: tuple[MatchesParent, ...] = ()
    date_rules: tuple[DateOf, ...] = ()
    max_field_chars: int = MAX_FIELD_CHARS
    # Data sets that must be processed before this one (derived from the foreign keys).
    parents: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parents", tuple(dict.fromkeys(fk.parent for fk in self.foreign_keys)))

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def reason_codes(self) -> list[str]:
        """Every reason code a row of this data set can be rejected with."""
        codes = ["malformed_row", "not_utf8", "field_too_long", "missing_primary_key"]
        codes += [f"missing_{c.name}" for c in self.columns if not c.nullable and c.name != self.primary_key]
        codes += [f"invalid_{c.name}" for c in self.columns]
        codes += [rule.reason for rule in self.date_rules]
        codes += [fk.reason for fk in self.foreign_keys]
        codes += [match.reason for match in self.parent_matches]
        codes += ["duplicate_primary_key"]
        if self.ordering_column:
            codes += ["stale_record"]
        return list(dict.fromkeys(codes))


PRODUCTS = DatasetContract(
    name="products",
    description="Product catalogue: one row per product.",
    primary_key="product_id",
    columns=(
        Column("product_id", "int", description="Primary key."),
        Column("department_id", "int", description="Department number (does not determine the name)."),
        Column("department", "string", description="Department name."),
        Column("product_name", "string", description="Product name."),
    ),
)

ORDERS = DatasetContract(
    name="orders",
    description="Customer orders: one row per order, partitioned by order date.",
    primary_key="order_id",
    ordering_column="order_timestamp",
    partition_column="date",
    columns=(
        Column("order_num", "int", description="The customer's order sequence number; not a key."),
        Column("order_id", "int", description="Primary key."),
        Column("user_id", "int", description="Customer id."),
        Column("order_timestamp", "timestamp", description="When the order was placed (UTC)."),
        Column("total_amount", "decimal", min_value=Decimal("0"), description="Order total, >= 0."),
        Column("date", "date", description="Order date: the date part of order_timestamp."),
    ),
    date_rules=(DateOf("date", "order_timestamp"),),
)

ORDER_ITEMS = DatasetContract(
    name="order_items",
    description="Order lines: one row per product in an order, partitioned by order date.",
    primary_key="id",
    ordering_column="order_timestamp",
    partition_column="date",
    columns=(
        Column("id", "int", description="Primary key."),
        Column("order_id", "int", description="The order (-> orders.order_id)."),
        Column("user_id", "int", description="Customer id; equals the order's user_id."),
        Column(
            "days_since_prior_order",
            "int",
            nullable=True,
            min_value=0,
            description="Days since the customer's previous order; empty for a first order.",
        ),
        Column("product_id", "int", description="The product (-> products.product_id)."),
        Column("add_to_cart_order", "int", min_value=1, description="Position in the cart, >= 1."),
        Column("reordered", "int", allowed_values=(0, 1), description="1 if ordered before, else 0."),
        Column("order_timestamp", "timestamp", description="The order's timestamp (UTC)."),
        Column("date", "date", description="Order date: the date part of order_timestamp."),
    ),
    foreign_keys=(
        ForeignKey("order_id", parent="orders", parent_column="order_id"),
        ForeignKey("product_id", parent="products", parent_column="product_id", broadcast_parent=True),
    ),
    parent_matches=(MatchesParent("user_id", foreign_key="order_id", parent_column="user_id"),),
    date_rules=(DateOf("date", "order_timestamp"),),
)

# In processing order: parents before children.
CONTRACTS: dict[str, DatasetContract] = {c.name: c for c in (PRODUCTS, ORDERS, ORDER_ITEMS)}
DATASETS: tuple[str, ...] = tuple(CONTRACTS)

# Lineage columns carried by the raw, processed and rejected tables.
SOURCE_FILE = "source_file"
SOURCE_FILE_DIGEST = "source_file_digest"
SOURCE_LINE = "source_line"
RUN_ID = "run_id"
RAW_RECORD = "raw_record"
EXTRA_FIELDS = "extra_fields"
# Keys of `extra_fields` that hold lineage, not unknown columns: a workbook row's sheet name and its
# row number in that sheet (`source_file` stays the workbook, so the ledger and the archive see one file).
SHEET_FIELD = "#sheet"
SHEET_ROW_FIELD = "#row"
LINEAGE_FIELDS = (SHEET_FIELD, SHEET_ROW_FIELD)
REJECT_REASONS = "reject_reasons"
# Reasons after which a row may still be accepted once its parent arrives.
LATE_PARENT_REASONS = frozenset(fk.reason for fk in ORDER_ITEMS.foreign_keys)
