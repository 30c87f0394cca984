"""End to end: `lakehouse land`, `run` and `query`, in this process on the shared Spark session.

The lab data's run (`lab_lakehouse`, on a moto S3 root) is shared with the query and UI tests; the
dirty-data and replay cases use a few dozen hand-written rows on a folder root of their own.
"""

import hashlib
import os
import re
from pathlib import Path

import boto3
import pytest
from dagster import AssetKey, AssetRecordsFilter, DagsterInstance
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from glue_scripts.contracts import CONTRACTS
from glue_scripts.delta_tables import ensure_table, read_table
from glue_scripts.stages import processed_schema
from lakehouse_assets import cli
from lakehouse_assets.cli.query import refused_statement
from tests.lab_fixtures import LAB_GROUP, LAB_ROWS, LabLakehouse


def counts(spark: SparkSession, root: Path, zone: str) -> dict[str, int]:
    return {name: read_table(spark, str(root / zone / name)).count() for name in ("products", "orders", "order_items")}


def rejected_reasons(spark: SparkSession, root: Path, dataset: str) -> dict[str, int]:
    rows = (
        read_table(spark, str(root / "rejected" / dataset))
        .select(F.explode("reject_reasons").alias("reason"))
        .groupBy("reason")
        .count()
        .collect()
    )
    return {row.reason: row["count"] for row in rows}


def s3_counts(spark: SparkSession, lab: LabLakehouse, zone: str) -> dict[str, int]:
    return {name: read_table(spark, lab.store.spark_path(f"{zone}/{name}")).count() for name in LAB_ROWS}


@pytest.mark.e2e
@pytest.mark.xdist_group(LAB_GROUP)
def test_the_lab_data_run_prints_the_summary_and_fills_the_tables(
    lab_lakehouse: LabLakehouse, s3_spark: SparkSession
) -> None:
    out = lab_lakehouse.summary
    assert "products               1       1,000       1,000           0           0           0           0" in out
    assert "orders                15       7,500       7,500           0           0           0           0" in out
    assert "order_items           15      40,803      40,803           0           0           0           0" in out
    assert "checks: 19 passed, 0 failed, 0 warnings\n" in out
    assert "archived: 31 files" in out
    assert s3_counts(s3_spark, lab_lakehouse, "processed") == LAB_ROWS
    assert s3_counts(s3_spark, lab_lakehouse, "rejected") == {"products": 0, "orders": 0, "order_items": 0}
    assert len(lab_lakehouse.store.list("archived")) == 31
    assert lab_lakehouse.store.list("landing") == []
    # Partitioned on S3 as on a folder: one `date=` prefix per order date of the 15 lab days.
    lab_days = [f"date=2025-04-{day:02d}" for day in range(1, 16)]
    for dataset in ("orders", "order_items"):
        keys = [obj.key for obj in lab_lakehouse.store.list(f"processed/{dataset}")]
        assert sorted({key.split("/")[2] for key in keys if key.split("/")[2].startswith("date=")}) == lab_days


@pytest.mark.e2e
@pytest.mark.xdist_group(LAB_GROUP)
def test_query_reads_the_lab_tables_and_refuses_to_change_them(
    lab_lakehouse: LabLakehouse, s3_spark: SparkSession
) -> None:
    # 1,945,810.41: the sum of total_amount over the 15 order files, computed with Python csv + Decimal.
    status, out, _ = lab_lakehouse.cli("query", "select count(*) as n, sum(total_amount) as revenue from orders")
    assert status == 0
    assert out.splitlines()[:2] == ["n | revenue", "7500 | 1945810.41"]
    status, _, err = lab_lakehouse.cli("query", "DELETE FROM orders")
    assert status == 2
    assert err == "lakehouse query runs queries only; DeleteFromTable is refused (the tables are read-only here)\n"
    assert s3_counts(s3_spark, lab_lakehouse, "processed")["orders"] == 7500


PRODUCTS_HEADER = "product_id,department_id,department,product_name"
ORDERS_HEADER = "order_num,order_id,user_id,order_timestamp,total_amount,date"
ITEMS_HEADER = "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date"


def write_csv(file: Path, header: str, lines: list[str]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(f"{line}\n" for line in [header, *lines]))


