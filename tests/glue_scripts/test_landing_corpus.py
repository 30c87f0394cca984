"""The bad-input corpus (issue 6): landing files as real landing zones receive them, each with its outcome.

Every file is made here, in the test's temporary folder (only the lab workbook test reads
../shared/datasets, and skips without it). The corpus is landed as one delivery of `products` files
into a fresh local root and goes the event-driven way: the landing sensor's listing
(`scan_landing`) decides what is requested, then the real stages run once over that batch
(`ingest_landing` with those file versions, `process_batch`, `archive_landed`) and the checks are
measured as the process job measures them (`quality.check_results`). Each case then asserts where
its file ended (archived, quarantined with its reason, or still in landing) and its exact rows.
RELIABILITY.md ("Bad input") is the same table in prose; a test keeps the two in step.
"""

from __future__ import annotations

import gzip
import io
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from glue_scripts import ledger, quality
from glue_scripts.contracts import ORDERS, PRODUCTS
from glue_scripts.delta_tables import read_table
from glue_scripts.stages import archive_landed, ingest_landing, process_batch, table_path
from glue_scripts.storage import LocalStore
from lakehouse_assets.sensors import LandingCursor, scan_landing

NOW = datetime(2025, 4, 20, 8, 0, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[2]
LAB_WORKBOOKS = REPO.parent / "shared" / "datasets" / "lab_apr_2025" / "xlsx"
HEADER = "product_id,department_id,department,product_name"
TEN_MB = 10 * 1024 * 1024
ARCHIVED = "archived/products/2025/04/20"


def workbook(sheets: dict[str, list[list[Any]]]) -> bytes:
    """An .xlsx file with these sheets (rows of cell values), in this order."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for number, row in enumerate(rows, 1):
            for column, value in enumerate(row, 1):
                if value is not None:
                    sheet.cell(number, column, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@dataclass(frozen=True)
class Case:
    """One landing file and what must become of it.

    `outcome`: "processed" (rows in processed/rejected, file archived), "quarantined" (moved with its
    reason) or "not taken" (left in landing, never requested). `accepted`: processed rows as
    (product_id, department_id, department, product_name, source_line); `rejected`: (source_line,
    reasons).
    """

    id: str
    name: str
    data: bytes
    outcome: str
    reason: str | None = None
    accepted: list[tuple[Any, ...]] = field(default_factory=list)
    rejected: list[tuple[int, list[str]]] = field(default_factory=list)
    extra_fields: dict[int, dict[str, str] | None] = field(default_factory=dict)  # source_line -> raw extras
    age_seconds: float = 0.0  # how long ago the file was last modified


def csv_bytes(*lines: str, newline: str = "\n", encoding: str = "utf-8") -> bytes:
    return "".join(line + newline for line in lines).encode(encoding)


CASES = [
    Case(
        "empty_file",
        "empty.csv",
        b"",
        "quarantined",
        reason="empty file: 0 bytes",
        age_seconds=3600,
    ),
    Case("header_only", "header-only.csv", csv_bytes(HEADER), "processed"),
    Case(
        "missing_column",
        "missing-column.csv",
        csv_bytes("product_id,department,product_name", "11,Books,Atlas"),
        "quarantined",
        reason=(
            "missing required columns for products: department_id (header was: product_id, department, product_name)"
        ),
    ),
    Case(
        "extra_columns",
        "extra-columns.csv",
        csv_bytes("product_id,supplier,department_id,department,product_name,colour", "21,Acme,1,Books,Atlas,red"),
        "processed",
        accepted=[(21, 1, "Books", "Atlas", 2)],
        extra_fields={2: {"supplier": "Acme", "colour": "red"}},
    ),
    Case(
        "reordered_columns",
        "reordered.csv",
        csv_bytes("product_name,department,product_id,department_id", "Boat,Toys,31,2"),
        "processed",
        accepted=[(31, 2, "Toys", "Boat", 2)],
    ),
    Case(
        "utf8_bom",
        "bom.csv",
        b"\xef\xbb\xbf" + csv_bytes(HEADER, "41,3,Home,Lamp"),
        "processed",
        accepted=[(41, 3, "Home", "Lamp", 2)],
    ),
    Case(
        "crlf_line_ends",
        "crlf.csv",
        csv_bytes(HEADER, "51,3,Home,Rug", '52,3,Home,"Two\r\nlines"', newline="\r\n"),
        "processed",
        # A line break inside quotes is kept as "\n", whatever the file's line ends.
        accepted=[(51, 3, "Home", "Rug", 2), (52, 3, "Home", "Two\nlines", 3)],
    ),
    Case(
        "quoted_fields",
        "quoted.csv",
        csv_bytes(
            HEADER, '61,3,"Home, Garden","The ""Big"" Book"', '62,3,Home,"Line one', 'line two"', "63,3,Home,End"
        ),
        "processed",
        accepted=[
            (61, 3, "Home, Garden", 'The "Big" Book', 2),
            (62, 3, "Home", "Line one\nline two", 3),
            (63, 3, "Home", "End", 4),
        ],
    ),
    Case(
        "utf16_file",
        "utf16.csv",
        csv_bytes(HEADER, "71,3,Home,Cup", encoding="utf-16"),
        "quarantined",
        reason="header is not UTF-8 text (invalid start byte at byte 0)",
    ),
    Case(
        "non_utf8_body",
        "latin1-body.csv",
        csv_bytes(HEADER, "81,4,Cafe,Plain", "82,4,Café,Crème", "83,4,Cafe,Mug", encoding="latin-1"),
        "processed",
        accepted=[(81, 4, "Cafe", "Plain", 2), (83, 4, "Cafe", "Mug", 4)],
        rejected=[(3, ["not_utf8"])],
    ),
    Case(
        "semicolon_delimited",
        "semicolons.csv",
        csv_bytes(HEADER.replace(",", ";"), "91;4;Cafe;Tea"),
        "quarantined",
        reason=(
            "missing required columns for products: product_id, department_id, department, product_name "
            "(header was: product_id;department_id;department;product_name)"
        ),
    ),
    Case(
        "gzip_csv",
        "gzip.csv.gz",
        gzip.compress(csv_bytes(HEADER, "101,5,Garden,Spade")),
        "processed",
        accepted=[(101, 5, "Garden", "Spade", 2)],
    ),
    Case(
        "gzip_csv_upper_case",
        "GZIP.CSV.GZ",
        gzip.compress(csv_bytes(HEADER, "102,5,Garden,Trowel")),
        "processed",
        accepted=[(102, 5, "Garden", "Trowel", 2)],
    ),
    Case(
        "not_gzip",
        "not-gzip.csv.gz",
        csv_bytes(HEADER, "111,5,Garden,Hoe"),
        "quarantined",
        reason="not a readable gzip file (Error -3 while decompressing data: incorrect header check)",
    ),
    *[
        Case(f"upload_in_progress{name}", f"upload.csv{name}", csv_bytes(HEADER, "121,5,Garden,Rake"), "not taken")
        for name in (".tmp", ".part", "._COPYING_", ".crdownload", ".filepart")
    ],
    Case("hidden_file", ".hidden.csv", csv_bytes(HEADER, "122,5,Garden,Rake"), "not taken"),
    Case("underscore_file", "_started.csv", csv_bytes(HEADER, "123,5,Garden,Rake"), "not taken"),
    Case("not_a_data_file", "notes.txt", b"delivered by hand\n", "not taken"),
    Case("zero_byte_placeholder", "placeholder.csv", b"", "not taken"),
    Case(
        "ten_mb_field",
        "long-field.csv",
        csv_bytes(HEADER, "131,6,Books," + "x" * TEN_MB, "132,6,Books,Short"),
        "processed",
        accepted=[(132, 6, "Books", "Short", 3)],
        rejected=[(2, ["field_too_long"])],
    ),
    Case(
        "xlsx_every_sheet",
        "workbook.xlsx",
        workbook(
            {
                "Books": [["product_id", "department_id", "department", "product_name"], [141, 7, "Books", "Atlas"]],
                "Blank": [],
                "Toys": [
                    [None],
                    ["product_name", "department", "product_id", "department_id"],
                    ["Kite", "Toys", 142, 8.0],
                    [None, None, None, None],
                    ["Yo-yo", "Toys", 143, 8, "stray note"],
                ],
            }
        ),
        "processed",
        accepted=[(141, 7, "Books", "Atlas", 2), (142, 8, "Toys", "Kite", 4)],
        rejected=[(5, ["malformed_row"])],
        extra_fields={
            2: {"#sheet": "Books", "#row": "2"},
            4: {"#sheet": "Toys", "#row": "3"},
            5: {"#sheet": "Toys", "#row": "5"},
        },
    ),
    Case(
        "xlsx_sheet_missing_columns",
        "bad-sheet.xlsx",
        workbook({"Products": [HEADER.split(","), [151, 7, "Books", "Atlas"]], "Notes": [["comment"], ["to do"]]}),
        "quarantined",
        reason=(
            "sheet 'Notes': missing required columns for products: product_id, department_id, department, "
            "product_name (header was: comment)"
        ),
    ),
    Case(
        "xlsx_not_a_workbook",
        "not-a-workbook.xlsx",
        csv_bytes(HEADER, "161,7,Books,Atlas"),
        "quarantined",
        reason="not a readable xlsx workbook (BadZipFile: File is not a zip file)",
    ),
]
BY_ID = {case.id: case for case in CASES}
STRAYS = {"landing/stray.csv": csv_bytes(HEADER, "1,1,a,b"), "landing/customers/c.csv": b"customer_id\n1\n"}


@dataclass
class CorpusRun:
    store: LocalStore
    files: set[str]  # every file under the root once the run is over
    requested: list[str]
    waiting: list[str]
    strays: list[str]
    ingest: Any
    process: Any
    archive: Any
    processed: dict[str, list[tuple[Any, ...]]]
    rejected: dict[str, list[tuple[Any, ...]]]
    raw_extras: dict[str, dict[int, dict[str, str] | None]]
    checks: list[dict[str, Any]]
    ledger: dict[tuple[str, str], tuple[Any, ...]]


def grouped(rows: list[Any], key: Callable[[Any], str], value: Callable[[Any], Any]) -> dict[str, list[Any]]:
    """Rows by file, each file's sorted."""
    found: dict[str, list[Any]] = {}
    for row in rows:
        found.setdefault(key(row), []).append(value(row))
    return {k: sorted(v) for k, v in found.items()}


def land(store: LocalStore, key: str, data: bytes, age_seconds: float = 0.0) -> None:
    path = store.path / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(path, (then, then))


@pytest.fixture(scope="module")
def corpus(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> CorpusRun:
    store = LocalStore(tmp_path_factory.mktemp("corpus") / "lakehouse")
    for case in CASES:
        land(store, f"landing/products/{case.name}", case.data, case.age_seconds)
    for key, data in STRAYS.items():
        land(store, key, data)

    scan = scan_landing(store, LandingCursor(), time.time(), lambda versions: set())
    requested = [obj.version_id for obj in scan.new]
    ingest = ingest_landing(spark, store, PRODUCTS, "corpus-run", NOW, only_versions=requested)
    process = process_batch(spark, store, PRODUCTS, "corpus-run", NOW)
    archive = archive_landed(spark, store, PRODUCTS, "corpus-run", NOW)

    processed = read_table(spark, table_path(store, "processed", PRODUCTS)).collect()
    rejected = (
        read_table(spark, table_path(store, "rejected", PRODUCTS))
        .select("source_file", "source_line", "reject_reasons")  # not the 10 MB value
        .collect()
    )
    raw = read_table(spark, table_path(store, "raw", PRODUCTS)).select("source_file", "source_line", "extra_fields")
    raw_extras: dict[str, dict[int, dict[str, str] | None]] = {}
    for row in raw.collect():
        raw_extras.setdefault(row.source_file, {})[row.source_line] = row.extra_fields
    entries = ledger.read_ledger(spark, store).collect()
    return CorpusRun(
        store=store,
        files={obj.key for zone in ("landing", "archived", "quarantine") for obj in store.list(zone)},
        requested=sorted(version.split("#")[0] for version in requested),
        waiting=sorted(scan.waiting_incomplete),
        strays=scan.strays,
        ingest=ingest,
        process=process,
        archive=archive,
        processed=grouped(
            processed,
            lambda r: r.source_file,
            lambda r: (r.product_id, r.department_id, r.department, r.product_name, r.source_line),
        ),
        rejected=grouped(rejected, lambda r: r.source_file, lambda r: (r.source_line, r.reject_reasons)),
        raw_extras=raw_extras,
        checks=quality.check_results(spark, store, PRODUCTS, ["corpus-run"]),
        ledger={(e.source_file, e.stage): (e.rows_read, e.rows_accepted, e.rows_rejected, e.detail) for e in entries},
    )


def landing_key(case: Case) -> str:
    return f"landing/products/{case.name}"


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_each_file_ends_where_its_case_says(corpus: CorpusRun, case: Case) -> None:
    key = landing_key(case)
    files = corpus.files
    ledger_stages = sorted(stage for (source, stage) in corpus.ledger if source == key)
    if case.outcome == "not taken":
        assert key in files
        assert key not in corpus.requested and key in corpus.waiting
        assert ledger_stages == []
    elif case.outcome == "quarantined":
        assert key not in files
        assert f"quarantine/products/{case.name}" in files
        assert (
            corpus.store.read_bytes(f"quarantine/products/{case.name}.reason.txt") == f"{key}: {case.reason}\n".encode()
        )
        assert corpus.ingest.quarantined[key] == case.reason
        assert ledger_stages == ["quarantined"]
        assert corpus.ledger[(key, "quarantined")] == (None, None, None, case.reason)
    else:
        assert key not in files
        assert f"{ARCHIVED}/{case.name}" in files
        read = len(case.accepted) + len(case.rejected)
        assert ledger_stages == ["archived", "processed", "raw"]
        assert corpus.ledger[(key, "raw")] == (read, None, None, None)
        assert corpus.ledger[(key, "processed")] == (read, len(case.accepted), len(case.rejected), None)
        assert corpus.processed.get(key, []) == case.accepted
        assert corpus.rejected.get(key, []) == case.rejected
    for line, extras in case.extra_fields.items():
        assert corpus.raw_extras[key][line] == extras


def test_the_listing_requests_only_complete_files_and_names_the_strays(corpus: CorpusRun) -> None:
    taken = sorted(landing_key(c) for c in CASES if c.outcome != "not taken")
    assert corpus.requested == taken
    assert corpus.waiting == sorted(landing_key(c) for c in CASES if c.outcome == "not taken")
    assert corpus.strays == ["landing/customers/", "landing/stray.csv"]
    assert corpus.store.exists("landing/stray.csv") and corpus.store.exists("landing/customers/c.csv")


def test_the_run_goes_on_past_every_bad_file(corpus: CorpusRun) -> None:
    processed = [c for c in CASES if c.outcome == "processed"]
    assert sorted(corpus.ingest.quarantined) == sorted(landing_key(c) for c in CASES if c.outcome == "quarantined")
    assert sorted(corpus.archive.archived) == sorted(landing_key(c) for c in processed)
    assert (corpus.process.rows_read, corpus.process.rows_accepted, corpus.process.rows_rejected) == (18, 15, 3)
    assert corpus.process.rejected_by_reason == {"field_too_long": 1, "malformed_row": 1, "not_utf8": 1}


def test_the_bad_rows_keep_their_text(corpus: CorpusRun, spark: SparkSession) -> None:
    rejected = read_table(spark, table_path(corpus.store, "rejected", PRODUCTS))
    rows = {
        (row.source_file, row.source_line): row
        for row in rejected.select(
            "source_file",
            "source_line",
            "department",
            "product_name",
            "raw_record",
            F.length("product_name").alias("name_length"),
        ).collect()
    }
    latin1 = rows[("landing/products/latin1-body.csv", 3)]
    assert (latin1.department, latin1.product_name) == ("Caf\ufffd", "Cr\ufffdme")
    long_row = rows[("landing/products/long-field.csv", 2)]
    assert long_row.name_length == TEN_MB
    stray_cell = rows[("landing/products/workbook.xlsx", 5)]
    assert (stray_cell.product_name, stray_cell.raw_record) == ("Yo-yo", "Yo-yo,Toys,143,8,stray note")


def test_checks_report_the_drift_and_the_rejections_of_the_batch(corpus: CorpusRun) -> None:
    results = {r["check_name"]: (r["passed"], r["severity"], r["metadata"]) for r in corpus.checks}
    files = sum(1 for c in CASES if c.outcome == "processed")
    assert list(results) == [
        "primary_key",
        "rows_reconciled",
        "rejection_rate",
        "rejection_limit",
        "schema_drift",
    ]
    assert results["schema_drift"] == (
        False,
        "WARN",
        {
            "extra_columns": {"raw_value": ["colour", "supplier"], "type": "json"},
            "files_with_extra_columns": {"raw_value": ["landing/products/extra-columns.csv"], "type": "json"},
            "files": files,
        },
    )
    assert results["rejection_rate"] == (
        False,
        "WARN",
        {"rejection_rate": 3 / 18, "threshold": 0.05, "rows_read": 18, "rows_rejected": 3, "rows_waiting": 0},
    )
    assert results["rejection_limit"] == (
        True,
        "ERROR",
        {
            "rejection_rate": 3 / 18,
            "threshold": 0.5,
            "min_rows": 20,
            "files": files,
            "rows_read": 18,
            "rows_rejected": 3,
            "rows_waiting": 0,
            "held_files": {"raw_value": {}, "type": "json"},
        },
    )
    assert results["primary_key"][0] and results["rows_reconciled"][0]


def test_reliability_md_lists_every_case() -> None:
    text = (REPO / "RELIABILITY.md").read_text()
    missing = [case.id for case in CASES if f"`{case.id}`" not in text]
    assert missing == []


# --- the rejection limit: a batch that is mostly rejected is held in landing -----------------------


def test_a_batch_rejected_over_the_limit_is_held_and_fails_the_blocking_check(
    spark: SparkSession, tmp_path: Path
) -> None:
    store = LocalStore(tmp_path / "lakehouse")
    land(store, "landing/products/mostly-bad.csv", csv_bytes(HEADER, "1,1,Books,Atlas", "x,1,Books,B", "3,y,Books,C"))
    ingest_landing(spark, store, PRODUCTS, "r1", NOW)
    policy = quality.RejectionPolicy(warn_share=0.05, max_share=0.5, min_rows=3)
    outcome = process_batch(spark, store, PRODUCTS, "r1", NOW, policy)
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected, outcome.rows_held) == (3, 0, 2, 1)
    results = {r["check_name"]: r for r in quality.check_results(spark, store, PRODUCTS, ["r1"], policy)}
    reason = (
        "rejected 2 of 3 rows (66.7%), over the rejection limit of 50.0% "
        "(LAKEHOUSE_REJECTION_MAX_SHARE; applied from 3 rows, LAKEHOUSE_REJECTION_MIN_ROWS)"
    )
    limit = results["rejection_limit"]
    assert (limit["passed"], limit["severity"]) == (False, "ERROR")
    assert limit["metadata"]["held_files"] == {"raw_value": {"landing/products/mostly-bad.csv": reason}, "type": "json"}
    assert limit["metadata"]["rejection_rate"] == 2 / 3
    assert (results["rejection_rate"]["passed"], results["rows_reconciled"]["passed"]) == (False, True)
    # The check's batch is the run's: a later run that processed no products file does not evaluate it.
    later = {r["check_name"]: r for r in quality.check_results(spark, store, PRODUCTS, ["r2"], policy)}
    assert later["rejection_limit"] == {
        "asset_key": "processed/products",
        "check_name": "rejection_limit",
        "passed": True,
        "severity": "ERROR",
        "metadata": {"files": 0, "evaluated": False},
        "description": "Not evaluated: this run processed no file of products.",
    }


def test_the_limit_is_a_share_not_above_it() -> None:
    policy = quality.RejectionPolicy(max_share=0.5, min_rows=1)
    assert policy.hold_reason(accepted=2, rejected=2) is None  # exactly half
    assert policy.hold_reason(accepted=500, rejected=501) is not None
    assert policy.hold_reason(accepted=0, rejected=0) is None  # header-only batch
    assert quality.RejectionPolicy(max_share=0.7, min_rows=3).hold_reason(accepted=1, rejected=2) is None


# --- the lab's own workbook: 15 sheets, one per day --------------------------------------------------


@pytest.mark.skipif(not (LAB_WORKBOOKS / "orders_apr_2025.xlsx").exists(), reason="no ../shared/datasets lab workbook")
def test_the_lab_orders_workbook_is_read_sheet_by_sheet(spark: SparkSession, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "lakehouse")
    land(store, "landing/orders/orders_apr_2025.xlsx", (LAB_WORKBOOKS / "orders_apr_2025.xlsx").read_bytes())
    ingested = ingest_landing(spark, store, ORDERS, "lab", NOW)
    assert ingested.rows_by_file == {"landing/orders/orders_apr_2025.xlsx": 7500}
    outcome = process_batch(spark, store, ORDERS, "lab", NOW)
    assert (outcome.rows_read, outcome.rows_accepted, outcome.rows_rejected) == (7500, 7500, 0)
    assert outcome.partitions == 15
    raw = read_table(spark, table_path(store, "raw", ORDERS))
    per_sheet = raw.groupBy(F.col("extra_fields")["#sheet"].alias("sheet")).count().orderBy("sheet").collect()
    assert [(row.sheet, row["count"]) for row in per_sheet] == [(f"2025-04-{day:02d}", 500) for day in range(1, 16)]
    first_of_day_2 = (
        read_table(spark, table_path(store, "processed", ORDERS))
        .where(F.col("order_id") == 10500)
        .select("order_num", "user_id", "order_timestamp", "total_amount", "date", "source_line")
        .first()
    )
    # Sheet 2 starts after sheet 1's header and 500 rows (lines 1-501), with its own header on line 502.
    assert tuple(first_of_day_2) == (93, 1726, datetime(2025, 4, 2, 10, 25), Decimal("179.19"), date(2025, 4, 2), 503)
