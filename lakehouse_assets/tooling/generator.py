"""Synthetic landing data in the lab's schema, at any size, with an exact count of dirty rows.

The lab sample (49,303 rows) is clean and too small to show how the pipeline behaves as data grows.
Benchmarks and tests need the same schema at chosen sizes, optionally with a known share of rows the
pipeline must reject, and figures they can assert exactly: `generate` writes files `lakehouse land`
accepts and a `manifest.json` of what the pipeline should report. Deterministic (the same arguments
give byte-identical files) and pure Python streamed to disk, so it runs where Spark does not.
"""

from __future__ import annotations

import json
import random
import time
from array import array
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any, TextIO

from glue_scripts.contracts import CONTRACTS, LATE_PARENT_REASONS, ORDER_ITEMS, ORDERS, PRODUCTS, DatasetContract

# Instacart at scale 1 (products, orders, order items; the user count is Instacart's own).
FULL_PRODUCTS = 50_000
FULL_ORDERS = 3_400_000
FULL_ITEMS = 32_000_000
FULL_USERS = 206_209
MIN_PRODUCTS = 100
MIN_USERS = 10
MAX_BASKET = 145
REORDER_PROBABILITY = 0.63  # for a returning user's items: about 59 % reordered overall, as Instacart
MAX_DAYS_SINCE_PRIOR = 30
MAX_DIRTY_SHARE = 0.5  # at most one dirty row per clean row, which keeps every dirty row single-reason

# Key ranges that clean data never reaches (ints, so they stay below 2**31 - 1).
FRESH_KEY_BASE = 1_000_000_000  # keys of dirty rows that are not copies
UNKNOWN_PARENT_BASE = 2_000_000_000  # parents that never exist
MAX_CLEAN_KEY = FRESH_KEY_BASE - 1

DUPLICATE = "duplicate_primary_key"
STALE = "stale_record"
MANIFEST = "manifest.json"
PRODUCTS_FILE = "products/products.csv"

# Instacart's departments (id 21, "missing", left out) with roughly its product count per department.
DEPARTMENTS: tuple[tuple[str, int], ...] = (
    ("Frozen", 4007),
    ("Other", 548),
    ("Bakery", 1516),
    ("Produce", 1684),
    ("Alcohol", 1054),
    ("International", 1139),
    ("Beverages", 4365),
    ("Pets", 972),
    ("Dry Goods Pasta", 1858),
    ("Bulk", 38),
    ("Personal Care", 6563),
    ("Meat Seafood", 907),
    ("Pantry", 5371),
    ("Breakfast", 1115),
    ("Canned Goods", 2092),
    ("Dairy Eggs", 3449),
    ("Household", 3085),
    ("Babies", 1081),
    ("Snacks", 6264),
    ("Deli", 1322),
)
ADJECTIVES = ("Organic", "Classic", "Fresh", "Original", "Natural", "Family Size", "Light", "Premium", "Mini", "Whole")
NOUNS = ("Mix", "Pack", "Blend", "Selection", "Bites", "Bar", "Sauce", "Bag", "Box", "Bundle", "Crisps", "Jar")
# Instacart's orders per hour of day (thousands), hour 0 first.
HOUR_WEIGHTS = (
    22.7, 12.4, 7.5, 5.5, 5.5, 9.6, 30.5, 91.9, 178.2, 257.8, 288.4, 284.7,
    272.8, 277.9, 283.0, 283.6, 272.6, 228.8, 182.9, 140.6, 104.3, 78.1, 61.5, 40.0,
)  # fmt: skip
ZIPF_EXPONENT = 0.75  # top product in about 1.5-2 % of baskets at scale 1, like Instacart's bananas
ORDERS_PER_CHUNK = 4096

