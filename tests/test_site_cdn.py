"""The static site's default mode, onnxruntime-web from its pinned jsDelivr URL, in headless
chromium: the page is left as `dcgan export --out-format site` writes it, and chromium's
resolver sends cdn.jsdelivr.net to a local HTTPS server that serves the npm package's files as
jsDelivr does (cross-origin, `Access-Control-Allow-Origin: *`). The images must equal
PyTorch's, and a file that is not onnxruntime-web's is refused by its sha384."""

from __future__ import annotations

import functools
import json
import ssl
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
from conftest import train_tiny
from test_explore_browser import chromium, pytestmark, settle, srcs  # noqa: F401 (pytestmark)
from test_site_browser import Quiet, ort_tgz, pixels, uint8  # noqa: F401 (fixture)

from dcgan.explore.site import ORT_CDN, ORT_FILES, ORT_VERSION
from dcgan.export import export
from dcgan.sampling import load, sample

HOST = "cdn.jsdelivr.net"


class Cdn(SimpleHTTPRequestHandler):
    """jsDelivr's answers as far as the page relies on them: CORS open, JS and wasm types."""

    extensions_map = {".mjs": "text/javascript", ".wasm": "application/wasm"}

    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Cache-Control", "no-store")  # the tampered file is served next
        super().end_headers()

    def log_message(self, format: str, *args) -> None:
        pass


def serve(handler, root: Path, tls: ssl.SSLContext | None = None) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=root))
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="module")
def cdn(tmp_path_factory, ort_tgz: Path) -> Iterator[tuple[int, Path]]:  # noqa: F811
    """(the port of a local HTTPS jsDelivr, the folder its onnxruntime-web files lie in)."""
    tmp = tmp_path_factory.mktemp("cdn")
    key, cert = tmp / "key.pem", tmp / "cert.pem"
    openssl = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    names = [f"/CN={HOST}", "-addext", f"subjectAltName=DNS:{HOST}"]
    command = [*openssl, "-keyout", str(key), "-out", str(cert), "-subj", *names]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError) as e:
        pytest.skip(f"openssl cannot make a certificate for the local CDN: {e}")
    dist = tmp / ORT_CDN.split(HOST + "/", 1)[1]
    dist.mkdir(parents=True)
    with tarfile.open(ort_tgz, "r:gz") as tar:
        for name in ORT_FILES:
            (dist / name).write_bytes(tar.extractfile(f"package/dist/{name}").read())
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    server = serve(Cdn, tmp, tls)
    yield server.server_address[1], dist
    server.shutdown()
    server.server_close()


def test_cdn_site_in_a_browser(cdn: tuple[int, Path], tmp_path: Path) -> None:
    port, dist = cdn
    run = train_tiny(tmp_path)
    site = export(run, tmp_path / "site", format="site", site_seeds=16).path
    page = (site / "index.html").read_text()
    assert f"{ORT_CDN}{next(iter(ORT_FILES))}" in page and "./ort/" not in page
    assert json.loads((site / "site.json").read_text())["ort"]["version"] == ORT_VERSION
    host = serve(Quiet, site)
    url = f"http://127.0.0.1:{host.server_address[1]}/"
    flags = (f"--host-resolver-rules=MAP {HOST} 127.0.0.1:{port}", "--ignore-certificate-errors")
    driver = chromium(*flags)
    try:
        driver.get(url)
        settle(driver, "document.querySelectorAll('#grid img').length === 16")
        assert driver.find_element("id", "status").text == ""
        expected = uint8(sample(load(run), list(range(16)), bn="batch"))
        grid = pixels(srcs(driver, "#grid img"))
        assert np.abs(grid.astype(int) - expected).max() <= 1

        # The same page with a changed onnxruntime-web: the import map's sha384 refuses it.
        js = dist / next(iter(ORT_FILES))
        genuine = js.read_bytes()
        js.write_bytes(genuine + b"\n// changed\n")
        try:
            driver.quit()
            driver = chromium(*flags)
            driver.get(url)
            settle(driver, "document.getElementById('status').textContent !== ''")
            assert srcs(driver, "#grid img") == []
        finally:
            js.write_bytes(genuine)
    finally:
        driver.quit()
        host.shutdown()
        host.server_close()