@pytest.mark.e2e
def test_a_dirty_delivery_rejects_every_reason_code_once(
    spark: SparkSession, tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """100 good products and orders, 130 good items (as the lab data looks), and one dirty row per rule.

    Few enough bad rows that every check passes (under 5 %: the rejection-rate warning stays quiet).
    """
    source = tmp_path / "dirty"
    good_products = [f"{i},4,Books,Product_{i}" for i in range(1, 101)]
    write_csv(
        source / "products.csv",
        PRODUCTS_HEADER,
        [
            *good_products,
            ",1,Books,NoKey",
            "abc,1,Books,BadKey",
            "1001,x,,BadDepartment",
            "1002,1,Books",
            "1,4,Books,Product_1",
        ],
    )
    good_orders = [
        f"1,{10000 + i},{1990 + i},2025-04-01T11:27:00,{'229.53' if i == 0 else f'{10 + i}.00'},2025-04-01"
        for i in range(100)
    ]
    write_csv(
        source / "orders" / "2025-04-01.csv",
        ORDERS_HEADER,
        [
            *good_orders,
            "1,20000,1,2025-04-01T10:00:00,-1.00,2025-04-01",
            "1,20001,1,2025-04-01 25:00:00,1.00,2025-04-01",
            "1,20002,1,2025-04-01T10:00:00,1.00,2025-04-03",
            "x,20003,,2025-04-01T10:00:00,1.00,2025-04-01",
            "1,20004,1,2025-04-01T10:00:00,1.00,2025-13-01",
        ],
    )
    good_items = [
        f"{1 + i},{10000 + i % 100},{1990 + i % 100},,{i % 100 + 1},{1 + i // 100},0,2025-04-01T11:27:00,2025-04-01"
        for i in range(130)
    ]
    write_csv(
        source / "order_items" / "2025-04-01.csv",
        ITEMS_HEADER,
        [
            *good_items,
            "50001,99999,1990,,88,1,0,2025-04-01T11:27:00,2025-04-01",
            "50002,10000,1990,,5000,1,0,2025-04-01T11:27:00,2025-04-01",
            "50003,10000,1,,88,1,0,2025-04-01T11:27:00,2025-04-01",
            "50004,10000,1990,-3,88,0,5,2025-04-01T11:27:00,2025-04-01",
            "1,10000,1990,10,88,1,0,2025-04-01T11:27:00,2025-04-01",
            ",10000,1990,10,88,1,0,2025-04-01T11:27:00,2025-04-01",
        ],
    )
    root = tmp_path / "lakehouse"
    assert cli.main(["land", str(source), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "products               1         105         100           5           0           0           0" in out
    assert "orders                 1         105         100           5           0           0           0" in out
    # Two items wait for a parent (an unknown order, an unknown product): waiting, not rejected.
    assert "order_items            1         136         130           4           2           0           0" in out
    assert "checks: 19 passed, 0 failed, 0 warnings\n" in out
    # In the UI, rejected/orders shows the batch's first rejected rows with their reasons.
    with DagsterInstance.get() as instance:
        preview = latest_metadata(instance, "rejected/orders")["preview"].splitlines()
    assert preview[0] == (
        "| source_file | source_line | reject_reasons | order_num | order_id | user_id | order_timestamp | "
        "total_amount | date |"
    )
    assert preview[2] == (
        "| landing/orders/2025-04-01.csv | 102 | ['invalid_total_amount'] | 1 | 20000 | 1 | 2025-04-01T10:00:00 | "
        "-1.00 | 2025-04-01 |"
    )
    assert len(preview) == 2 + 5

    # A mostly wrong orders file (19 of 20 rows invalid) is held in landing: nothing merged, the run fails
    # and says how to go on; the items of its one good order are not processed while it is held.
    wrong = tmp_path / "wrong"
    write_csv(
        wrong / "orders" / "mostly_wrong.csv",
        ORDERS_HEADER,
        ["1,10100,1990,2025-04-01T11:27:00,10.00,2025-04-01"]
        + [f"1,{20100 + i},1,2025-04-01T10:00:00,-1.00,2025-04-01" for i in range(19)],
    )
    write_csv(
        wrong / "order_items" / "children.csv",
        ITEMS_HEADER,
        [f"{60001 + i},10100,1990,,88,{1 + i},0,2025-04-01T11:27:00,2025-04-01" for i in range(2)],
    )
    assert cli.main(["land", str(wrong), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "orders                 1          20           0          19           0           1           0" in out
    reason = (
        "rejected 19 of 20 rows (95.0%), over the rejection limit of 50.0% "
        "(LAKEHOUSE_REJECTION_MAX_SHARE; applied from 20 rows, LAKEHOUSE_REJECTION_MIN_ROWS)"
    )
    assert (
        "  order_items: not processed in this run: orders held in landing (see below)\n"
        "\n"
        "held in landing by the rejection limit:\n"
        f"  landing/orders/mostly_wrong.csv: {reason}\n"
        "  nothing of them is in processed/orders; their rejected rows are in rejected_orders\n"
        "  to let them through as they are: lakehouse release landing/orders/mostly_wrong.csv --accept-rejections\n"
    ) in out
    assert "  FAILED processed/orders:rejection_limit\n  WARNING processed/orders:rejection_rate\n" in out
    # The checks of the tables downstream of the held batch did not run (their steps were skipped).
    checks = next(line for line in out.splitlines() if line.startswith("checks: "))
    # products: 1 passed, 4 not evaluated; orders: 3 passed, rejection_rate warns, rejection_limit fails.
    assert checks.startswith("checks: 4 passed, 1 failed, 1 warning, 4 not evaluated (no file of their data set")
    assert "not run (the checks of " in checks and "processed/order_items" in checks
    assert "archived: nothing (not reached)" in out
    assert counts(spark, root, "processed") == {"products": 100, "orders": 100, "order_items": 130}
    # Every file's fate, one command away; the same ledger through SQL.
    assert cli.main(["files", "--status", "held", "--root", str(root)]) == 0
    header, held, count = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "dataset",
        "file",
        "digest",
        "loaded_at",
        "status",
        "read",
        "accepted",
        "rejected",
        "waiting",
        "detail",
    ]
    wrong_text = (wrong / "orders" / "mostly_wrong.csv").read_text()
    assert held.split(maxsplit=10) == [
        "orders",
        "landing/orders/mostly_wrong.csv",
        md5(wrong_text)[:12],
        *held.split()[3:5],
        "held",
        "20",
        "1",
        "19",
        "0",
        reason,
    ]
    assert count == "(1 file)"
    sql = "SELECT stage, count(*) AS n FROM file_loads WHERE dataset = 'orders' GROUP BY stage ORDER BY stage"
    assert cli.main(["query", sql, "--root", str(root)]) == 0
    assert capsys.readouterr().out == "stage | n\narchived | 1\nheld | 1\nprocessed | 1\nraw | 2\n(4 rows)\n"
    assert cli.main(["release", "landing/orders/mostly_wrong.csv", "--root", str(root)]) == 2
    assert "pass --accept-rejections" in capsys.readouterr().err
    assert cli.main(["release", "orders/children.csv", "--accept-rejections", "--root", str(root)]) == 2
    assert capsys.readouterr().err == (
        "lakehouse release: not held in landing/orders: landing/orders/children.csv "
        "(held there: landing/orders/mostly_wrong.csv)\n"
    )
    command = ["release", "landing/orders/mostly_wrong.csv", "--accept-rejections", "--root", str(root)]
    assert cli.main(command) == 0
    assert capsys.readouterr().out.startswith("released landing/orders/mostly_wrong.csv\n")

    # Released, it goes through with its one good order; beside it, one stale row alone is under the
    # limit's minimum batch size (20 rows): rejected, and nothing held.
    late = tmp_path / "late"
    write_csv(late / "orders" / "late.csv", ORDERS_HEADER, ["90,10000,1990,2025-04-01T11:26:00,1.00,2025-04-01"])
    (late / "orders" / "empty.csv").write_text("")  # quarantined: its reason shows on its landing/files partition
    assert cli.main(["land", str(late), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "orders                 2          21           1          20           0           0           1" in out
    assert "order_items            1           2           2           0           0           0           0" in out
    assert "archived: 3 files" in out
    assert counts(spark, root, "processed") == {"products": 100, "orders": 101, "order_items": 132}
    assert list((root / "landing" / "orders").iterdir()) == []
    with DagsterInstance.get() as instance:
        empty = latest_metadata(instance, "landing/files", f"orders/empty.csv#{md5('')}")
    assert (empty["stage"], empty["reason"]) == ("quarantined", "empty file: 0 bytes")
    assert rejected_reasons(spark, root, "products") == {
        "missing_primary_key": 1,
        "invalid_product_id": 1,
        "invalid_department_id": 1,
        "missing_department": 1,
        "malformed_row": 1,
        "duplicate_primary_key": 1,
    }
    assert rejected_reasons(spark, root, "orders") == {
        "invalid_total_amount": 20,
        "invalid_order_timestamp": 1,
        "date_mismatch": 1,
        "invalid_order_num": 1,
        "missing_user_id": 1,
        "invalid_date": 1,
        "stale_record": 1,
    }
    assert rejected_reasons(spark, root, "order_items") == {
        "unknown_order_id": 1,
        "unknown_product_id": 1,
        "user_id_mismatch": 1,
        "invalid_days_since_prior_order": 1,
        "invalid_add_to_cart_order": 1,
        "invalid_reordered": 1,
        "duplicate_primary_key": 1,
        "missing_primary_key": 1,
    }
    stored = read_table(spark, str(root / "processed" / "orders")).where("order_id = 10000").first()
    assert (str(stored.total_amount), stored.order_timestamp.isoformat()) == ("229.53", "2025-04-01T11:27:00")


def latest_metadata(instance: DagsterInstance, asset: str, partition: str | None = None) -> dict[str, object]:
    """The metadata values of an asset's (or one partition's) latest materialization, as the UI shows them."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(AssetKey.from_user_string(asset), asset_partitions=[partition] if partition else None),
        limit=1,
    ).records
    metadata = records[0].asset_materialization.metadata
    return {key: value.value for key, value in metadata.items()}


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def run_id(out: str) -> str:
    """The run id from the summary's first line, `lakehouse run <run id> succeeded (root ...)`."""
    return re.search(r"^lakehouse run (\S+) ", out, re.MULTILINE).group(1)


def file_tags(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    tags = instance.get_run_by_id(run_id).tags
    return {key: value for key, value in tags.items() if "files" in key or "file_count" in key}


@pytest.mark.e2e
def test_a_cli_run_is_tagged_with_its_files_the_same_delivery_again_changes_nothing_and_a_failed_check_archives_nothing(
    spark: SparkSession, tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One root: a run tagged with the files it loaded and archived; a run with nothing landed; the
    same delivery landed again (no table changes, the files are archived again); a run whose blocking
    check fails (the processed table corrupted behind the pipeline's back)."""
    header = "order_num,order_id,user_id,order_timestamp,total_amount,date\n"
    products = "product_id,department_id,department,product_name\n1,1,Books,A\n"
    april_1 = header + "1,10,5,2025-04-01T10:00:00,1.00,2025-04-01\n"
    april_2 = header + "1,11,5,2025-04-02T10:00:00,1.00,2025-04-02\n"
    source, root = tmp_path / "source", tmp_path / "lakehouse"
    (source / "orders").mkdir(parents=True)
    (source / "products.csv").write_text(products)
    (source / "orders" / "2025-04-02.csv").write_text(april_2)
    (source / "orders" / "2025-04-01.csv").write_text(april_1)
    (source / "orders" / "2025-04-03.csv").write_text("")  # quarantined: loaded by the run, never archived
    assert cli.main(["land", str(source), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 0
    first = run_id(capsys.readouterr().out)

    archived = f"products/products.csv#{md5(products)},orders/2025-04-01.csv#{md5(april_1)}," + (
        f"orders/2025-04-02.csv#{md5(april_2)}"
    )
    with DagsterInstance.get() as instance:
        assert instance.get_run_by_id(first).tags["lakehouse/trigger"] == "cli"
        assert file_tags(instance, first) == {
            "lakehouse/file_count": "4",
            "lakehouse/files": f"{archived},orders/2025-04-03.csv#{md5('')}",
            "lakehouse/archived_file_count": "3",
            "lakehouse/archived_files": archived,
        }

    # Nothing new landed: no run is started (no Spark, no Dagster run), and the command says so.
    with DagsterInstance.get() as instance:
        runs_before = len(instance.get_runs())
    assert cli.main(["run", "--root", str(root)]) == 0
    assert capsys.readouterr().out == (
        f"lakehouse run: no data file in {root}/landing/<dataset>/: nothing to do, no run started\n"
    )
    with DagsterInstance.get() as instance:
        assert len(instance.get_runs()) == runs_before

    # The same files again (the quarantined empty one aside): nothing new, no table changes.
    again = tmp_path / "again"
    (again / "orders").mkdir(parents=True)
    (again / "products.csv").write_text(products)
    (again / "orders" / "2025-04-01.csv").write_text(april_1)
    (again / "orders" / "2025-04-02.csv").write_text(april_2)
    assert cli.main(["land", str(again), "--root", str(root)]) == 0
    capsys.readouterr()
    tables_before = {zone: counts(spark, root, zone) for zone in ("raw", "processed", "rejected")}
    assert cli.main(["run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "orders                 0           0           0           0           0           0           0" in out
    assert (
        "nothing new: the 3 landed files had all been processed before (the same content, under the same or "
        "another name); no table changed, and they are archived again"
    ) in out
    # The checks of the data sets with no file in this run are not evaluated, and said so.
    assert "checks: 7 passed, 0 failed, 0 warnings, 12 not evaluated (no file of their data set in this run)\n" in out
    assert "archived: 3 files\n" in out
    assert {zone: counts(spark, root, zone) for zone in ("raw", "processed", "rejected")} == tables_before
    assert list((root / "landing").rglob("*.csv")) == []
    assert len(list((root / "archived").rglob("*.csv"))) == 3  # archived again, over the identical copies

    # A second row with key 1, behind the pipeline's back: the next run's primary_key check fails.
    table = read_table(spark, str(root / "processed" / "products"))
    table.limit(1).write.format("delta").mode("append").save(str(root / "processed" / "products"))
    (source / "second").mkdir()
    (source / "second" / "products.csv").write_text("product_id,department_id,department,product_name\n2,1,Books,B\n")
    assert cli.main(["land", str(source / "second"), "--root", str(root)]) == 0
    capsys.readouterr()
    assert cli.main(["run", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAILED processed/products:primary_key" in out
    assert "archived: nothing (not reached)" in out
    assert [p.name for p in (root / "landing" / "products").iterdir()] == ["products.csv"]


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("SELECT 1", None),
        ("WITH a AS (SELECT 1 AS x) SELECT * FROM a", None),
        ("select count(*) from orders where user_id in (select user_id from order_items)", None),
        ("DELETE FROM delta.`/tmp/t`", "DeleteFromTable"),
        ("INSERT INTO orders VALUES (1)", "InsertInto"),
        ("WITH a AS (SELECT 1) INSERT INTO t SELECT * FROM a", "InsertInto"),
        ("INSERT OVERWRITE DIRECTORY '/tmp/y' SELECT 1", "InsertIntoDir"),
        ("UPDATE orders SET total_amount = 0", "UpdateTable"),
        ("MERGE INTO t USING s ON t.a = s.a WHEN MATCHED THEN DELETE", "MergeIntoTable"),
        ("CREATE TABLE t AS SELECT 1", "CreateTableAsSelect"),
        ("DROP TABLE orders", "DropTable"),
        ("TRUNCATE TABLE orders", "TruncateTable"),
        ("VACUUM '/tmp/t'", "VacuumTable"),
        ("RESTORE TABLE delta.`/tmp/t` TO VERSION AS OF 0", "RestoreTable"),
        ("SET spark.sql.ansi.enabled=true", "Set"),
    ],
)
def test_query_refuses_anything_but_a_query(spark: SparkSession, sql: str, refused: str | None) -> None:
    assert refused_statement(spark, sql) == refused


# The operator's mistakes: one line on stderr, `lakehouse <command>: ...`, exit status 2, no traceback.


def test_land_says_what_it_landed_and_what_it_skipped_and_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, root = tmp_path / "source", tmp_path / "new" / "lakehouse"  # land creates the root folder
    for name in (
        "ORDERS.CSV",
        "Products.xlsx",
        "order_items.csv.gz",
        "notes.txt",
        "orders_2025-04-02.csv",
        "orders/2025-04-01.Csv",
        "orders/ORDERS.CSV",
        "orders/.hidden.csv",
        "orders/2025-04-03.csv.part",
        "orders/april/2025-04-04.csv",
        "extra/x.csv",
    ):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(name)
    assert cli.main(["land", str(source), "--root", str(root)]) == 0
    assert capsys.readouterr() == (
        "landed products/Products.xlsx\n"
        "landed orders/ORDERS.CSV\n"
        "landed orders/2025-04-01.Csv\n"
        "landed order_items/order_items.csv.gz\n"
        "skipped extra/x.csv: no data set named extra (products, orders, order_items)\n"
        "skipped notes.txt: not a data file (.csv, .csv.gz, .xlsx)\n"
        "skipped orders/.hidden.csv: a hidden file (its name starts with . or _)\n"
        "skipped orders/2025-04-03.csv.part: an upload in progress (.part in its name)\n"
        "skipped orders/ORDERS.CSV: lands as orders/ORDERS.CSV, as ORDERS.CSV does: rename one of them\n"
        "skipped orders/april/2025-04-04.csv: in a folder inside orders/ (only the files directly in orders/ are "
        "landed)\n"
        "skipped orders_2025-04-02.csv: not named for a data set (products, orders, order_items): <dataset>.csv or "
        "<dataset>/\n"
        f"landed 4 files from {source} into {root}/landing/\n",
        "",
    )
    landed = sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())
    assert landed == [
        "landing/order_items/order_items.csv.gz",
        "landing/orders/2025-04-01.Csv",
        "landing/orders/ORDERS.CSV",
        "landing/products/Products.xlsx",
    ]
    assert (root / "landing" / "orders" / "ORDERS.CSV").read_text() == "ORDERS.CSV"


def test_land_refuses_a_folder_with_nothing_to_land(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, root = tmp_path / "source", tmp_path / "lakehouse"
    source.mkdir()
    assert cli.main(["land", str(source), "--root", str(root)]) == 0  # an empty folder: nothing to do
    assert capsys.readouterr() == (f"landed 0 files from {source} into {root}/landing/\n", "")
    (source / "Orders.txt").write_text("")
    assert cli.main(["land", str(source), "--root", str(root)]) == 2
    assert capsys.readouterr() == (
        "skipped Orders.txt: not a data file (.csv, .csv.gz, .xlsx)\n",
        f"lakehouse land: nothing to land in {source}: no data file (.csv, .csv.gz, .xlsx) named "
        "<dataset>.<suffix> or in a <dataset>/ folder (data sets: products, orders, order_items)\n",
    )


@pytest.fixture
def no_exec(monkeypatch: pytest.MonkeyPatch) -> None:
    """`lakehouse dev` must stop before it replaces the test process with `dagster dev`."""

    def refuse(*args: object) -> None:
        raise AssertionError(f"os.execv{args}")

    monkeypatch.setattr(os, "execv", refuse)


@pytest.mark.parametrize("command", [["run"], ["query", "SELECT 1"]])
def test_run_and_query_need_an_existing_root_folder(
    command: list[str], tmp_path: Path, dagster_home: Path, no_exec: None, capsys: pytest.CaptureFixture[str]
) -> None:
    missing, file = tmp_path / "missing", tmp_path / "file"
    file.write_text("")
    assert cli.main([*command, "--root", str(missing)]) == 2
    assert capsys.readouterr() == (
        "",
        f"lakehouse {command[0]}: no lakehouse root at {missing} (no such folder): give --root (or LAKEHOUSE_ROOT) "
        f"an existing folder, or land files first: lakehouse land DIR --root {missing}\n",
    )
    assert cli.main([*command, "--root", str(file)]) == 2
    assert capsys.readouterr() == (
        "",
        f"lakehouse {command[0]}: the root {file} is a file, not a folder: give --root a folder or "
        "s3://bucket/prefix\n",
    )


def test_dev_creates_a_missing_root_folder_but_not_over_a_file(
    tmp_path: Path, dagster_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    started: list[tuple[object, ...]] = []
    monkeypatch.setattr(os, "execve", lambda *args: started.append(args))
    missing, file = tmp_path / "new" / "lakehouse", tmp_path / "file"
    file.write_text("")
    assert cli.main(["dev", "--root", str(missing)]) == 0
    assert missing.is_dir() and len(started) == 1
    # `dagster dev` gets the root in its environment; this process's is left as it was.
    assert started[0][2]["LAKEHOUSE_ROOT"] == str(missing)
    assert os.environ.get("LAKEHOUSE_ROOT") != str(missing)
    assert cli.main(["dev", "--root", str(file)]) == 2
    assert capsys.readouterr().err == (
        f"lakehouse dev: the root {file} is a file, not a folder: give --root a folder or s3://bucket/prefix\n"
    )
    assert len(started) == 1


def test_land_creates_a_root_folder_but_not_over_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source, file = tmp_path / "source", tmp_path / "file"
    source.mkdir()
    (source / "products.csv").write_text(PRODUCTS_HEADER + "\n")
    file.write_text("")
    assert cli.main(["land", str(source), "--root", str(file)]) == 2
    assert capsys.readouterr() == (
        "",
        f"lakehouse land: the root {file} is a file, not a folder: give --root a folder or s3://bucket/prefix\n",
    )
    assert cli.main(["land", str(source), "--root", str(file / "lakehouse")]) == 2
    assert capsys.readouterr() == (
        "",
        f"lakehouse land: cannot create the root {file}/lakehouse: {file} is a file, not a folder\n",
    )
    assert file.read_text() == ""


@pytest.fixture
def no_aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """No AWS credentials anywhere (variables, files, instance metadata), and a fresh default boto3 session."""
    for name in [name for name in os.environ if name.startswith("AWS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)


@pytest.mark.parametrize("command", [["run"], ["land", "SOURCE"], ["query", "SELECT 1"], ["dev"]])
def test_an_s3_root_without_credentials_is_one_line(
    command: list[str],
    tmp_path: Path,
    dagster_home: Path,
    no_aws_credentials: None,
    no_exec: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "products.csv").write_text(PRODUCTS_HEADER + "\n")
    argv = [str(tmp_path) if arg == "SOURCE" else arg for arg in command]
    assert cli.main([*argv, "--root", "s3://lakehouse-bucket/x"]) == 2
    assert capsys.readouterr() == (
        "",
        f"lakehouse {command[0]}: cannot use the root s3://lakehouse-bucket/x: Unable to locate credentials "
        "(NoCredentialsError); set AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)\n",
    )


def test_an_unreachable_s3_endpoint_is_one_line(
    dagster_home: Path, no_aws_credentials: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",  # the discard port: nothing listens
        "AWS_ACCESS_KEY_ID": "fake",
        "AWS_SECRET_ACCESS_KEY": "fake",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_MAX_ATTEMPTS": "1",
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["run", "--root", "s3://lakehouse-bucket/x"]) == 2
    assert capsys.readouterr() == (
        "",
        "lakehouse run: cannot use the root s3://lakehouse-bucket/x: Could not connect to the endpoint URL: "
        '"http://127.0.0.1:9/lakehouse-bucket?list-type=2&prefix=x%2Flanding%2Fproducts%2F&encoding-type=url" '
        "(EndpointConnectionError); check the network and the endpoint (AWS_ENDPOINT_URL, AWS_DEFAULT_REGION)\n",
    )


@pytest.mark.parametrize(
    "debug",
    [["--debug", "land", "missing"], ["land", "missing", "--debug"], ["land", "missing", "LAKEHOUSE_DEBUG=1"]],
)
def test_debug_shows_the_traceback(
    debug: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["land", "missing", "--root", "lakehouse"]) == 2
    assert capsys.readouterr().err == "lakehouse land: no such folder: missing\n"
    if "LAKEHOUSE_DEBUG=1" in debug:
        debug.remove("LAKEHOUSE_DEBUG=1")
        monkeypatch.setenv("LAKEHOUSE_DEBUG", "1")
    with pytest.raises(FileNotFoundError, match="no such folder: missing"):
        cli.main([*debug, "--root", "lakehouse"])


@pytest.fixture(scope="module")
def query_root(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root with the three processed tables, empty."""
    root = tmp_path_factory.mktemp("query") / "lakehouse"
    for contract in CONTRACTS.values():
        ensure_table(
            spark, str(root / "processed" / contract.name), processed_schema(contract), contract.partition_column
        )
    return root


@pytest.mark.parametrize(
    ("sql", "err"),
    [
        ("SELECT count(*) FROM orders", None),
        (
            "SELECT * FORM orders",
            "[PARSE_SYNTAX_ERROR] Syntax error at or near 'orders': extra input 'orders'.(line 1, pos 14)",
        ),
        ("SELECT * FROM ordrs", "no table `ordrs` (line 1 pos 14); the tables are: products, orders, order_items"),
        (
            "SELECT totl FROM orders",
            "[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column or function parameter with name `totl` cannot be resolved. "
            "Did you mean one of the following? [`date`, `run_id`, `order_id`, `user_id`, `order_num`].; line 1 pos 7",
        ),
    ],
)
def test_query_says_what_is_wrong_with_the_sql_in_one_line(
    spark: SparkSession, query_root: Path, sql: str, err: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    status = cli.main(["query", sql, "--root", str(query_root)])
    out, error = capsys.readouterr()
    if err is None:
        assert (status, out, error) == (0, "count(1)\n0\n(1 row)\n", "")
    else:
        assert (status, out, error) == (2, "", f"lakehouse query: {err}\n")