# The generator writes rows field by field in these orders: the contracts' column orders (the lab's headers).
PRODUCT_COLUMNS = ("product_id", "department_id", "department", "product_name")
ORDER_COLUMNS = ("order_num", "order_id", "user_id", "order_timestamp", "total_amount", "date")
ITEM_COLUMNS = (
    "id",
    "order_id",
    "user_id",
    "days_since_prior_order",
    "product_id",
    "add_to_cart_order",
    "reordered",
    "order_timestamp",
    "date",
)
for _contract, _columns in ((PRODUCTS, PRODUCT_COLUMNS), (ORDERS, ORDER_COLUMNS), (ORDER_ITEMS, ITEM_COLUMNS)):
    if tuple(_contract.column_names) != _columns:
        raise RuntimeError(
            f"contracts.{_contract.name} changed its columns: update lakehouse_assets/tooling/generator.py"
        )


@dataclass(frozen=True)
class Shape:
    """How many products, users and orders a scale gives (order items follow from the baskets)."""

    products: int
    users: int
    orders: int

    @classmethod
    def for_scale(cls, scale: float) -> Shape:
        if scale <= 0:
            raise ValueError(f"scale must be > 0, not {scale}")
        return cls(
            products=max(MIN_PRODUCTS, round(FULL_PRODUCTS * scale)),
            users=max(MIN_USERS, round(FULL_USERS * scale)),
            orders=max(1, round(FULL_ORDERS * scale)),
        )


# Reasons about the bytes of a file rather than its values: the generator writes UTF-8 lines of
# ordinary length, and the landing corpus (tests/glue_scripts/test_landing_corpus.py) covers them.
NOT_GENERATED = frozenset({"not_utf8", "field_too_long"})


def dirty_kinds(contract: DatasetContract) -> list[str]:
    """The reason codes a row of this data set can actually be rejected with, in the contract's order.

    `invalid_<column>` of a text column cannot happen (any non-empty text is a valid string); the
    `NOT_GENERATED` ones are not made.
    """
    return [
        code
        for code in contract.reason_codes
        if code not in NOT_GENERATED
        and not (code.startswith("invalid_") and contract.column(code.removeprefix("invalid_")).type == "string")
    ]


def one_run_reason(kind: str) -> str:
    """The reason a dirty row of this kind gets when its whole data set is processed in one run."""
    return DUPLICATE if kind == STALE else kind


# ---------------------------------------------------------------------------------------------
# dirty rows


