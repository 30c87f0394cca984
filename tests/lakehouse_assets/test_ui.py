"""The Dagster UI in a real browser: what an operator sees after `lakehouse run` and `lakehouse dev`.

The shared lab fixtures (`tests/lab_fixtures.py`) ran the pipeline on the lab data with the
`lakehouse` CLI and started `lakehouse dev` on that root and instance; the tests drive headless
Chromium (Debian's `chromium`, or `LAKEHOUSE_CHROMIUM`) through Playwright's sync API. Playwright
is launched with `executable_path`: its own browser downloads are never used.

Screenshots go to `test-output/ui/`; with `LAKEHOUSE_UPDATE_SCREENSHOTS=1` the ones the README
shows are copied to `docs/screenshots/`. The whole graph is laid out top to bottom and zoomed to fit
by the test itself: the UI fits a graph to its width only, which on the lineage page (taller than
wide) leaves most groups below the fold.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import pytest
from pyspark.sql import SparkSession

from glue_scripts.contracts import DATASETS
from glue_scripts.delta_tables import read_table
from lakehouse_assets.landed_files import files_tag_value
from tests.helpers import LAB_DATA, REPO
from tests.lab_fixtures import LAB_GROUP, LabLakehouse, LakehouseDev

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright is not installed: pip install -e '.[dev]' (or make install)"
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page, Request

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(LAB_GROUP)]

OUTPUT = REPO / "test-output" / "ui"
README_SCREENSHOTS = REPO / "docs" / "screenshots"
# The screenshots the README shows; LAKEHOUSE_UPDATE_SCREENSHOTS=1 copies them to docs/screenshots/.
IN_README = ("asset_graph.png", "processed_graph.png", "order_items_checks.png")
PROCESSED_TABLES = ("orders", "products", "order_items")
ORDER_ITEMS_CHECKS = ("primary_key", "order_id_in_orders", "product_id_in_products", "rows_reconciled")
SENSORS = ("landing_files_sensor", "lakehouse_automation")
UI_TIMEOUT_MS = 60_000
# The graph's size and place, read from the DOM: the viewport's inner layer carries the pan and zoom
# as a CSS matrix, the SVG inside it the layout's size.
GRAPH_STATE_JS = """() => {
  const viewport = document.querySelector('[data-svg-viewport]');
  const layer = viewport.firstElementChild;
  const svg = layer.querySelector('svg');
  const matrix = new DOMMatrix(getComputedStyle(layer).transform);
  const box = viewport.getBoundingClientRect();
  return {scale: matrix.a, x: matrix.e, y: matrix.f,
          width: Number(svg.getAttribute('width')), height: Number(svg.getAttribute('height')),
          viewWidth: viewport.clientWidth, viewHeight: viewport.clientHeight, left: box.left, top: box.top};
}"""


def chromium_executable() -> str | None:
    """`LAKEHOUSE_CHROMIUM`, else Debian's `chromium` on PATH."""
    return os.environ.get("LAKEHOUSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def chromium() -> str:
    executable = chromium_executable()
    if executable is None:
        pytest.skip(
            "no Chromium: install Debian's chromium (`apt-get install -y chromium`; `make install` tries it) "
            "or set LAKEHOUSE_CHROMIUM to a Chromium binary"
        )
    return executable


@pytest.fixture(scope="module")
def browser(chromium: str, lakehouse_dev: LakehouseDev) -> Iterator[Browser]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        yield browser
        browser.close()


@dataclass
class UI:
    """One browser page on the Dagster UI, with the requests it has in flight."""

    page: Page
    base_url: str
    in_flight: set[Request] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.page.on("request", self._started)
        self.page.on("requestfinished", self._ended)
        self.page.on("requestfailed", self._ended)

    def _started(self, request: Request) -> None:
        self.in_flight.add(request)

    def _ended(self, request: Request) -> None:
        self.in_flight.discard(request)

    def open(self, path: str) -> None:
        self.page.goto(self.base_url + path)
        self.settle()

    def settle(self, quiet_ms: int = 1000) -> None:
        """Wait until no request has been in flight for `quiet_ms` (the UI polls, so never forever)."""
        deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
        quiet = 0
        while quiet < quiet_ms and time.monotonic() < deadline:
            self.page.wait_for_timeout(100)
            quiet = 0 if self.in_flight else quiet + 100

    def screenshot(self, name: str) -> Path:
        path = OUTPUT / name
        self.page.screenshot(path=path)
        if name in IN_README and os.environ.get("LAKEHOUSE_UPDATE_SCREENSHOTS") == "1":
            README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, README_SCREENSHOTS / name)
        return path


@pytest.fixture
def ui(browser: Browser, lakehouse_dev: LakehouseDev) -> Iterator[UI]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, timezone_id="UTC", locale="en-US")
    context.set_default_timeout(UI_TIMEOUT_MS)
    sync_api.expect.set_options(timeout=UI_TIMEOUT_MS)
    try:
        yield UI(context.new_page(), lakehouse_dev.base_url)
    finally:
        context.close()


