"""The rendered page in a real headless Chromium: loads cleanly, sorts, filters, shows what a researcher
needs (legend, full names, links, notes on demand, labelled axes), and is screenshotted.

Needs Debian's chromium and chromium-driver (installed by .ci/run). Without them the test is
skipped on a developer machine and fails under CI (CI=true), where they must be present.
"""

import os
import shutil
from pathlib import Path

import pytest

from groupbench.leaderboard import Board
from groupbench.leaderboard.render import render

REPOSITORY_BOARD = Path(__file__).resolve().parents[1] / "leaderboard"

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")

if not (CHROMIUM and DRIVER):
    if os.environ.get("CI") == "true":
        pytest.fail("CI needs Debian's chromium and chromium-driver for the browser test", pytrace=False)
    pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)", allow_module_level=True)

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """The repository's board rendered into a temporary folder."""
    board = Board(tmp_path_factory.mktemp("board"))
    board.entries_dir.mkdir(parents=True)
    for path, _ in Board(REPOSITORY_BOARD).entries():
        shutil.copy(path, board.entries_dir / path.name)
    _, index = render(board)
    return index


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1200,2000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def _column(table, index):
    """The sort keys of a column (the method name for the Method column; the text where none is set)."""
    cells = [row.find_elements(By.TAG_NAME, "td")[index] for row in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    return [cell.get_attribute("data-sort") if index == 1 else cell.text for cell in cells]


def test_page_loads_without_console_errors(browser, page, tmp_path):
    browser.get(page.as_uri())
    assert browser.title == "groupbench leaderboard"
    errors = [entry for entry in browser.get_log("browser") if entry["level"] in ("SEVERE", "ERROR")]
    assert errors == []
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg.chart.bars")) >= 5
    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_clicking_a_header_reorders_the_rows(browser, page):
    browser.get(page.as_uri())
    table = browser.find_element(By.CSS_SELECTOR, 'section[data-label="shapes-v1"] table.ranked')
    assert [th.text for th in table.find_elements(By.TAG_NAME, "th")][:4] == ["#", "Method", "Variant", "AMI"]
    ranked = _column(table, 3)  # AMI as ranked: best first
    method_header = table.find_elements(By.TAG_NAME, "th")[1]
    method_header.click()
    descending = _column(table, 1)
    assert descending == sorted(descending, key=str.lower, reverse=True)
    method_header.click()
    ascending = _column(table, 1)
    assert ascending == sorted(ascending, key=str.lower)
    assert ascending != descending
    table.find_elements(By.TAG_NAME, "th")[3].click()  # AMI, descending
    assert _column(table, 3) == ranked


def test_filters_hide_rows_sections_and_entries_apart(browser, page):
    browser.get(page.as_uri())
    rows = browser.find_elements(By.CSS_SELECTOR, 'section[data-label="shapes-v1"] tbody tr')
    assert len(rows) >= 5
    Select(browser.find_element(By.ID, "source-filter")).select_by_visible_text("reproduced")
    assert all(not row.is_displayed() for row in rows if row.get_attribute("data-source") != "reproduced")
    Select(browser.find_element(By.ID, "source-filter")).select_by_index(0)
    groups = browser.find_elements(By.CSS_SELECTOR, 'section[data-label="shapes-v1"] section.apart-group')
    assert groups and all(g.is_displayed() for g in groups)
    browser.find_element(By.ID, "apart-filter").click()
    assert not any(g.is_displayed() for g in groups)
    browser.find_element(By.ID, "apart-filter").click()
    Select(browser.find_element(By.ID, "dataset-filter")).select_by_visible_text("tetris-v1")
    sections = browser.find_elements(By.CSS_SELECTOR, "section.dataset")
    shown = [s.get_attribute("data-label") for s in sections if s.is_displayed()]
    assert shown == ["tetris-v1"]


def test_what_a_researcher_reads(browser, page):
    """Legend for the bar colours, full names in the charts, paper and code links, notes on demand,
    budget runs marked, labelled axes on every learning curve."""
    browser.get(page.as_uri())
    legend = browser.find_element(By.ID, "legend").text
    assert all(word in legend for word in ("reported", "reproduced", "submitted", "budget run", "standard deviation"))
    names = [t.text for t in browser.find_elements(By.CSS_SELECTOR, "svg.bars text.name")]
    assert names and not any("…" in name for name in names)
    flying = browser.find_element(By.CSS_SELECTOR, 'section[data-label="flying-shapes-v1"]')
    label = " ".join(t.text for t in flying.find_elements(By.CSS_SELECTOR, "svg.bars text.name tspan"))
    assert "RNN-EM (trained on 3 shapes with K=3, tested on 3 shapes with K=3) — budget run" in " ".join(label.split())
    links = browser.find_elements(By.CSS_SELECTOR, "td .links a")
    assert {a.text for a in links} == {"paper", "code"} and all(a.get_attribute("href").startswith("http") for a in links)
    row = flying.find_element(By.CSS_SELECTOR, "tr:has(.badge)")
    assert "budget run" in row.text
    details = row.find_element(By.TAG_NAME, "details")
    assert not details.find_element(By.TAG_NAME, "p").is_displayed()
    details.find_element(By.TAG_NAME, "summary").click()
    assert "stopped by a budget (900 steps" in details.text and "frames 1..T-1" in details.text
    curves = browser.find_elements(By.CSS_SELECTOR, "svg.curves")
    assert curves
    for svg in curves:
        axes = [t.text for t in svg.find_elements(By.CSS_SELECTOR, "text.axis")]
        assert len(axes) == 2 and axes[0].startswith("training images seen") and axes[1].startswith("validation AMI")
