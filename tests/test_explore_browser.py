"""The explorer page in a real headless browser (Debian's chromium + chromium-driver, driven
by selenium): load, re-roll, pin, walk, arithmetic, and the shared URL restoring the view."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import train_tiny

from dcgan.explore import Engine, make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def url(tmp_path_factory) -> Iterator[str]:
    server = make_server(Engine(train_tiny(tmp_path_factory.mktemp("browser"))), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator:
    driver = chromium()
    yield driver
    driver.quit()


def chromium(*flags: str):
    """Headless chromium under selenium, with extra command-line `flags`."""
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_argument("--window-size=1200,1600")
    for flag in flags:
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def settle(driver, ready: str = "true") -> None:
    """Wait until no request is in flight and the JavaScript condition `ready` holds."""
    from selenium.webdriver.support.ui import WebDriverWait

    script = f"return document.body.dataset.busy === '0' && !!({ready});"
    WebDriverWait(driver, 30, poll_frequency=0.05).until(lambda d: d.execute_script(script))


def srcs(driver, selector: str) -> list[str]:
    return driver.execute_script(
        "return [...document.querySelectorAll(arguments[0])].map(i => i.src);", selector
    )


def click(driver, element_id: str) -> None:
    driver.find_element("id", element_id).click()


def view(driver) -> dict:
    """What the page shows, for comparing a view with its restored copy."""
    return {
        "grid": srcs(driver, "#grid img"),
        "pinned": srcs(driver, "#pinned img"),
        "walk": srcs(driver, "#walk-frame img"),
        "walk_seeds": driver.find_element("id", "walk-seeds").get_property("value"),
        "y": srcs(driver, "#arith-y img"),
        "pixel": srcs(driver, "#arith-pixel img"),
        "concept_B": driver.find_element("id", "concept-B").get_property("value"),
        "direction": srcs(driver, "#dir-frame img"),
    }


def reopen(driver) -> str:
    """Open the page's shared URL in a fresh page and wait for its four panels; the URL."""
    shared = driver.current_url
    driver.get("about:blank")
    driver.get(shared)
    settle(
        driver,
        "document.querySelector('#arith-pixel img') && document.querySelector('#walk-frame img')"
        " && document.querySelectorAll('#pinned img').length === 2"
        " && document.querySelector('#dir-frame img')",
    )
    return shared


@pytest.fixture
def turn_json(tmp_path: Path) -> Path:
    """A direction file as `dcgan turn` writes it (only `turn_vector` is read)."""
    path = tmp_path / "turn.json"
    path.write_text(json.dumps({"turn_vector": [(-1) ** i * 0.5 for i in range(100)]}))
    return path


def test_explorer_in_a_browser(browser, url: str, turn_json: Path) -> None:
    browser.get(url)
    settle(browser, "document.querySelectorAll('#grid img').length === 16")
    first = srcs(browser, "#grid img")
    assert len(set(first)) > 1 and browser.find_element("id", "status").text == ""

    click(browser, "reroll")
    settle(browser, "location.hash.includes('g=')")
    rerolled = srcs(browser, "#grid img")
    assert len(rerolled) == 16 and rerolled != first

    # Pin two samples, walk between them with the slider.
    grid = browser.find_elements("css selector", "#grid img")
    grid[0].click()
    settle(browser, "document.querySelectorAll('#pinned img').length === 1")
    grid[5].click()
    settle(browser, "document.querySelectorAll('#pinned img').length === 2")
    for button in browser.find_elements("css selector", "#pinned button[title$='walk-seeds']"):
        button.click()
    assert len(browser.find_element("id", "walk-seeds").get_property("value").split(",")) == 2
    click(browser, "walk-run")
    settle(browser, "document.querySelector('#walk-frame img')")
    start = srcs(browser, "#walk-frame img")
    assert start == srcs(browser, "#pinned img")[:1]  # frame 0 is the first pinned sample
    browser.execute_script(
        "const s = document.getElementById('walk-slider');"
        "s.value = s.max; s.dispatchEvent(new Event('input'));"
    )
    end = srcs(browser, "#walk-frame img")
    assert end != start and end == srcs(browser, "#pinned img")[1:]
    browser.execute_script(
        "const s = document.getElementById('walk-slider');"
        "s.value = 3; s.dispatchEvent(new Event('input'));"
    )

    # Arithmetic: 3 exemplars each in A, B, C.
    for concept, seeds in (("A", "1,2,3"), ("B", "4,5,6"), ("C", "7,8,9")):
        field = browser.find_element("id", f"concept-{concept}")
        field.clear()
        field.send_keys(seeds)
    click(browser, "arith-run")
    settle(browser, "document.querySelector('#arith-pixel img')")
    assert len(srcs(browser, "#arithmetic .grid3 img")) == 9
    y, pixel = srcs(browser, "#arith-y img"), srcs(browser, "#arith-pixel img")
    assert y[0].startswith("data:image/png") and y != pixel

    # A bad request shows the server's message and breaks nothing.
    browser.find_element("id", "concept-C").clear()
    click(browser, "arith-run")
    settle(browser, "document.getElementById('status').textContent !== ''")
    assert "C must be a list" in browser.find_element("id", "status").text

    # A direction read from a file picked in the page (a `dcgan turn` JSON), with its slider.
    browser.find_element("id", "dir-file").send_keys(str(turn_json))
    settle(  # the file is read and checked asynchronously: wait for its entry
        browser,
        "[...document.querySelectorAll('#dir-name option')].some(o => o.text.startsWith('file:'))",
    )
    browser.find_element("id", "dir-seed").clear()
    browser.find_element("id", "dir-seed").send_keys("9")
    click(browser, "dir-run")
    settle(browser, "document.querySelector('#dir-frame img')")
    middle = srcs(browser, "#dir-frame img")
    assert "t = 0" in browser.find_element("id", "dir-frame").text and "dv=" in browser.current_url
    browser.execute_script(
        "const s = document.getElementById('dir-slider');"
        "s.value = 0; s.dispatchEvent(new Event('input'));"
    )
    assert srcs(browser, "#dir-frame img") != middle

    # The shared URL restores the view in a fresh page.
    shown = view(browser)
    shared = reopen(browser)
    assert "w=" in shared and "A=1%2C2%2C3" in shared
    restored = view(browser)
    assert restored == shown
    assert "t = 0.38" in browser.find_element("id", "walk-frame").text  # frame 3 of 8

    # Play moves the walk along.
    click(browser, "walk-play")
    settle(browser, "document.getElementById('walk-slider').value !== '3'")
    click(browser, "walk-play")
