"""The data generator: deterministic, shaped like the lab data, and its manifest exact.

The last tests run the real stages on a tiny generated set (about 1,400 rows, every kind of dirty row)
and compare what the pipeline accepted and rejected, per file and per reason, with the
manifest: once with every file in one run, once with one run per day (where stale copies are
`stale_record`, not duplicates).
"""

from __future__ import annotations

import csv
import hashlib
import re
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import SparkSession

from glue_scripts.contracts import CONTRACTS, ORDER_ITEMS, PRODUCTS
from glue_scripts.stages import archive_landed, ingest_landing, process_batch
from glue_scripts.storage import LocalStore
from lakehouse_assets import cli
from lakehouse_assets.tooling.generator import (
    DUPLICATE,
    STALE,
    Shape,
    dirty_kinds,
    generate,
    one_run_reason,
)
from tests.generated_data import expected_per_file, per_file
from tests.helpers import LAB_DATA

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
TINY: dict[str, Any] = {"scale": 2.5e-5, "days": 2, "dirty_share": 0.3, "seed": 7}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:00$")
AMOUNT = re.compile(r"^\d+\.\d{2}$")


def digests(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    arguments = {"scale": 0.0005, "days": 3, "dirty_share": 0.05}
    generate(tmp_path / "a", seed=1, **arguments)
    generate(tmp_path / "b", seed=1, **arguments)
    generate(tmp_path / "c", seed=2, **arguments)
    first = digests(tmp_path / "a")
    assert first == digests(tmp_path / "b")
    assert sorted(first) == sorted(digests(tmp_path / "c"))
    assert all(first[name] != digest for name, digest in digests(tmp_path / "c").items() if name != "manifest.json")


def test_layout_headers_and_counts_match_the_manifest(tmp_path: Path) -> None:
    manifest = generate(tmp_path, scale=0.0005, days=3, dirty_share=0.1, seed=3, start_date="2025-06-30")
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.csv")) == [
        "order_items/2025-06-30.csv",
        "order_items/2025-07-01.csv",
        "order_items/2025-07-02.csv",
        "orders/2025-06-30.csv",
        "orders/2025-07-01.csv",
        "orders/2025-07-02.csv",
        "products/products.csv",
    ]
    for name, dataset in manifest["datasets"].items():
        lab_file = LAB_DATA / "products.csv" if name == "products" else LAB_DATA / name / "2025-04-01.csv"
        lab_header = lab_file.read_text().splitlines()[0]
        for relative, figures in dataset["files"].items():
            lines = (tmp_path / relative).read_text().splitlines()
            assert lines[0] == lab_header == ",".join(CONTRACTS[name].column_names)
            assert len(lines) - 1 == figures["rows"] == figures["clean"] + sum(figures["dirty"].values())
        assert (
            dataset["rows"] == dataset["clean"] + dataset["dirty"] == sum(f["rows"] for f in dataset["files"].values())
        )
        assert dataset["dirty"] == sum(dataset["dirty_by_kind"].values())
        assert list(dataset["dirty_by_kind"]) == dirty_kinds(CONTRACTS[name])
        # A tenth of the rows, give or take the turns of the accumulator.
        assert dataset["dirty"] == pytest.approx(dataset["rows"] * 0.1, abs=2)
    shape = Shape.for_scale(0.0005)
    assert manifest["datasets"]["products"]["clean"] == shape.products == 100  # the floor
    assert manifest["datasets"]["orders"]["clean"] == shape.orders == 1700
    assert manifest["datasets"]["order_items"]["clean"] == pytest.approx(1700 * 32 / 3.4, rel=0.05)
    assert manifest["datasets"]["orders"]["dirty_by_kind"][STALE] > 0
    assert manifest["datasets"]["orders"]["files"]["orders/2025-06-30.csv"]["dirty"].get(STALE) is None


def test_removing_the_dirty_rows_gives_the_clean_files_back(tmp_path: Path) -> None:
    generate(tmp_path / "clean", scale=0.0003, days=2, dirty_share=0.0, seed=5)
    manifest = generate(tmp_path / "dirty", scale=0.0003, days=2, dirty_share=0.2, seed=5)
    for dataset in manifest["datasets"].values():
        for relative, figures in dataset["files"].items():
            clean = (tmp_path / "clean" / relative).read_text().splitlines()
            dirty = iter((tmp_path / "dirty" / relative).read_text().splitlines())
            assert all(line in dirty for line in clean), relative  # the clean lines, in order, within the dirty ones
            assert len((tmp_path / "dirty" / relative).read_text().splitlines()) - len(clean) == sum(
                figures["dirty"].values()
            )


