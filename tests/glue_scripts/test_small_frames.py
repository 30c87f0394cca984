from datetime import UTC, datetime
from decimal import Decimal

from pyspark.sql import SparkSession
from pyspark.sql.types import DecimalType, LongType, StringType, StructField, StructType, TimestampType

from glue_scripts.small_frames import rows_frame

SCHEMA = StructType(
    [
        StructField("name", StringType(), nullable=False),
        StructField("count", LongType()),
        StructField("price", DecimalType(10, 2)),
        StructField("at", TimestampType()),
    ]
)


def test_rows_keep_their_values_types_and_awkward_text(spark: SparkSession) -> None:
    at = datetime(2025, 4, 1, 10, 30, 5, 123456, tzinfo=UTC)
    frame = rows_frame(
        spark,
        [("a 'quoted' \"name\", with\nnewline", 2**40, Decimal("12.34"), at), ("é", None, None, None)],
        SCHEMA,
    )
    assert [f.dataType for f in frame.schema.fields] == [f.dataType for f in SCHEMA.fields]
    assert [tuple(row) for row in frame.collect()] == [
        ("a 'quoted' \"name\", with\nnewline", 2**40, Decimal("12.34"), datetime(2025, 4, 1, 10, 30, 5, 123456)),
        ("é", None, None, None),
    ]


def test_no_rows_is_an_empty_frame_of_the_schema(spark: SparkSession) -> None:
    frame = rows_frame(spark, [], SCHEMA)
    assert frame.columns == ["name", "count", "price", "at"]
    assert frame.count() == 0
