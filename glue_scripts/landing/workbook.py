"""Excel workbooks (`.xlsx`): every sheet read on the driver with openpyxl into text rows like a CSV's."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    IntegerType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from glue_scripts.contracts import (
    EXTRA_FIELDS,
    RAW_RECORD,
    RUN_ID,
    SHEET_FIELD,
    SHEET_ROW_FIELD,
    SOURCE_FILE,
    SOURCE_FILE_DIGEST,
    SOURCE_LINE,
    DatasetContract,
)
from glue_scripts.landing.files import INGESTED_AT, LandedFile, RefusedFile, header_problem
from glue_scripts.storage import Store, StoredObject


@dataclass(frozen=True)
class WorkbookSheet:
    """One non-blank sheet: its name, the Excel row of its header, the header names, its data rows."""

    name: str
    header_row: int
    header: tuple[str, ...]
    # (Excel row number, cell values) of every non-blank row below the header; None when only the
    # header was read (the preflight).
    rows: tuple[tuple[int, tuple[Any, ...]], ...] | None


def open_workbook(data: bytes) -> Any:
    """openpyxl, imported here so CSV-only runs (and Glue jobs without the module) never need it."""
    try:
        import openpyxl
    except ImportError as error:  # a deployment problem, not a data problem: the run fails, the file waits
        raise ImportError(
            "reading .xlsx needs openpyxl (pip install openpyxl; on Glue: --additional-python-modules openpyxl==3.1.5)"
        ) from error
    return openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)


def is_blank(values: Sequence[Any]) -> bool:
    return all(value is None or (isinstance(value, str) and not value.strip()) for value in values)


def workbook_sheets(data: bytes, with_rows: bool = True) -> list[WorkbookSheet] | str:
    """Every worksheet with a header (blank sheets skipped), in workbook order; or why it cannot be read.

    A sheet's header is its first non-blank row. Hidden sheets are read like the others.
    """
    try:
        workbook = open_workbook(data)
    except ImportError:
        raise
    except Exception as error:
        return f"not a readable xlsx workbook ({type(error).__name__}: {error})"
    try:
        sheets = []
        for sheet in workbook.worksheets:
            rows = ((number, tuple(values)) for number, values in enumerate(sheet.iter_rows(values_only=True), 1))
            found = next(((number, values) for number, values in rows if not is_blank(values)), None)
            if found is None:
                continue
            header_row, header_values = found
            header = [cell_text(value) or "" for value in header_values]
            while header and not header[-1].strip():
                header.pop()
            body = tuple((n, values) for n, values in rows if not is_blank(values)) if with_rows else None
            sheets.append(WorkbookSheet(sheet.title, header_row, tuple(name.strip() for name in header), body))
        return sheets
    except Exception as error:
        return f"not a readable xlsx workbook ({type(error).__name__}: {error})"
    finally:
        workbook.close()


def preflight_workbook(contract: DatasetContract, obj: StoredObject, data: bytes) -> LandedFile | RefusedFile:
    """A workbook is read only if every non-blank sheet has the data set's columns (else: which sheet, why)."""
    sheets = workbook_sheets(data, with_rows=False)
    if isinstance(sheets, str):
        return RefusedFile(obj, sheets)
    if not sheets:
        return RefusedFile(obj, "empty workbook: no sheet has a header line")
    for sheet in sheets:
        problem = header_problem(contract, sheet.header)
        if problem:
            return RefusedFile(obj, f"sheet {sheet.name!r}: {problem}")
    return LandedFile(obj, sheets[0].header, tuple(sheet.name for sheet in sheets))


def cell_text(value: Any, column_type: str | None = None) -> str | None:
    """A cell as the text a CSV export would hold: ISO dates and times, integral numbers without `.0`.

    Excel has no date-only values: a date cell comes back as midnight, written as a date for a
    `date` column of the contract and as a timestamp otherwise.
    """
    if value is None:
        return None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        if column_type == "date" and value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep="T", timespec="seconds" if not value.microsecond else "microseconds")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


def workbook_records(contract: DatasetContract, sheets: list[WorkbookSheet]) -> Iterator[tuple[Any, ...]]:
    """Raw records of every sheet: contract values, raw_record, extra_fields, source_line.

    A row with a value beyond its sheet's header is malformed (`raw_record`: its cells as a CSV line),
    as a CSV line with too many fields is.
    """
    types = {column.name: column.type for column in contract.columns}
    line = 0
    for sheet in sheets:
        line += 1  # the sheet's header
        width = len(sheet.header)
        position = {name: index for index, name in enumerate(sheet.header)}
        extras = [name for name in sheet.header if name not in types]
        for row_number, values in sheet.rows or ():
            line += 1
            cells = [*values[:width], *[None] * (width - len(values))]
            texts = {name: cell_text(cells[index], types.get(name)) for name, index in position.items()}
            raw_record = None
            if not is_blank(values[width:]):
                last = max(i for i, value in enumerate(values) if not is_blank([value]))
                buffer = io.StringIO()
                csv.writer(buffer, lineterminator="").writerow([cell_text(v) or "" for v in values[: last + 1]])
                raw_record = buffer.getvalue()
            extra_fields = {name: texts[name] for name in extras}
            extra_fields.update({SHEET_FIELD: sheet.name, SHEET_ROW_FIELD: str(row_number)})
            yield (*[texts[name] for name in contract.column_names], raw_record, extra_fields, line)


def read_workbook(
    spark: SparkSession, store: Store, contract: DatasetContract, landed: LandedFile, run_id: str, now: datetime
) -> DataFrame:
    """A workbook's rows, every sheet, as text in the raw table's schema (read on the driver)."""
    sheets = workbook_sheets(store.read_bytes(landed.object.key))
    if isinstance(sheets, str):
        raise ValueError(f"{landed.object.key} passed its preflight but cannot be read now: {sheets}")
    schema = StructType(
        [StructField(name, StringType()) for name in contract.column_names]
        + [
            StructField(RAW_RECORD, StringType()),
            StructField(EXTRA_FIELDS, MapType(StringType(), StringType())),
            StructField(SOURCE_LINE, IntegerType()),
        ]
    )
    frame = spark.createDataFrame(list(workbook_records(contract, sheets)), schema)
    return frame.select(
        *contract.column_names,
        RAW_RECORD,
        EXTRA_FIELDS,
        F.lit(landed.object.key).alias(SOURCE_FILE),
        F.lit(landed.object.digest).alias(SOURCE_FILE_DIGEST),
        F.col(SOURCE_LINE),
        F.lit(run_id).alias(RUN_ID),
        F.lit(now).cast("timestamp").alias(INGESTED_AT),
    )
