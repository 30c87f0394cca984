"""End to end: `lakehouse land`, `run` and `query`, in this process on the shared Spark session.

The lab data's run (`lab_lakehouse`, on a moto S3 root) is shared with the query, replay and UI
tests; the dirty-data cases use a few dozen hand-written rows on a folder root of their own.
"""

import hashlib
import re
from pathlib import Path

import pytest
from dagster import DagsterInstance
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from glue_scripts.delta_tables import read_table
from lakehouse_assets import cli
from tests.lab_fixtures import LAB_DATA, LAB_GROUP, LAB_ROWS, LabLakehouse


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
    assert "products          1      1,000      1,000          0            0" in out
    assert "orders           15      7,500      7,500          0            0" in out
    assert "order_items      15     40,803     40,803          0            0" in out
    assert "checks: 19 passed, 0 failed" in out
    assert "archived: 31 files" in out
    assert s3_counts(s3_spark, lab_lakehouse, "processed") == LAB_ROWS
    assert s3_counts(s3_spark, lab_lakehouse, "rejected") == {"products": 0, "orders": 0, "order_items": 0}
    assert len(lab_lakehouse.store.list("archived")) == 31
    assert lab_lakehouse.store.list("landing") == []


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


@pytest.mark.e2e
@pytest.mark.xdist_group(LAB_GROUP)
def test_the_same_delivery_again_changes_no_table(lab_lakehouse: LabLakehouse, s3_spark: SparkSession) -> None:
    assert lab_lakehouse.cli("land", str(LAB_DATA))[0] == 0
    status, out, err = lab_lakehouse.cli("run")
    assert status == 0, out + err
    assert "order_items       0          0          0          0            0" in out
    assert s3_counts(s3_spark, lab_lakehouse, "processed") == LAB_ROWS
    assert s3_counts(s3_spark, lab_lakehouse, "raw") == LAB_ROWS
    assert lab_lakehouse.store.list("landing") == []
    assert len(lab_lakehouse.store.list("archived")) == 31  # archived again, over identical copies


PRODUCTS_HEADER = "product_id,department_id,department,product_name"
ORDERS_HEADER = "order_num,order_id,user_id,order_timestamp,total_amount,date"
ITEMS_HEADER = "id,order_id,user_id,days_since_prior_order,product_id,add_to_cart_order,reordered,order_timestamp,date"


def write_csv(file: Path, header: str, lines: list[str]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text("".join(f"{line}\n" for line in [header, *lines]))


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
    assert "products          1        105        100          5            0" in out
    assert "orders            1        105        100          5            0" in out
    assert "order_items       1        136        130          6            0" in out
    assert "checks: 19 passed, 0 failed" in out

    late = tmp_path / "late"
    (late / "orders").mkdir(parents=True)
    (late / "orders" / "late.csv").write_text(
        "order_num,order_id,user_id,order_timestamp,total_amount,date\n90,10000,1990,2025-04-01T11:26:00,1.00,2025-04-01\n"
    )
    assert cli.main(["land", str(late), "--root", str(root)]) == 0
    # That batch is one stale row: 100 % rejected, over the blocking rejection limit (50 %), so the
    # run fails and the file stays in landing; the row is in rejected/ all the same.
    assert cli.main(["run", "--root", str(root)]) == 1
    assert "FAILED processed/orders:rejection_limit" in capsys.readouterr().out
    assert [p.name for p in (root / "landing" / "orders").iterdir()] == ["late.csv"]
    assert counts(spark, root, "processed") == {"products": 100, "orders": 100, "order_items": 130}
    assert rejected_reasons(spark, root, "products") == {
        "missing_primary_key": 1,
        "invalid_product_id": 1,
        "invalid_department_id": 1,
        "missing_department": 1,
        "malformed_row": 1,
        "duplicate_primary_key": 1,
    }
    assert rejected_reasons(spark, root, "orders") == {
        "invalid_total_amount": 1,
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


def test_a_failed_blocking_check_fails_the_run_and_archives_nothing(
    spark: SparkSession, tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "lakehouse"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir(), second.mkdir()
    (first / "products.csv").write_text("product_id,department_id,department,product_name\n1,1,Books,A\n")
    (second / "products.csv").write_text("product_id,department_id,department,product_name\n2,1,Books,B\n")
    assert cli.main(["land", str(first), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 0
    # Corrupt the processed table behind the pipeline's back: a second row with key 1.
    table = read_table(spark, str(root / "processed" / "products"))
    table.limit(1).write.format("delta").mode("append").save(str(root / "processed" / "products"))
    capsys.readouterr()

    assert cli.main(["land", str(second), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAILED processed/products:primary_key" in out
    assert "archived: nothing (not reached)" in out
    assert [p.name for p in (root / "landing" / "products").iterdir()] == ["products.csv"]


def test_a_batch_rejected_over_the_limit_fails_the_run_and_stays_in_landing(
    spark: SparkSession, tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, source = tmp_path / "lakehouse", tmp_path / "source"
    source.mkdir()
    (source / "products.csv").write_text(
        "product_id,department_id,department,product_name\n1,1,Books,A\nx,1,Books,B\n3,y,Books,C\n"
    )
    assert cli.main(["land", str(source), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 1
    out = capsys.readouterr().out
    assert "FAILED processed/products:rejection_limit" in out  # 2 of 3 rejected, over the default 0.5
    assert "archived: nothing (not reached)" in out
    assert [p.name for p in (root / "landing" / "products").iterdir()] == ["products.csv"]


def md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def run_id(out: str) -> str:
    """The run id from the summary's first line, `lakehouse run <run id> succeeded (root ...)`."""
    return re.search(r"^lakehouse run (\S+) ", out, re.MULTILINE).group(1)


def file_tags(instance: DagsterInstance, run_id: str) -> dict[str, str]:
    tags = instance.get_run_by_id(run_id).tags
    return {key: value for key, value in tags.items() if "files" in key or "file_count" in key}


def test_a_cli_run_is_tagged_with_the_files_it_loaded_and_archived(
    spark: SparkSession, tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
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
    assert cli.refused_statement(spark, sql) == refused