def lab_file_keys() -> list[str]:
    """The `landing/files` partition keys of the lab data, in the order a run takes them."""
    keys = []
    for dataset in DATASETS:
        files = [*LAB_DATA.glob(f"{dataset}.csv*"), *(LAB_DATA / dataset).glob("*.csv*")]
        for file in sorted(files, key=lambda file: file.name):
            keys.append(f"{dataset}/{file.name}#{hashlib.md5(file.read_bytes(), usedforsecurity=False).hexdigest()}")
    return keys


def graph_state(ui: UI) -> dict[str, float]:
    return ui.page.evaluate(GRAPH_STATE_JS)


def wait_for_layout(ui: UI, unlike: dict[str, float] | None = None, stable_ms: int = 1500) -> None:
    """Wait until the graph's layout (and pan and zoom) is other than `unlike`'s and stayed put for `stable_ms`."""
    deadline = time.monotonic() + UI_TIMEOUT_MS / 1000
    last, still = None, 0
    while time.monotonic() < deadline:
        state = graph_state(ui)
        changed = unlike is None or (state["width"], state["height"]) != (unlike["width"], unlike["height"])
        still = still + 100 if changed and state == last else 0
        if still >= stable_ms:
            return
        last = state
        ui.page.wait_for_timeout(100)
    pytest.fail(f"the graph's layout did not settle: {last}")


def zoom_to_fit(ui: UI, top: float, right: float, margin: float = 0.96) -> None:
    """Zoom and pan the graph so the whole of it shows in the viewport below `top` and left of `right`.

    The UI's own fit (double-click) fits the width only. Zoom is the UI's ctrl+wheel at the pointer
    (`scale * (1 - deltaY * 0.002)` for |deltaY| > 30), pan its plain wheel (0.7 px a delta unit);
    each is measured again after it, until the graph is centred in the free area at the scale that fits.
    """
    page = ui.page
    for _ in range(10):
        state = graph_state(ui)
        free_width = right - state["left"]
        free_top = top - state["top"]
        free_height = state["viewHeight"] - free_top
        scale = min(free_width / state["width"], free_height / state["height"]) * margin
        page.mouse.move(state["left"] + free_width / 2, top + free_height / 2)
        if abs(state["scale"] / scale - 1) > 0.005:
            delta = (1 - scale / state["scale"]) / 0.002
            if abs(delta) <= 30:
                delta = (1 - scale / state["scale"]) / 0.01
            page.keyboard.down("Control")
            page.mouse.wheel(0, delta)
            page.keyboard.up("Control")
        else:
            x = (free_width - state["width"] * state["scale"]) / 2
            y = free_top + (free_height - state["height"] * state["scale"]) / 2
            if abs(x - state["x"]) <= 2 and abs(y - state["y"]) <= 2:
                return
            page.mouse.wheel((state["x"] - x) / 0.7, (state["y"] - y) / 0.7)
        page.wait_for_timeout(300)  # the UI takes one wheel event per frame
    pytest.fail(f"could not fit the graph in the viewport: {graph_state(ui)}")


def graph_url(selection: str = "") -> str:
    return "/asset-groups" + (f"~{quote(selection)}" if selection else "")


def graph_node(ui: UI, name: str) -> Locator:
    """The node of the asset named `name` in the lineage graph (an SVG foreignObject)."""
    return ui.page.locator("foreignObject").filter(has=ui.page.get_by_text(name, exact=True))


def graph_setting(ui: UI, item: str) -> None:
    """Pick `item` in the graph's ⚙ menu, unless it is not offered (already in effect)."""
    ui.page.get_by_role("button", name="settings", exact=True).click()
    choice = ui.page.get_by_role("menuitem", name=re.compile(item))
    if choice.count():
        choice.click()
    ui.page.keyboard.press("Escape")


def test_the_whole_asset_graph_fits_in_the_screenshot(ui: UI) -> None:
    page, expect = ui.page, sync_api.expect

    # Every group expanded, top to bottom (landscape, like a screenshot), the asset tree hidden.
    ui.open(graph_url())
    materialize_all = page.get_by_role("button", name=re.compile(r"Materialize all"))
    expect(materialize_all).to_be_visible()
    collapsed = graph_state(ui)
    graph_setting(ui, "Expand all groups")
    graph_setting(ui, "vertical orientation")
    page.get_by_role("button", name="panel_show_right", exact=True).click()
    wait_for_layout(ui, unlike=collapsed)
    ui.settle()
    # The free area: below the toolbar over the graph, left of the zoom controls.
    toolbar, controls = materialize_all.bounding_box(), page.locator("#zoom-slider-container").bounding_box()
    assert toolbar and controls
    zoom_to_fit(ui, top=toolbar["y"] + toolbar["height"] + 12, right=controls["x"] - 12)
    page.mouse.move(0, 0)  # no hover card in the picture

    # Every group and asset is wholly inside the viewport, none under the toolbar.
    viewport = page.locator("[data-svg-viewport]").bounding_box()
    assert viewport
    groups = ("landing", "raw", "processed", "rejected", "analytics", "catalog", "archive", "maintenance")
    assets = ("files", *PROCESSED_TABLES, "landed_files", "daily_sales", "top_products", "glue_tables")
    for name in (*groups, *assets):
        nodes = graph_node(ui, name).all()
        assert nodes, f"{name} is not in the graph"
        for box in (node.bounding_box() for node in nodes):
            assert box, name
            assert box["y"] >= toolbar["y"] + toolbar["height"], (name, box)
            assert box["x"] >= viewport["x"] and box["x"] + box["width"] <= controls["x"], (name, box)
            assert box["y"] + box["height"] <= viewport["y"] + viewport["height"], (name, box)
    expect(graph_node(ui, "order_items")).to_have_count(4)  # raw, processed, rejected, maintenance
    ui.screenshot("asset_graph.png")