def test_clean_rows_follow_the_lab_facts(tmp_path: Path) -> None:
    generate(tmp_path, scale=0.0005, days=4, seed=11)
    products = read_rows(tmp_path / "products" / "products.csv")
    product_ids = [int(row["product_id"]) for row in products]
    assert product_ids == list(range(1, len(products) + 1))
    assert all(row["department"] and row["product_name"] and "," not in row["product_name"] for row in products)
    orders: dict[int, dict[str, str]] = {}
    items: list[dict[str, str]] = []
    for day in ("2025-04-01", "2025-04-02", "2025-04-03", "2025-04-04"):
        for row in read_rows(tmp_path / "orders" / f"{day}.csv"):
            assert int(row["order_id"]) not in orders
            orders[int(row["order_id"])] = row
            assert row["date"] == day == row["order_timestamp"][:10]
            assert TIMESTAMP.match(row["order_timestamp"]) and AMOUNT.match(row["total_amount"])
        items += read_rows(tmp_path / "order_items" / f"{day}.csv")
    assert len({row["id"] for row in items}) == len(items)
    per_order: Counter[int] = Counter()
    for item in items:
        order = orders[int(item["order_id"])]
        per_order[int(item["order_id"])] += 1
        assert (item["user_id"], item["order_timestamp"], item["date"]) == (
            order["user_id"],
            order["order_timestamp"],
            order["date"],
        )
        assert 1 <= int(item["product_id"]) <= len(products)
        assert int(item["add_to_cart_order"]) == per_order[int(item["order_id"])]
        assert item["reordered"] in ("0", "1")
        if order["order_num"] == "1":
            assert item["days_since_prior_order"] == "" and item["reordered"] == "0"
        else:
            assert 0 <= int(item["days_since_prior_order"]) <= 3
    assert set(per_order) == set(orders)
    # Each user's orders are numbered 1, 2, 3, ... in order of id.
    by_user: dict[str, list[int]] = {}
    for order_id in sorted(orders):
        by_user.setdefault(orders[order_id]["user_id"], []).append(int(orders[order_id]["order_num"]))
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in by_user.values())


def test_arguments_are_checked(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "x").write_text("")
    with pytest.raises(ValueError, match="not empty"):
        generate(tmp_path / "taken")
    with pytest.raises(ValueError, match="dirty_share"):
        generate(tmp_path / "a", dirty_share=0.6)
    with pytest.raises(ValueError, match="scale"):
        generate(tmp_path / "b", scale=0)


def test_cli_generate_writes_a_folder_that_land_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "generated"
    args = ["generate", "--scale", "0.0002", "--days", "2", "--dirty-share", "0.05", "--seed", "4", "--out", str(out)]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert "order_items" in printed and "rows/s" in printed and str(out / "manifest.json") in printed
    assert cli.main(args) == 2  # not into a folder that is not empty
    root = tmp_path / "lakehouse"
    monkeypatch.delenv("LAKEHOUSE_ROOT", raising=False)
    assert cli.main(["land", str(out), "--root", str(root)]) == 0
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.csv")) == [
        "landing/order_items/2025-04-01.csv",
        "landing/order_items/2025-04-02.csv",
        "landing/orders/2025-04-01.csv",
        "landing/orders/2025-04-02.csv",
        "landing/products/products.csv",
    ]


# ---------------------------------------------------------------------------------------------
# through the real stages


def run_stages(spark: SparkSession, store: LocalStore, run_id: str) -> dict[str, Any]:
    outcomes = {}
    for contract in CONTRACTS.values():
        ingest_landing(spark, store, contract, run_id, NOW)
    for contract in CONTRACTS.values():
        outcomes[contract.name] = process_batch(spark, store, contract, run_id, NOW)
    for contract in CONTRACTS.values():
        archive_landed(spark, store, contract, run_id, NOW)
    return outcomes


def land(store: LocalStore, generated: Path, relatives: list[str]) -> None:
    for relative in relatives:
        store.write_bytes(f"landing/{relative}", (generated / relative).read_bytes())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("tiny")
    manifest = generate(folder / "data", **TINY)
    for name, dataset in manifest["datasets"].items():
        assert all(dataset["dirty_by_kind"].values()), f"every kind of {name} is in the tiny set"
    return folder / "data", manifest


@pytest.mark.e2e
def test_one_run_per_day_makes_stale_records(
    spark: SparkSession, store: LocalStore, tiny: tuple[Path, dict[str, Any]]
) -> None:
    generated, manifest = tiny
    days = sorted({Path(f).stem for f in manifest["datasets"]["orders"]["files"]})
    totals: dict[str, Counter[str]] = {name: Counter() for name in manifest["datasets"]}
    for index, day in enumerate(days):
        files = [f"orders/{day}.csv", f"order_items/{day}.csv"] + (["products/products.csv"] if index == 0 else [])
        land(store, generated, files)
        for name, outcome in run_stages(spark, store, f"r{index}").items():
            totals[name].update(outcome.rejected_by_reason)
            totals[name].update(outcome.waiting_by_reason)
            totals[name]["accepted"] += outcome.rows_accepted
    for name, dataset in manifest["datasets"].items():
        expected = dataset["expected"]["run_per_day"]
        assert totals[name].pop("accepted") == expected["accepted"]
        assert dict(totals[name]) == expected["rejected_by_reason"] | expected["waiting_by_reason"], name
    assert manifest["datasets"]["orders"]["expected"]["run_per_day"]["rejected_by_reason"][STALE] > 0
    assert per_file(spark, store) == expected_per_file(manifest, one_run=False)


def test_one_run_reason() -> None:
    assert one_run_reason(STALE) == DUPLICATE
    assert one_run_reason("invalid_date") == "invalid_date"
    assert dirty_kinds(PRODUCTS) == [
        "malformed_row",
        "missing_primary_key",
        "missing_department_id",
        "missing_department",
        "missing_product_name",
        "invalid_product_id",
        "invalid_department_id",
        "duplicate_primary_key",
    ]
    assert dirty_kinds(ORDER_ITEMS) == [c for c in ORDER_ITEMS.reason_codes if c not in ("not_utf8", "field_too_long")]
