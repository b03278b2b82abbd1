"""The static site of `dcgan export --out-format site --offline` in headless chromium, served
by a plain static file server: its images (G in onnxruntime-web) against PyTorch's for the
same seeds, walks, arithmetic and directions, and the shared URL restoring the view.

onnxruntime-web comes from the npm .tgz in the cache (`make ort-web`, which .ci/run calls
while the registry is reachable); without it and without npm the test skips and says why."""

from __future__ import annotations

import base64
import functools
import io
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import train_tiny
from PIL import Image
from test_explore_browser import (  # noqa: F401 (fixture; the skip without chromium)
    browser,
    click,
    pytestmark,
    reopen,
    settle,
    srcs,
    view,
)

from dcgan.errors import DcganError
from dcgan.experiments.latent import arithmetic
from dcgan.export import export
from dcgan.options import CACHE
from dcgan.sampling import load, sample, to_uint8

SEEDS = 64  # the site's table: seeds 0..63


@pytest.fixture(scope="module")
def ort_tgz() -> Path:
    from dcgan.explore.site import ort_web_tgz

    try:
        return ort_web_tgz(CACHE)
    except DcganError as e:
        pytest.skip(f"no onnxruntime-web for the site: {e}")


@pytest.fixture(scope="module")
def site(tmp_path_factory, ort_tgz: Path) -> Iterator[tuple[str, Path]]:
    """(the site's URL, its run), served from its folder by http.server."""
    tmp = tmp_path_factory.mktemp("site")
    run = train_tiny(tmp)
    turn = tmp / "turn.json"
    turn.write_text(json.dumps({"turn_vector": [(-1) ** i * 0.5 for i in range(100)]}))
    options = {"offline": True, "ort_web": str(ort_tgz), "site_seeds": SEEDS}
    out = export(run, tmp / "site", format="site", directions=[str(turn)], **options).path
    handler = functools.partial(Quiet, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", run
    server.shutdown()
    server.server_close()


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


def pixels(urls: list[str]) -> np.ndarray:
    """PNG data URLs -> uint8 (N, H, W) (the site's grey images are RGB with equal channels)."""
    out = []
    for url in urls:
        data = base64.b64decode(url.split(",", 1)[1])
        out.append(np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))[..., 0])
    return np.stack(out)


def uint8(images) -> np.ndarray:
    return to_uint8(images)[..., 0]


def test_site_in_a_browser(browser, site: tuple[str, Path]) -> None:  # noqa: F811 (fixture)
    url, run = site
    model = load(run)
    browser.get(url)
    settle(browser, "document.querySelectorAll('#grid img').length === 16")
    assert browser.find_element("id", "status").text == ""
    assert "onnxruntime-web" in browser.find_element("id", "info").text

    # G in the browser: its floats within 1e-3 of PyTorch's, the grid's PNGs within a level.
    floats = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "import('./site.js').then(m => m.seedImages([...Array(16).keys()]))"
        ".then(a => done(Array.from(a)), e => done(String(e)));"
    )
    expected = sample(model, list(range(16)), bn="batch")
    got = np.asarray(floats, dtype=np.float32).reshape(expected.shape)
    assert np.abs(got - expected.numpy()).max() < 1e-3
    grid = pixels(srcs(browser, "#grid img"))
    assert np.abs(grid.astype(int) - uint8(expected)).max() <= 1

    # A seed beyond the shipped table is refused in one line, by the page and by site.js.
    browser.find_element("id", "pin-seed").send_keys(str(SEEDS))
    click(browser, "pin-add")
    assert f"lies in [0, {SEEDS - 1}]" in browser.find_element("id", "status").text
    browser.find_element("id", "walk-seeds").send_keys(f"3,{SEEDS}")
    click(browser, "walk-run")
    settle(browser, "document.getElementById('status').textContent.includes('seeds[1]')")
    assert f"must lie in [0, {SEEDS - 1}], got {SEEDS}" in browser.find_element("id", "status").text
    browser.find_element("id", "walk-seeds").clear()

    # A walk 3 -> 17: its ends are those seeds' images.
    for seed in (3, 17):
        browser.find_element("id", "pin-seed").clear()
        browser.find_element("id", "pin-seed").send_keys(str(seed))
        click(browser, "pin-add")
    settle(browser, "document.querySelectorAll('#pinned img').length === 2")
    browser.find_element("id", "walk-seeds").send_keys("3,17")
    click(browser, "walk-run")
    settle(browser, "document.querySelector('#walk-frame img')")
    assert srcs(browser, "#walk-frame img") == srcs(browser, "#pinned img")[:1]
    browser.execute_script(
        "const s = document.getElementById('walk-slider');"
        "s.value = 3; s.dispatchEvent(new Event('input'));"
    )

    # Fig. 7 arithmetic: Y and the pixel-space sum as `dcgan arithmetic` makes them.
    concepts = {"A": [1, 2, 3], "B": [4, 5, 6], "C": [7, 8, 9]}
    for concept, seeds in concepts.items():
        browser.find_element("id", f"concept-{concept}").send_keys(",".join(map(str, seeds)))
    click(browser, "arith-run")
    settle(browser, "document.querySelector('#arith-pixel img')")
    r = arithmetic(model, "A - B + C", concepts, bn="batch")
    y = pixels(srcs(browser, "#arith-y img"))
    assert np.abs(y.astype(int) - uint8(r.y_images[:1])).max() <= 1
    pixel = pixels(srcs(browser, "#arith-pixel img"))
    assert np.abs(pixel.astype(int) - uint8(r.pixel[None])).max() <= 1

    # The named direction shipped with the site, and its slider.
    browser.find_element("id", "dir-name").send_keys("turn")
    browser.find_element("id", "dir-seed").clear()
    browser.find_element("id", "dir-seed").send_keys("9")
    click(browser, "dir-run")
    settle(browser, "document.querySelector('#dir-frame img')")
    assert "t = 0" in browser.find_element("id", "dir-frame").text
    middle = pixels(srcs(browser, "#dir-frame img"))
    assert np.abs(middle.astype(int) - uint8(sample(model, [9], bn="batch"))).max() <= 1

    # The shared URL restores the same view in a fresh page.
    shown = view(browser)
    shared = reopen(browser)
    assert "w=3%2C17" in shared and "d=turn" in shared
    assert view(browser) == shown
    assert "t = 0.38" in browser.find_element("id", "walk-frame").text  # frame 3 of 8