def test_asset_graph_and_catalog_show_the_processed_tables(
    ui: UI, lab_lakehouse: LabLakehouse, s3_spark: SparkSession
) -> None:
    page, expect = ui.page, sync_api.expect
    items = read_table(s3_spark, lab_lakehouse.store.spark_path("processed/order_items")).count()

    # The processed group alone: each table materialized, all its checks passed.
    ui.open(graph_url('group:"processed"'))
    for name in PROCESSED_TABLES:
        node = graph_node(ui, name)
        expect(node).to_have_count(1)
        expect(node).to_contain_text("Materialized")
        expect(node).to_contain_text(re.compile(r"Asset checks\s*(\d+) / \1 Passed"))
    expect(page.get_by_text(re.compile(r"^Loading"))).to_have_count(0)
    ui.screenshot("processed_graph.png")

    # The catalog lists them under their keys; the order_items page shows the run's row count.
    ui.open("/assets")
    for name in PROCESSED_TABLES:
        expect(page.locator(f'a[href="/assets/processed/{name}"]').first).to_be_visible()
    ui.screenshot("catalog.png")
    ui.open("/assets/processed/order_items")
    expect(page.get_by_role("tab", name="Checks")).to_be_visible()
    expect(page.locator("body")).to_contain_text(re.compile(rf"Row count\s*{items:,}"))
    ui.screenshot("order_items.png")


def test_order_items_checks_passed(ui: UI) -> None:
    page, expect = ui.page, sync_api.expect

    ui.open("/assets/processed/order_items?view=checks")
    expect(page.get_by_role("tab", name="Checks")).to_have_attribute("aria-selected", "true")
    heading = page.get_by_text(re.compile(r"^Checks \((\d+)\)$"))
    expect(heading).to_be_visible()
    total = int(re.search(r"\d+", heading.inner_text()).group())
    assert total >= len(ORDER_ITEMS_CHECKS)
    # Every check listed says Succeeded, and the four blocking ones are there.
    expect(page.get_by_text("Succeeded", exact=True)).to_have_count(total)
    for check in ORDER_ITEMS_CHECKS:
        expect(page.get_by_title(check, exact=True).first).to_be_visible()
    ui.settle()
    ui.screenshot("order_items_checks.png")

    # Each check's own panel: its latest execution passed.
    for check in ORDER_ITEMS_CHECKS:
        ui.open(f"/assets/processed/order_items?view=checks&checkDetail={check}")
        expect(page.locator("body")).to_contain_text(re.compile(r"Latest execution\s*Evaluation result\s*Passed"))
        expect(page.locator("body")).to_contain_text(re.compile(r"This is a\s*blocking\s*asset check"))


def test_the_run_names_its_files(ui: UI) -> None:
    page, expect = ui.page, sync_api.expect

    keys = lab_file_keys()
    assert len(keys) == 31
    ui.open("/runs")
    for tag in (
        "lakehouse/trigger: cli",
        "lakehouse/file_count: 31",
        f"lakehouse/files: {files_tag_value(keys)}",
        "lakehouse/archived_file_count: 31",
        f"lakehouse/archived_files: {files_tag_value(keys)}",
    ):
        expect(page.get_by_text(tag, exact=True).first).to_be_visible()  # the lab run's
    ui.screenshot("runs.png")


def test_sensors_running(ui: UI) -> None:
    page, expect = ui.page, sync_api.expect

    ui.open("/automation")
    expect(page.get_by_role("textbox", name="Search and filter automations")).to_be_visible()
    ui.screenshot("sensors.png")
    for sensor in SENSORS:
        expect(page.locator(f'a[href$="/sensors/{sensor}"]')).to_be_visible()
    for sensor in SENSORS:
        ui.open(f"/locations/lakehouse/sensors/{sensor}")
        expect(page.get_by_role("row", name="Running").get_by_role("checkbox")).to_be_checked()
        ui.screenshot(f"sensor_{sensor}.png")
