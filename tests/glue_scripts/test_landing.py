import gzip
import io
from datetime import UTC, date, datetime, time, timedelta

import openpyxl
from pyspark.sql import SparkSession

from glue_scripts.contracts import ORDERS, PRODUCTS
from glue_scripts.landing import (
    LandedFile,
    RefusedFile,
    inspect_files,
    is_complete_data_file,
    is_upload_placeholder,
    landing_files,
    read_landed_files,
)
from glue_scripts.landing.files import decode_header
from glue_scripts.landing.reading import needs_staging, staging_key
from glue_scripts.landing.workbook import cell_text, preflight_workbook
from glue_scripts.storage import LocalStore, StoredObject
from tests.helpers import write_landing

NOW = datetime(2025, 4, 20, 8, 0, tzinfo=UTC)


def obj(name: str) -> StoredObject:
    return StoredObject(f"landing/orders/{name}", 1, "d", NOW)


def test_decode_header_strips_bom_and_spaces() -> None:
    assert decode_header(b"\xef\xbb\xbfproduct_id, department_id\r\n1,2\r\n", False) == ["product_id", "department_id"]


def test_decode_header_reasons() -> None:
    assert decode_header(b"  \n", False) == "empty file: no header line"
    assert decode_header(b"id,\xff\xfe\n", False) == "header is not UTF-8 text (invalid start byte at byte 3)"
    assert decode_header(gzip.compress(b"a,b\n1,2\n"), True) == ["a", "b"]
    assert decode_header(b"plain text", True).startswith("not a readable gzip file")


def test_partial_uploads_and_other_files_are_not_taken() -> None:
    names = ["a.csv", "a.csv.gz", "a.csv.tmp", ".a.csv", "_a.csv", "a.csv._COPYING_", "a.json", "A.CSV"]
    assert [n for n in names if is_complete_data_file(obj(n))] == ["a.csv", "a.csv.gz", "A.CSV"]


def test_a_young_zero_byte_file_is_an_upload_placeholder() -> None:
    def file(size: int, age: timedelta) -> StoredObject:
        return StoredObject("landing/orders/a.csv", size, "d", NOW - age)

    assert is_upload_placeholder(file(0, timedelta(minutes=4, seconds=59)), NOW) is True
    assert is_upload_placeholder(file(0, timedelta(minutes=5)), NOW) is False
    assert is_upload_placeholder(file(1, timedelta(0)), NOW) is False


def test_workbook_cells_become_the_text_a_csv_would_hold() -> None:
    assert [cell_text(v) for v in (None, 7, 8.0, 179.19, True, "  a ")] == [None, "7", "8", "179.19", "TRUE", "  a "]
    assert cell_text(datetime(2025, 4, 1, 10, 25)) == "2025-04-01T10:25:00"
    assert cell_text(datetime(2025, 4, 1, 10, 25, 0, 500)) == "2025-04-01T10:25:00.000500"
    assert cell_text(datetime(2025, 4, 1), "date") == "2025-04-01"
    assert cell_text(datetime(2025, 4, 1), "timestamp") == "2025-04-01T00:00:00"
    assert (cell_text(date(2025, 4, 1)), cell_text(time(10, 25))) == ("2025-04-01", "10:25:00")


def workbook_bytes(sheets: dict[str, list[list[object]]]) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def test_a_workbook_is_read_only_if_every_sheet_has_the_columns() -> None:
    header = ["product_id", "department_id", "department", "product_name"]
    book = obj("book.xlsx")
    good = preflight_workbook(PRODUCTS, book, workbook_bytes({"A": [header], "Empty": [], "B": [[], header[::-1]]}))
    assert good == LandedFile(book, tuple(header), ("A", "B"))
    assert preflight_workbook(PRODUCTS, book, workbook_bytes({"A": [header], "B": [["#sheet", *header]]})) == (
        RefusedFile(book, "sheet 'B': header uses names reserved for lineage: #sheet")
    )
    assert preflight_workbook(PRODUCTS, book, workbook_bytes({"Empty": []})) == RefusedFile(
        book, "empty workbook: no sheet has a header line"
    )


def test_inspect_files_refuses_with_reasons(store: LocalStore) -> None:
    write_landing(store, "products", "empty.csv", "")
    write_landing(store, "products", "missing.csv", "product_id;department_id;department;product_name\n1;2;a;b\n")
    write_landing(store, "products", "twice.csv", "product_id,product_id,department_id,department,product_name\n")
    write_landing(store, "products", "good.csv", "product_name,department,department_id,product_id\n")
    checked = {f.object.name: f for f in inspect_files(store, PRODUCTS, landing_files(store, "products"))}
    assert checked["empty.csv"] == RefusedFile(checked["empty.csv"].object, "empty file: 0 bytes")
    assert checked["missing.csv"].reason == (
        "missing required columns for products: product_id, department_id, department, product_name "
        "(header was: product_id;department_id;department;product_name)"
    )
    assert checked["twice.csv"].reason == "header repeats columns: product_id"
    assert checked["good.csv"] == LandedFile(
        checked["good.csv"].object, ("product_name", "department", "department_id", "product_id")
    )


