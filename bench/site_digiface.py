"""Issue 30 item 3 on the DigiFace model: the static site's size and its first-image time.

Pulls digiface64 from a local copy and builds its site (running BatchNorm, as the README
uses this model, and a turn direction) twice: onnxruntime-web from the CDN, and --offline
with its own copy. Serves the offline one with Python's http.server and opens it in
headless chromium: the time from navigation to the grid's 16 images, cold (a new browser,
empty cache) and warm (a reload), and the time of a 16-image request once loaded. Saves a
screenshot to docs/site_digiface.png and the numbers to bench/results/site_digiface.json.

    python bench/site_digiface.py --weights /work/shared/data/pretrained/digiface64_dcgan
"""

from __future__ import annotations

import functools
import gzip
import json
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness import ROOT, parse_args, print_table, shrink, write_results

from dcgan.experiments.figures import save_json
from dcgan.experiments.latent import turn
from dcgan.explore.site import ORT_FILES, ort_web_tgz
from dcgan.export import export
from dcgan.io import atomic_write
from dcgan.options import CACHE, opt
from dcgan.pull import pull
from dcgan.sampling import load

GRID_READY = "document.querySelectorAll('#grid img').length === 16"
VIEW = "g=0&p=3,21,42,7&w=3,21,42&m=slerp&s=8&wf=12&A=1,3,5&B=0,2,4&C=6,7,8&d=turn&ds=21&df=7"


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    weights: str = opt("/work/shared/data/pretrained/digiface64_dcgan", "digiface64's copy")
    cold: int = opt(3, "cold loads (a new browser each)")
    docs: str = opt(str(ROOT / "docs"))


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:
        pass


def sizes(site: Path) -> dict:
    """Bytes of each file the page loads, as stored and gzipped (what a host may send)."""
    files = {p.relative_to(site).as_posix(): p.read_bytes() for p in site.rglob("*") if p.is_file()}
    return {
        name: {"bytes": len(data), "gzip": len(gzip.compress(data, 6))}
        for name, data in sorted(files.items())
    }


def browser(width: int = 1200, height: int = 900):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def wait(driver, ready: str, timeout: float = 300) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    script = f"return document.body.dataset.busy === '0' && !!({ready});"
    WebDriverWait(driver, timeout, poll_frequency=0.01).until(lambda d: d.execute_script(script))


def first_image_s(driver, url: str) -> float:
    """Seconds from navigation start to the grid's 16 images (10 ms polling)."""
    driver.get(url)
    wait(driver, GRID_READY)
    return driver.execute_script("return performance.now();") / 1000


def grid_request_s(driver) -> float:
    """Median seconds of 10 requests for 16 images, once the page is loaded."""
    script = (
        "const done = arguments[arguments.length - 1];"
        "import('./site.js').then(async (m) => { const times = [];"
        " for (let k = 0; k < 10; k++) { const t = performance.now();"
        "  await m.answer('/api/samples', {seeds: [...Array(16).keys()].map(i => i + 16 * k)});"
        "  times.push(performance.now() - t); } done(times); });"
    )
    return statistics.median(driver.execute_async_script(script)) / 1000


def screenshot(url: str, out: Path) -> None:
    driver = browser(1200, 900)
    try:
        driver.get(url + "#" + VIEW)
        wait(
            driver,
            "document.querySelector('#dir-frame img') && document.querySelector("
            "'#arith-pixel img')",
        )
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1200, height + 140)
        time.sleep(0.5)
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    atomic_write(out, lambda f: f.write(png))
    shrink(out)


def main() -> None:
    args = parse_args(Args, __doc__)
    t0 = time.time()
    tmp = Path(tempfile.mkdtemp(prefix="site-digiface-"))
    package = pull("digiface64", source=args.weights, cache=str(tmp / "cache"))
    _, record = turn(load(package), pool=400, rows=1, frames=2, bn="running")
    save_json(tmp / "turn.json", record)
    # running BatchNorm, as the README uses this model
    options = {"format": "site", "bn": "running", "directions": [str(tmp / "turn.json")]}
    cdn = export(package, tmp / "cdn", **options)
    offline = export(
        package, tmp / "offline", offline=True, ort_web=str(ort_web_tgz(CACHE)), **options
    )

    handler = functools.partial(Quiet, directory=str(offline.path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    cold = []
    for _ in range(args.cold):
        driver = browser()
        try:
            cold.append(first_image_s(driver, url))
        finally:
            driver.quit()
    driver = browser()
    try:
        first_image_s(driver, url)
        warm = [first_image_s(driver, url) for _ in range(3)]
        grid = grid_request_s(driver)
    finally:
        driver.quit()
    screenshot(url, Path(args.docs) / "site_digiface.png")
    server.shutdown()

    files = sizes(offline.path)
    folders = {"cdn": sizes(cdn.path), "offline": files}
    total = {  # a browser loads the offline folder's bytes either way (ort/ from the CDN or not)
        f"{kind}_folder": {k: sum(v[k] for v in chosen.values()) for k in ("bytes", "gzip")}
        for kind, chosen in folders.items()
    }
    results = {
        "model": "digiface64",
        "seeds": offline.metadata["seeds"],
        "bn": offline.metadata["bn"],
        "onnx_max_abs_diff": offline.max_abs_diff,
        "files": files,
        "total": total,
        "ort_files": list(ORT_FILES),
        "first_image_s": {
            "cold": [round(x, 2) for x in cold],
            "cold_median": round(statistics.median(cold), 2),
            "warm": [round(x, 2) for x in warm],
            "warm_median": round(statistics.median(warm), 2),
        },
        "grid_request_s": round(grid, 3),
        "served_from": "localhost (Python http.server, no compression)",
        "seconds": round(time.time() - t0, 1),
    }
    write_results("site_digiface", results)
    print_table(["file", "bytes", "gzip"], [[k, v["bytes"], v["gzip"]] for k, v in files.items()])
    print(json.dumps({k: results[k] for k in ("total", "first_image_s", "grid_request_s")}))


if __name__ == "__main__":
    main()