class DirtyRows:
    """Where the dirty rows of one data set go (every 1/r-th clean row) and what each looks like.

    No randomness: the schedule is an accumulator of the rate r = P / (1 - P) per clean row (so the
    dirty rows are a share P of all rows), the kinds take turns, and the bad values cycle through a
    few variants per column. Fresh keys and unknown parents come from their own counters, so the
    clean rows do not depend on the dirty share.
    """

    def __init__(self, contract: DatasetContract, share: float) -> None:
        self.contract = contract
        self.rate = share / (1 - share) if share else 0.0
        self.kinds = dirty_kinds(contract)
        self.kinds_without_stale = [kind for kind in self.kinds if kind != STALE]
        self.position = {name: i for i, name in enumerate(contract.column_names)}
        self.key = self.position[contract.primary_key]
        self.accumulated = 0.0
        self.turn = 0
        self.made: Counter[str] = Counter()
        self.next_fresh_key = FRESH_KEY_BASE
        self.next_unknown = UNKNOWN_PARENT_BASE
        self.edits: dict[str, Callable[[list[str], int], None]] = {}
        for column in contract.columns:
            name = column.name
            if name != contract.primary_key and not column.nullable:
                self.edits[f"missing_{name}"] = self._setter(name, lambda fields, n: "")
            if f"invalid_{name}" in self.kinds:
                self.edits[f"invalid_{name}"] = self._setter(name, self._invalid_value(name))
        for rule in contract.date_rules:
            self.edits[rule.reason] = self._setter(rule.column, self._day_after_value(rule.timestamp_column))
        for fk in contract.foreign_keys:
            self.edits[fk.reason] = self._setter(fk.column, lambda fields, n: str(self._unknown_parent()))
        for match in contract.parent_matches:
            self.edits[match.reason] = self._setter(match.column, self._plus_one_value(match.column))

    def next_kind(self, last_day: bool) -> str | None:
        """The kind of dirty row due after the next clean row, or None."""
        self.accumulated += self.rate
        if self.accumulated < 1.0:
            return None
        self.accumulated -= 1.0
        return self.take_kind(last_day)

    def take_kind(self, last_day: bool) -> str:
        """The next kind in turn (the last day makes no stale copies: there is no next file for them)."""
        kinds = self.kinds_without_stale if last_day else self.kinds
        kind = kinds[self.turn % len(kinds)]
        self.turn += 1
        return kind

    def make(self, kind: str, clean_line: str) -> str:
        """A dirty line of `kind` (not a copy kind) made from a clean line."""
        fields = clean_line.rstrip("\n").split(",")
        n = self.made[kind]
        self.made[kind] += 1
        if kind == "missing_primary_key":
            fields[self.key] = ""
        elif kind == f"invalid_{self.contract.primary_key}":
            self.edits[kind](fields, n)
        else:
            fields[self.key] = str(self._fresh_key())
            if kind == "malformed_row":
                fields.pop()
            else:
                self.edits[kind](fields, n)
        return ",".join(fields) + "\n"

    def stale_copy(self, clean_line: str) -> str:
        """The same row one minute older (its date rules kept true), to be sent in the next day's file."""
        self.made[STALE] += 1
        fields = clean_line.rstrip("\n").split(",")
        ordering = self.position[self.contract.ordering_column or ""]
        older = datetime.fromisoformat(fields[ordering]) - timedelta(minutes=1)
        fields[ordering] = older.isoformat()
        for rule in self.contract.date_rules:
            fields[self.position[rule.column]] = str(self._date_of(fields, rule.timestamp_column))
        return ",".join(fields) + "\n"

    # -- helpers

    def _setter(self, column: str, value: Callable[[list[str], int], str]) -> Callable[[list[str], int], None]:
        index = self.position[column]

        def edit(fields: list[str], n: int) -> None:
            fields[index] = value(fields, n)

        return edit

    def _invalid_value(self, name: str) -> Callable[[list[str], int], str]:
        """Values that must be rejected as `invalid_<name>`, in turn (n = how many were made before)."""
        column = self.contract.column(name)
        variants: tuple[str, ...]
        if column.allowed_values is not None:
            variants = (str(max(column.allowed_values) + 1), "1.0")
        elif column.min_value is not None and column.type == "int":
            variants = (str(int(column.min_value) - 1), "1.5")
        elif column.type == "int":
            variants = ("1.5", "12a", "99999999999")  # not an int, not a number, beyond the int range
        elif column.type == "decimal":
            variants = ("-1.00", "1.234", "1e3") if column.min_value is not None else ("1.234", "1e3")
        elif column.type == "timestamp":
            return lambda fields, n: (
                f"{fields[self.position[name]][:10]}T25:00:00",  # no such hour
                f"{fields[self.position[name]]}Z",  # a time zone suffix
            )[n % 2]
        elif column.type == "date":
            return lambda fields, n: (
                f"{fields[self.position[name]][:4]}-02-30",
                f"{fields[self.position[name]][:4]}-13-01",
                fields[self.position[name]].replace("-", "/"),
            )[n % 3]
        else:
            raise ValueError(f"no invalid value for {self.contract.name}.{name} ({column.type})")
        return lambda fields, n: variants[n % len(variants)]

    def _day_after_value(self, timestamp_column: str) -> Callable[[list[str], int], str]:
        """The day after the row's `timestamp_column` date."""
        return lambda fields, n: str(self._date_of(fields, timestamp_column) + timedelta(1))

    def _plus_one_value(self, column: str) -> Callable[[list[str], int], str]:
        """The row's `column` plus one."""
        return lambda fields, n: self._plus_one(fields, column)

    def _date_of(self, fields: list[str], timestamp_column: str) -> date:
        return datetime.fromisoformat(fields[self.position[timestamp_column]]).date()

    def _plus_one(self, fields: list[str], column: str) -> str:
        return str(int(fields[self.position[column]]) + 1)

    def _fresh_key(self) -> int:
        self.next_fresh_key += 1
        return self.next_fresh_key - 1

    def _unknown_parent(self) -> int:
        self.next_unknown += 1
        return self.next_unknown - 1