def test_rows_are_read_as_text_by_header_name_with_lineage(spark: SparkSession, store: LocalStore) -> None:
    write_landing(
        store,
        "orders",
        "a.csv",
        "order_id,note,order_num,user_id,order_timestamp,total_amount,date\n"
        '10,"x, y",1,7,2025-04-01T10:00:00,1.50,2025-04-01\n'
        "11,z,2\n"
        '12,"multi\nline",3,7,2025-04-01 10:00,007,2025-04-01\n',
    )
    write_landing(store, "orders", "b.csv", "order_num,order_id,user_id,order_timestamp,total_amount,date\n4,13,,,,\n")
    files = [f for f in inspect_files(store, ORDERS, landing_files(store, "orders")) if isinstance(f, LandedFile)]
    rows = read_landed_files(spark, store, ORDERS, files, "run-1", NOW).orderBy("source_file", "source_line").collect()
    assert [r.asDict() for r in rows] == [
        {
            "order_num": "1",
            "order_id": "10",
            "user_id": "7",
            "order_timestamp": "2025-04-01T10:00:00",
            "total_amount": "1.50",
            "date": "2025-04-01",
            "raw_record": None,
            "extra_fields": {"note": "x, y"},
            "source_file": "landing/orders/a.csv",
            "source_file_digest": files[0].object.digest,
            "source_line": 2,
            "run_id": "run-1",
            "ingested_at": NOW.replace(tzinfo=None),
        },
        {
            "order_num": "2",
            "order_id": "11",
            "user_id": None,
            "order_timestamp": None,
            "total_amount": None,
            "date": None,
            "raw_record": "11,z,2",
            "extra_fields": {"note": "z"},
            "source_file": "landing/orders/a.csv",
            "source_file_digest": files[0].object.digest,
            "source_line": 3,
            "run_id": "run-1",
            "ingested_at": NOW.replace(tzinfo=None),
        },
        {
            "order_num": "3",
            "order_id": "12",
            "user_id": "7",
            "order_timestamp": "2025-04-01 10:00",
            "total_amount": "007",
            "date": "2025-04-01",
            "raw_record": None,
            "extra_fields": {"note": "multi\nline"},
            "source_file": "landing/orders/a.csv",
            "source_file_digest": files[0].object.digest,
            "source_line": 4,
            "run_id": "run-1",
            "ingested_at": NOW.replace(tzinfo=None),
        },
        {
            "order_num": "4",
            "order_id": "13",
            "user_id": None,
            "order_timestamp": None,
            "total_amount": None,
            "date": None,
            "raw_record": None,
            "extra_fields": None,
            "source_file": "landing/orders/b.csv",
            "source_file_digest": files[1].object.digest,
            "source_line": 2,
            "run_id": "run-1",
            "ingested_at": NOW.replace(tzinfo=None),
        },
    ]


def test_only_keys_hadoop_paths_misread_are_staged_and_the_copy_is_named_by_digest() -> None:
    def landed(key: str, digest: str = "0a1b") -> LandedFile:
        return LandedFile(StoredObject(key, 10, digest, datetime(2025, 4, 1, tzinfo=UTC)), ("product_id",))

    plain = ["2025-04-01.csv", "with space.csv", "été (2)+x=y,z@w~v.csv", "a.csv.gz", "odd:name.xlsx"]
    odd = ["10:00.csv", "g[1].csv", "s*.csv", "q?.csv", "b{a}.csv", "p%20.csv", "b\\s.csv", "h#1.csv", "x;y.csv"]
    odd += ["B.CSV.GZ", "c.csv.GZ"]  # Hadoop takes the gzip codec for `.gz` in lower case only
    assert [needs_staging(landed(f"landing/products/{name}")) for name in plain] == [False] * len(plain)
    assert [needs_staging(landed(f"landing/products/{name}")) for name in odd] == [True] * len(odd)
    assert staging_key(PRODUCTS, landed("landing/products/10:00.csv").object) == "_staging/products/0a1b.csv"
    gzipped = landed("landing/products/a:b.csv.gz", "9f-2").object
    assert staging_key(PRODUCTS, gzipped) == "_staging/products/9f-2.csv.gz"
