"""Issue 9 on the 64 px CelebA model: the explorer's latency and a screenshot of it.

Serves the run of bench/celeba64.py with `dcgan explore`'s server, with two directions:
the turn vector of `dcgan turn` and the smile vector of the A - B + C arithmetic of
bench/latent_celeba.py (its JSON, read as mean(A) - mean(B)). Measures request latency
alone and under 50 concurrent requests, then opens a view in headless chromium and saves
docs/explore.png. Numbers go to bench/results/explore_celeba.json.

    python bench/explore_celeba.py --run /work/main/bench/runs/00003-celeba_aligned_0064
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from harness import ROOT, parse_args, write_results
from PIL import Image

from dcgan.experiments.figures import save_json
from dcgan.experiments.latent import arithmetic, turn
from dcgan.explore import Engine, make_server
from dcgan.io import atomic_write
from dcgan.options import opt
from dcgan.sampling import load

CONCEPTS = {"A": [1, 3, 5], "B": [0, 2, 4], "C": [6, 7, 8]}  # smiling, neutral, neutral
VIEW = (
    "g=0&p=11,22,33,44,9,12&w=11,22,33,44&m=slerp&s=8&wf=12"
    "&A=1,3,5&B=0,2,4&C=6,7,8&d=smile&ds=22&dx=2&dn=9&df=7"
)


def post(url: str, path: str, body: dict) -> float:
    """Seconds for one request (which must succeed)."""
    start = time.perf_counter()
    request = urllib.request.Request(url + path, json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=300) as r:
        assert r.status == 200
        r.read()
    return time.perf_counter() - start


def latency(url: str) -> dict:
    requests = {
        "samples_16": ("/api/samples", {"seeds": list(range(16))}),
        "walk_4x8": ("/api/walk", {"seeds": [11, 22, 33, 44], "steps": 8}),
        "arithmetic": ("/api/arithmetic", CONCEPTS),
        "direction_9": ("/api/direction", {"seed": 22, "direction": "turn", "frames": 9}),
    }
    out = {}
    for name, (path, body) in requests.items():
        times = [post(url, path, body) for _ in range(10)]
        out[name + "_median_ms"] = round(1000 * statistics.median(times), 1)
    return out


def concurrent(url: str, n: int = 50) -> dict:
    """n grid requests at once, and an /api/info call made while they run."""
    with ThreadPoolExecutor(n + 1) as pool:
        start = time.perf_counter()
        grids = [
            pool.submit(post, url, "/api/samples", {"seeds": list(range(i, i + 16))})
            for i in range(n)
        ]
        time.sleep(0.05)
        t = time.perf_counter()
        with urllib.request.urlopen(url + "/api/info", timeout=300) as r:
            r.read()
        info_s = time.perf_counter() - t
        times = [f.result() for f in grids]
        wall = time.perf_counter() - start
    return {
        "requests": n,
        "images_each": 16,
        "wall_s": round(wall, 2),
        "max_latency_s": round(max(times), 2),
        "median_latency_s": round(statistics.median(times), 2),
        "info_during_load_ms": round(1000 * info_s, 1),
    }


def screenshot(url: str, out: Path, view: str = VIEW) -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--hide-scrollbars"):
        options.add_argument(flag)
    options.add_argument("--window-size=1400,1000")
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(url + "#" + view)
        ready = (
            "return document.body.dataset.busy === '0' && !!document.querySelector("
            "'#dir-frame img') && !!document.querySelector('#arith-pixel img');"
        )
        WebDriverWait(driver, 300).until(lambda d: d.execute_script(ready))
        height = driver.execute_script("return document.documentElement.scrollHeight;")
        driver.set_window_size(1400, height + 140)  # the window's frame is not the page
        time.sleep(0.5)
        png = driver.get_screenshot_as_png()
    finally:
        driver.quit()
    atomic_write(out.with_suffix(".full.png"), lambda f: f.write(png))
    image = Image.open(out.with_suffix(".full.png")).convert("RGB").quantize(256)
    atomic_write(out, lambda f: image.save(f, format="PNG", optimize=True))
    out.with_suffix(".full.png").unlink()


@dataclass
class Args:
    """The command line: one flag per field (harness.parse_args)."""

    run: str = opt(str(ROOT / "bench" / "runs" / "00003-celeba_aligned_0064"))
    docs: str = opt(str(ROOT / "docs"))


def main() -> None:
    args = parse_args(Args, __doc__)
    t0 = time.time()
    model = load(args.run)
    with tempfile.TemporaryDirectory() as tmp:
        _, record = turn(model, pool=400, rows=1, frames=2)
        save_json(Path(tmp) / "turn.json", record)
        arithmetic(model, "A - B + C", CONCEPTS).save(Path(tmp) / "smile.png")
        engine = Engine(args.run, directions=[Path(tmp) / "turn.json", Path(tmp) / "smile.json"])
    server = make_server(engine, port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    results = {"run": Path(args.run).name, "step": model.step, "size": 64}
    results["latency"] = latency(url)
    results["concurrent"] = concurrent(url)
    screenshot(url + "/", Path(args.docs) / "explore.png")
    server.shutdown()
    results["seconds"] = round(time.time() - t0, 1)
    write_results("explore_celeba", results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