# ---------------------------------------------------------------------------------------------
# files


class CsvFile:
    """One output file: header, then lines; counts its clean rows and its dirty rows per kind."""

    def __init__(self, root: Path, relative: str, contract: DatasetContract) -> None:
        self.relative = relative
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle: TextIO = path.open("w", encoding="utf-8", newline="", buffering=1 << 20)
        self.handle.write(",".join(contract.column_names) + "\n")
        self.clean = 0
        self.dirty: Counter[str] = Counter()

    def close(self) -> None:
        self.handle.close()

    def summary(self, kinds: list[str]) -> dict[str, Any]:
        return {
            "rows": self.clean + sum(self.dirty.values()),
            "clean": self.clean,
            "dirty": {kind: self.dirty[kind] for kind in kinds if self.dirty[kind]},
        }


def write_clean(out: CsvFile, dirty: DirtyRows | None, line: str, last_day: bool, stale: deque[str]) -> None:
    """A clean line, with the dirty line its turn calls for."""
    kind = dirty.next_kind(last_day) if dirty else None
    if dirty is None or kind is None:
        out.handle.write(line)
    else:
        write_with_dirty(out, dirty, kind, line, stale)
    out.clean += 1


def write_with_dirty(out: CsvFile, dirty: DirtyRows, kind: str, line: str, stale: deque[str]) -> None:
    """A clean line and a dirty one of `kind`: a duplicate goes before it, a stale copy to tomorrow's file."""
    if kind == DUPLICATE:
        out.handle.write(line + line)
        out.dirty[kind] += 1
    elif kind == STALE:
        out.handle.write(line)
        stale.append(dirty.stale_copy(line))
    else:
        out.handle.write(line + dirty.make(kind, line))
        out.dirty[kind] += 1


# ---------------------------------------------------------------------------------------------
# the data


@dataclass
class Catalogue:
    """What orders need from the products: popularity (cumulative weights) and prices in cents."""

    ids_by_rank: list[int]
    cumulative_weights: list[float]
    price_cents: list[int]  # index = product_id


def negative_binomial_sizes(mean: float) -> tuple[list[int], list[float]]:
    """Basket sizes 1..MAX_BASKET and cumulative weights: 1 + NB(2, p) with the given mean."""
    extra = (mean - 1) / 2  # the mean of each of the two geometric parts
    p = 1 / (1 + extra)
    sizes = list(range(1, MAX_BASKET + 1))
    weights = [(k + 1) * p * p * (1 - p) ** k for k in range(MAX_BASKET)]
    return sizes, list(accumulate(weights))


def write_products(root: Path, rng: random.Random, count: int, dirty: DirtyRows | None) -> tuple[Catalogue, CsvFile]:
    out = CsvFile(root, PRODUCTS_FILE, PRODUCTS)
    department_cumulative = list(accumulate(weight for _, weight in DEPARTMENTS))
    department_ids = list(range(1, len(DEPARTMENTS) + 1))
    prices = [0] * (count + 1)
    unused: deque[str] = deque()
    for product_id in range(1, count + 1):
        department_id = rng.choices(department_ids, cum_weights=department_cumulative)[0]
        department = DEPARTMENTS[department_id - 1][0]
        name = f"{rng.choice(ADJECTIVES)} {department} {rng.choice(NOUNS)} {product_id}"
        prices[product_id] = rng.randint(99, 1999)
        write_clean(out, dirty, f"{product_id},{department_id},{department},{name}\n", False, unused)
    out.close()
    ids_by_rank = list(range(1, count + 1))
    rng.shuffle(ids_by_rank)
    weights = accumulate(rank**-ZIPF_EXPONENT for rank in range(1, count + 1))
    return Catalogue(ids_by_rank, list(weights), prices), out


def day_timestamps(day: date) -> list[str]:
    """Every minute of a day as the lab writes it: 2025-04-01T11:27:00."""
    return [f"{day.isoformat()}T{minute // 60:02d}:{minute % 60:02d}:00" for minute in range(1440)]


def orders_per_day(total: int, days: int) -> Iterator[int]:
    for day in range(days):
        yield total * (day + 1) // days - total * day // days


