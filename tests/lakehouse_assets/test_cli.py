"""End to end: `lakehouse land` + `lakehouse run` on the lab data, clean and dirtied."""

import hashlib
import re
import shutil
from pathlib import Path

import pytest
from dagster import DagsterInstance
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from glue_scripts.delta_tables import read_table
from lakehouse_assets import cli
from tests.conftest import LAB_DATA

pytestmark = pytest.mark.slow


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


def test_lab_data_run_then_same_delivery_again(
    spark: SparkSession, tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = tmp_path / "lakehouse"
    assert cli.main(["land", str(LAB_DATA), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "products          1      1,000      1,000          0            0" in out
    assert "orders           15      7,500      7,500          0            0" in out
    assert "order_items      15     40,803     40,803          0            0" in out
    assert "checks: 19 passed, 0 failed" in out
    assert "archived: 31 files" in out
    assert counts(spark, root, "processed") == {"products": 1000, "orders": 7500, "order_items": 40803}
    assert counts(spark, root, "rejected") == {"products": 0, "orders": 0, "order_items": 0}
    assert len(list((root / "archived").rglob("*.csv"))) == 31
    assert not list((root / "landing").rglob("*.csv"))

    versions = {name: read_table(spark, str(root / "processed" / name)).count() for name in ("orders",)}
    assert cli.main(["land", str(LAB_DATA), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "order_items       0          0          0          0            0" in out
    assert counts(spark, root, "processed") == {"products": 1000, "orders": 7500, "order_items": 40803}
    assert counts(spark, root, "raw") == {"products": 1000, "orders": 7500, "order_items": 40803}
    assert versions == {"orders": 7500}

    # 1,945,810.41: the sum of total_amount over the 15 order files, computed with Python csv + Decimal.
    assert (
        cli.main(["query", "select count(*) as n, sum(total_amount) as revenue from orders", "--root", str(root)]) == 0
    )
    assert capsys.readouterr().out.splitlines()[:2] == ["n | revenue", "7500 | 1945810.41"]
    assert cli.main(["query", "DELETE FROM orders", "--root", str(root)]) == 2
    assert capsys.readouterr().err == (
        "lakehouse query runs queries only; DeleteFromTable is refused (the tables are read-only here)\n"
    )
    assert counts(spark, root, "processed")["orders"] == 7500


def append(file: Path, *lines: str) -> None:
    with file.open("a") as handle:
        handle.write("".join(line + "\n" for line in lines))


def test_dirty_copy_every_reason_code(
    spark: SparkSession, tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "dirty"
    shutil.copytree(LAB_DATA, source)
    append(
        source / "products.csv",
        ",1,Books,NoKey",
        "abc,1,Books,BadKey",
        "1001,x,,BadDepartment",
        "1002,1,Books",
        "1,4,Books,Product_1_Store",
    )
    append(
        source / "orders" / "2025-04-01.csv",
        "1,20000,1,2025-04-01T10:00:00,-1.00,2025-04-01",
        "1,20001,1,2025-04-01 25:00:00,1.00,2025-04-01",
        "1,20002,1,2025-04-01T10:00:00,1.00,2025-04-03",
        "x,20003,,2025-04-01T10:00:00,1.00,2025-04-01",
        "1,20004,1,2025-04-01T10:00:00,1.00,2025-13-01",
    )
    append(
        source / "order_items" / "2025-04-01.csv",
        "50001,99999,1990,,988,1,0,2025-04-01T11:27:00,2025-04-01",
        "50002,10000,1990,,5000,1,0,2025-04-01T11:27:00,2025-04-01",
        "50003,10000,1,,988,1,0,2025-04-01T11:27:00,2025-04-01",
        "50004,10000,1990,-3,988,0,5,2025-04-01T11:27:00,2025-04-01",
        "1,10000,1990,10,988,1,0,2025-04-01T11:27:00,2025-04-01",
        ",10000,1990,10,988,1,0,2025-04-01T11:27:00,2025-04-01",
    )
    root = tmp_path / "lakehouse"
    assert cli.main(["land", str(source), "--root", str(root)]) == 0
    assert cli.main(["run", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "products          1      1,005      1,000          5            0" in out
    assert "orders           15      7,505      7,500          5            0" in out
    assert "order_items      15     40,809     40,803          6            0" in out
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
    assert counts(spark, root, "processed") == {"products": 1000, "orders": 7500, "order_items": 40803}
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
    tmp_path: Path, dagster_home: Path, capsys: pytest.CaptureFixture[str]
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
