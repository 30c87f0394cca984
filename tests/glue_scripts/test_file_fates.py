from datetime import datetime
from types import SimpleNamespace

from glue_scripts.file_fates import FileFate, fates, render


def entry(file: str, stage: str, minute: int, **fields: object) -> SimpleNamespace:
    values = {"rows_read": None, "rows_accepted": None, "rows_rejected": None, "rows_waiting": None, "detail": None}
    return SimpleNamespace(
        dataset=file.split("/")[1],
        source_file=file,
        source_file_digest=f"digest-of-{file.rsplit('/', 1)[1]}",
        stage=stage,
        recorded_at=datetime(2025, 4, 20, 8, minute),
        **(values | fields),
    )


ARCHIVED = "landing/orders/a.csv"
HELD = "landing/orders/b.csv"
RELEASED = "landing/orders/c.csv"
QUARANTINED = "landing/orders/d.csv"
LOADED = "landing/order_items/e.csv"
ENTRIES = [
    entry(ARCHIVED, "raw", 1, rows_read=3),
    entry(ARCHIVED, "processed", 2, rows_read=3, rows_accepted=2, rows_rejected=1, rows_waiting=None),
    entry(ARCHIVED, "archived", 3, detail="archived/orders/2025/04/20/a.csv"),
    entry(HELD, "raw", 4, rows_read=20),
    entry(HELD, "held", 5, rows_read=20, rows_accepted=1, rows_rejected=19, rows_waiting=0, detail="rejected 19 of 20"),
    entry(RELEASED, "raw", 6, rows_read=30),
    entry(RELEASED, "held", 7, rows_read=30, rows_accepted=5, rows_rejected=25, rows_waiting=0, detail="rejected 25"),
    entry(RELEASED, "released", 8, detail="rejections accepted"),
    entry(QUARANTINED, "quarantined", 9, detail="empty file: 0 bytes"),
    entry(LOADED, "raw", 10, rows_read=4),
]


def test_each_file_version_gets_the_furthest_stage_it_reached_and_why() -> None:
    found = {f.file: f for f in fates(reversed(ENTRIES))}
    assert found[ARCHIVED] == FileFate(
        "orders",
        ARCHIVED,
        "digest-of-a.csv",
        datetime(2025, 4, 20, 8, 1),
        "archived",
        3,
        2,
        1,
        0,
        "archived/orders/2025/04/20/a.csv",
    )
    assert [(f.file, f.status, f.rows_read, f.rows_accepted, f.detail) for f in fates(ENTRIES)] == [
        (LOADED, "raw", 4, None, None),
        (ARCHIVED, "archived", 3, 2, "archived/orders/2025/04/20/a.csv"),
        (HELD, "held", 20, 1, "rejected 19 of 20"),
        (RELEASED, "released", 30, 5, None),
        (QUARANTINED, "quarantined", None, None, "empty file: 0 bytes"),
    ]


def test_the_table_has_one_line_per_file_and_blanks_where_a_figure_does_not_apply() -> None:
    assert render(fates(ENTRIES[:3] + ENTRIES[8:])).splitlines() == [
        "dataset      file                       digest        loaded_at            status       "
        "read  accepted  rejected  waiting  detail",
        "order_items  landing/order_items/e.csv  digest-of-e.  2025-04-20 08:10:00  raw             4",
        "orders       landing/orders/a.csv       digest-of-a.  2025-04-20 08:01:00  archived        "
        "3         2         1        0  archived/orders/2025/04/20/a.csv",
        "orders       landing/orders/d.csv       digest-of-d.  2025-04-20 08:09:00  quarantined"
        + " " * 37
        + "empty file: 0 bytes",
    ]