def cents(amount: int) -> str:
    return f"{amount // 100}.{amount % 100:02d}"


def generate(
    out_dir: str | Path,
    scale: float = 0.01,
    days: int = 7,
    dirty_share: float = 0.0,
    seed: int = 0,
    start_date: date | str = date(2025, 4, 1),
) -> dict[str, Any]:
    """Write the data set under `out_dir` (which must be empty or absent) and return its manifest."""
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        raise ValueError(f"{root} is not empty: generate into a new folder")
    if days < 1:
        raise ValueError(f"days must be >= 1, not {days}")
    if not 0 <= dirty_share <= MAX_DIRTY_SHARE:
        raise ValueError(f"dirty_share must be between 0 and {MAX_DIRTY_SHARE}, not {dirty_share}")
    first_day = date.fromisoformat(start_date) if isinstance(start_date, str) else start_date
    shape = Shape.for_scale(scale)
    mean_basket = FULL_ITEMS / FULL_ORDERS
    if shape.orders * MAX_BASKET > MAX_CLEAN_KEY:
        raise ValueError(f"scale {scale} is too large for int keys below {FRESH_KEY_BASE:,}")
    started = time.perf_counter()
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    dirty = {name: DirtyRows(contract, dirty_share) if dirty_share else None for name, contract in CONTRACTS.items()}

    catalogue, products_out = write_products(root, rng, shape.products, dirty["products"])
    files: dict[str, list[CsvFile]] = {"products": [products_out], "orders": [], "order_items": []}

    user_ids = list(range(1, shape.users + 1))
    # Skewed activity, bounded so that nobody orders much more than Instacart's 100 times at scale 1.
    user_cumulative = list(accumulate(min(rng.expovariate(1.0), 5.0) + 0.1 for _ in user_ids))
    orders_so_far = array("i", [0]) * (shape.users + 1)
    last_day = array("i", [-1]) * (shape.users + 1)
    minutes = list(range(1440))
    minute_cumulative = list(accumulate(HOUR_WEIGHTS[minute // 60] for minute in minutes))
    sizes, size_cumulative = negative_binomial_sizes(mean_basket)
    products_by_rank, product_cumulative, price = (
        catalogue.ids_by_rank,
        catalogue.cumulative_weights,
        catalogue.price_cents,
    )
    choices, uniform = rng.choices, rng.random

    order_id = 0
    item_id = 0
    stale_orders: deque[str] = deque()
    stale_items: deque[str] = deque()
    order_dirty, item_dirty = dirty["orders"], dirty["order_items"] or DirtyRows(ORDER_ITEMS, 0.0)
    item_rate, item_due = item_dirty.rate, 0.0
    for day_index, day_orders in enumerate(orders_per_day(shape.orders, days)):
        day = first_day + timedelta(days=day_index)
        is_last = day_index == days - 1
        day_text = day.isoformat()
        stamps = day_timestamps(day)
        orders_out = CsvFile(root, f"orders/{day_text}.csv", ORDERS)
        items_out = CsvFile(root, f"order_items/{day_text}.csv", ORDER_ITEMS)
        files["orders"].append(orders_out)
        files["order_items"].append(items_out)
        # Yesterday's stale copies go out in today's files, one after each of the day's first orders.
        pending_orders, stale_orders = stale_orders, deque()
        pending_items, stale_items = stale_items, deque()
        write_items = items_out.handle.write
        for chunk_start in range(0, day_orders, ORDERS_PER_CHUNK):
            chunk = min(ORDERS_PER_CHUNK, day_orders - chunk_start)
            chunk_users = choices(user_ids, cum_weights=user_cumulative, k=chunk)
            chunk_minutes = choices(minutes, cum_weights=minute_cumulative, k=chunk)
            chunk_sizes = choices(sizes, cum_weights=size_cumulative, k=chunk)
            for user, minute, size in zip(chunk_users, chunk_minutes, chunk_sizes, strict=True):
                order_id += 1
                order_num = orders_so_far[user] + 1
                orders_so_far[user] = order_num
                if order_num == 1:
                    days_since, reorder = "", 0.0
                else:
                    days_since, reorder = (
                        str(min(MAX_DAYS_SINCE_PRIOR, day_index - last_day[user])),
                        REORDER_PROBABILITY,
                    )
                last_day[user] = day_index
                stamp = stamps[minute]
                basket = choices(products_by_rank, cum_weights=product_cumulative, k=size)
                head = f",{order_id},{user},{days_since},"
                tail = f",{stamp},{day_text}\n"
                for position, product_id in enumerate(basket, 1):
                    item_id += 1
                    line = f"{item_id}{head}{product_id},{position},{1 if uniform() < reorder else 0}{tail}"
                    item_due += item_rate  # DirtyRows.next_kind, inlined: this loop writes most of the rows
                    if item_due < 1.0:
                        write_items(line)
                    else:
                        item_due -= 1.0
                        write_with_dirty(items_out, item_dirty, item_dirty.take_kind(is_last), line, stale_items)
                items_out.clean += size
                if pending_items:
                    write_items(pending_items.popleft())
                    items_out.dirty[STALE] += 1
                total = cents(sum(price[product_id] for product_id in basket))
                order_line = f"{order_num},{order_id},{user},{stamp},{total},{day_text}\n"
                write_clean(orders_out, order_dirty, order_line, is_last, stale_orders)
                if pending_orders:
                    orders_out.handle.write(pending_orders.popleft())
                    orders_out.dirty[STALE] += 1
        for out, pending in ((orders_out, pending_orders), (items_out, pending_items)):
            out.dirty[STALE] += len(pending)
            out.handle.write("".join(pending))
            out.close()

    manifest = build_manifest(files, shape, scale, days, dirty_share, seed, first_day)
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    manifest["elapsed_seconds"] = time.perf_counter() - started
    return manifest


def build_manifest(
    files: dict[str, list[CsvFile]],
    shape: Shape,
    scale: float,
    days: int,
    dirty_share: float,
    seed: int,
    first_day: date,
) -> dict[str, Any]:
    datasets: dict[str, Any] = {}
    for name, outs in files.items():
        kinds = dirty_kinds(CONTRACTS[name])
        by_kind: Counter[str] = Counter()
        for out in outs:
            by_kind.update(out.dirty)
        clean = sum(out.clean for out in outs)
        dirty_rows = sum(by_kind.values())
        one_run: Counter[str] = Counter()
        for kind, count in by_kind.items():
            one_run[one_run_reason(kind)] += count
        datasets[name] = {
            "rows": clean + dirty_rows,
            "clean": clean,
            "dirty": dirty_rows,
            "dirty_by_kind": {kind: by_kind[kind] for kind in kinds},
            "files": {out.relative: out.summary(kinds) for out in outs},
            # What process_batch reports, summed over the runs (each dirty row has exactly one reason).
            "expected": {"one_run": expected_counts(clean, one_run), "run_per_day": expected_counts(clean, by_kind)},
        }
    return {
        "generator": "lakehouse_assets.tooling.generator",
        "parameters": {
            "scale": scale,
            "days": days,
            "dirty_share": dirty_share,
            "seed": seed,
            "start_date": first_day.isoformat(),
        },
        "shape": {"products": shape.products, "users": shape.users, "orders": shape.orders},
        "datasets": datasets,
    }


def expected_counts(clean: int, by_reason: Counter[str]) -> dict[str, Any]:
    """Accepted, rejected and waiting rows (an unknown parent never arrives: its rows wait for good)."""
    rejected = {k: by_reason[k] for k in sorted(by_reason) if k not in LATE_PARENT_REASONS}
    waiting = {k: by_reason[k] for k in sorted(by_reason) if k in LATE_PARENT_REASONS}
    return {
        "accepted": clean,
        "rejected": sum(rejected.values()),
        "waiting": sum(waiting.values()),
        "rejected_by_reason": rejected,
        "waiting_by_reason": waiting,
    }


def rows_written(manifest: dict[str, Any]) -> int:
    return sum(dataset["rows"] for dataset in manifest["datasets"].values())
