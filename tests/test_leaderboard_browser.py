"""The rendered site in a real headless Chromium: loads, sorts by a column, opens an entry page.

Needs Debian's chromium and chromium-driver (`make test` installs them where it can) and selenium;
skipped with the reason where any is missing.
"""

from __future__ import annotations

import copy
import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest

from sysnoise.leaderboard.render import build_site
from sysnoise.leaderboard.store import DEFAULT_ENTRIES_DIR, load_entries, submit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="chromium and chromedriver not found (apt-get install chromium chromium-driver)",
)


@pytest.fixture()
def site(tmp_path: Path):
    [shipped] = sorted(DEFAULT_ENTRIES_DIR.glob("*.json"))[:1]
    entries = tmp_path / "entries"
    document = json.loads(shipped.read_text())
    document.pop("submission", None)
    submit(document, entries_dir=entries)
    other = copy.deepcopy(document)
    other["model"]["name"] = "aaa_renamed_copy"
    submit(other, entries_dir=entries)
    build_site(load_entries(entries), tmp_path / "site")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path / "site")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


@pytest.fixture()
def browser(tmp_path: Path):
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    driver.set_window_size(1400, 1000)
    yield driver
    driver.quit()


def test_index_sorts_by_a_column_and_links_to_entry_pages(site, browser, tmp_path):
    from selenium.webdriver.common.by import By

    browser.get(site)
    assert "sysnoise leaderboard" in browser.page_source

    def models() -> list[str]:
        return [a.text for a in browser.find_elements(By.CSS_SELECTOR, "table.sortable tbody td a")]

    assert sorted(models()) == ["aaa_renamed_copy", "mobilenet_v2"]
    header = next(
        th
        for th in browser.find_elements(By.CSS_SELECTOR, "table.sortable th")
        if th.text.strip().startswith("model")
    )
    header.click()
    first = models()
    header.click()
    assert models() == list(reversed(first)) and first in (sorted(first), sorted(first)[::-1])
    browser.save_screenshot(str(tmp_path / "index.png"))
    assert (tmp_path / "index.png").stat().st_size > 0
    browser.find_element(By.LINK_TEXT, "mobilenet_v2").click()
    assert "entries/" in browser.current_url
    assert "pyav/cv2-linear" in browser.page_source
    browser.save_screenshot(str(tmp_path / "entry.png"))
