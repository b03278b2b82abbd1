"""`dcgan explore`'s server: the JSON API, its validation, directions, and 50 concurrent
requests. The page itself is driven in a browser by test_explore_browser.py."""

from __future__ import annotations

import base64
import http.client
import io
import json
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import train_tiny
from PIL import Image

from dcgan import DcganError
from dcgan.experiments.latent import arithmetic
from dcgan.explore import Engine, make_server
from dcgan.explore.directions import direction_from_record, load_direction
from dcgan.options_tools import ExploreConfig
from dcgan.sampling import load, sample, to_uint8


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    return train_tiny(tmp_path_factory.mktemp("explore"))


@pytest.fixture(scope="module")
def turn_json(tiny: Path, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("dirs") / "turn.json"
    v = torch.linspace(-1, 1, 100)
    path.write_text(json.dumps({"turn_vector": v.tolist(), "scale": 2.0}))
    return path


@pytest.fixture(scope="module")
def url(tiny: Path, turn_json: Path):
    server = make_server(Engine(tiny, directions=[turn_json]), port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def call(url: str, path: str, body=None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url + path,
        data=data,
        method="GET" if data is None else "POST",
        headers={} if data is None else {"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def decode(data_url: str) -> Image.Image:
    assert data_url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1])))


def test_page_and_info(url: str) -> None:
    with urllib.request.urlopen(url + "/") as r:
        assert b"explore.js" in r.read()
    with urllib.request.urlopen(url + "/explore.js") as r:
        assert b"/api/samples" in r.read()
    status, info = call(url, "/api/info")
    assert status == 200 and info["size"] == 16 and info["nz"] == 100
    assert info["directions"] == ["turn"]


def test_samples_are_dcgan_sample_images(url: str, tiny: Path) -> None:
    status, out = call(url, "/api/samples", {"seeds": [3, 1, 4]})
    assert status == 200 and out["seeds"] == [3, 1, 4]
    got = [torch.from_numpy(np.array(decode(u))) for u in out["images"]]
    expected = torch.from_numpy(to_uint8(sample(load(tiny), seeds=[3, 1, 4]))).squeeze(-1)
    torch.testing.assert_close(torch.stack(got), expected)


def test_walk_frames_and_endpoints(url: str) -> None:
    status, out = call(url, "/api/walk", {"seeds": [1, 2, 3], "steps": 4, "mode": "lerp"})
    assert status == 200 and len(out["images"]) == 9 and out["points"] == [0, 4, 8]
    _, ends = call(url, "/api/samples", {"seeds": [1, 2, 3]})
    assert [out["images"][i] for i in out["points"]] == ends["images"]


def test_arithmetic_matches_the_latent_tool(url: str, tiny: Path) -> None:
    body = {"A": [1, 2, 3], "B": [4, 5, 6], "C": [7, 8, 9]}
    status, out = call(url, "/api/arithmetic", body)
    assert status == 200 and len(out["y"]) == 9 and out["noise"] == 0.25
    assert all(len(out["exemplars"][c]) == 3 for c in "ABC")
    r = arithmetic(load(tiny), "A - B + C", body)
    expected = to_uint8(r.y_images[:1])[0].squeeze()
    assert (np.array(decode(out["y"][0])) == expected).all()
    assert decode(out["pixel"]).size == (16, 16)


def test_direction_named_given_and_from_record(url: str, turn_json: Path) -> None:
    status, named = call(url, "/api/direction", {"seed": 5, "direction": "turn", "frames": 5})
    assert status == 200 and named["t"] == [-2.0, -1.0, 0.0, 1.0, 2.0]
    _, centre = call(url, "/api/samples", {"seeds": [5]})
    assert named["images"][2] == centre["images"][0]  # t = 0 is the seed's own image
    record = json.loads(turn_json.read_text())
    _, uploaded = call(url, "/api/direction", {"seed": 5, "record": record, "frames": 5})
    _, given = call(url, "/api/direction", {"seed": 5, "vector": named["vector"], "frames": 5})
    assert uploaded["images"] == named["images"] == given["images"]


def test_direction_from_arithmetic_record_is_a_minus_b(tiny: Path, tmp_path: Path) -> None:
    concepts = {"A": [1, 2, 3], "B": [4, 5, 6], "C": [7, 8, 9]}
    r = arithmetic(load(tiny), "A - B + C", concepts)
    paths = r.save(tmp_path / "ar.png")
    name, v = load_direction(paths[1], 100)
    assert name == "ar"
    torch.testing.assert_close(torch.tensor(v), r.z_means["A"] - r.z_means["B"], atol=1e-5, rtol=0)
    with pytest.raises(DcganError, match="no direction"):
        direction_from_record({"turn_vector": [1.0, 2.0]}, 100)


BAD = [
    ("/api/samples", {"seeds": [-1]}, 400),
    ("/api/samples", {"seeds": [2**31]}, 400),
    ("/api/samples", {"seeds": list(range(65))}, 400),
    ("/api/samples", {"seeds": [1.5]}, 400),
    ("/api/samples", {"seeds": [True]}, 400),
    ("/api/samples", {"seeds": "1,2"}, 400),
    ("/api/samples", {}, 400),
    ("/api/walk", {"seeds": [1]}, 400),
    ("/api/walk", {"seeds": [1, 2], "steps": 1000}, 400),
    ("/api/walk", {"seeds": [1, 2], "mode": "cubic"}, 400),
    ("/api/arithmetic", {"A": [1], "B": [2]}, 400),
    ("/api/arithmetic", {"A": list(range(9)), "B": [1], "C": [2]}, 400),
    ("/api/direction", {"seed": 1, "vector": [0.0] * 99}, 400),
    ("/api/direction", {"seed": 1, "vector": [float("nan")] * 100}, 400),
    ("/api/direction", {"seed": 1, "direction": "smile"}, 404),
    ("/api/direction", {"seed": 1, "record": {"y": 3}}, 400),
    ("/api/direction", {"seed": 1, "direction": "turn", "scale": 1e9}, 400),
    ("/api/direction", {"seed": 1, "direction": [1]}, 400),
    ("/api/direction", {"seed": 1, "vector": [10**400] * 100}, 400),
    ("/api/direction", {"seed": 1, "record": {"vector": [1e6] * 100}}, 400),
    ("/api/direction", {"seed": 1, "record": {"expression": 5, "y": [0], "mean_z": [[0]]}}, 400),
    ("/api/nothing", {}, 404),
]


@pytest.mark.parametrize(("path", "body", "status"), BAD)
def test_bad_requests_get_a_json_4xx(url: str, path: str, body: dict, status: int) -> None:
    code, out = call(url, path, body)  # json.dumps writes nan as NaN, which Python reads
    assert code == status and isinstance(out["error"], str) and out["error"]


def test_malformed_bodies(url: str) -> None:
    assert call(url, "/api/samples", raw=b"{not json")[0] == 400
    assert call(url, "/api/samples", raw=b"[1, 2]")[0] == 400
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest("POST", "/api/samples")
    conn.putheader("Content-Length", str((1 << 20) + 1))  # refused before the body is read
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and "bytes" in json.loads(response.read())["error"]
    conn.close()
    assert call(url, "/api/samples")[0] == 405  # a GET on a POST route
    assert call(url, "/nope")[0] == 404


def test_50_concurrent_requests_all_answered(url: str) -> None:
    """Good and bad requests at once: every one answered, the server still up after."""

    def one(i: int) -> tuple[int, float]:
        start = time.perf_counter()
        body = {"seeds": [i, i + 1, i + 2, i + 3]} if i % 5 else {"seeds": [-i - 1]}
        code, _ = call(url, "/api/samples", body)
        return code, time.perf_counter() - start

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(one, range(50)))
    codes = [c for c, _ in results]
    assert codes.count(200) == 40 and codes.count(400) == 10
    assert max(t for _, t in results) < 30
    assert call(url, "/api/info")[0] == 200


def test_cli_explore_bad_checkpoint_and_port(tmp_path: Path, tiny: Path, capsys) -> None:
    from dcgan.cli import main

    (tmp_path / "bad.pt").write_bytes(b"junk")
    assert main(["explore", str(tmp_path / "bad.pt")]) == 2
    assert main(["explore", str(tiny), "--direction", str(tmp_path / "none.json")]) == 2
    assert main(["explore", str(tiny), "--port", "99999"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("dcgan: error:") for line in err)


def test_one_config_serves_engine_and_server(tiny: Path, turn_json: Path) -> None:
    """ExploreConfig holds the explorer's options for Engine and make_server alike, checked
    as the command line checks them; its fields may also be given by name."""
    config = ExploreConfig(port=0, directions=[turn_json])
    engine = Engine(tiny, config)
    server = make_server(engine, config)
    try:
        assert engine.info()["directions"] == ["turn"] and server.server_address[1] > 0
    finally:
        server.server_close()
    with pytest.raises(DcganError, match="port must be in 0..65535, got 99999"):
        make_server(engine, port=99999)
    with pytest.raises(DcganError, match="directions must be a list"):
        Engine(tiny, directions=turn_json)


def test_page_loads_nothing_from_elsewhere() -> None:
    """No CDN, no third-party code: every script and link of the page is its own."""
    from dcgan.explore.server import static_file

    page = static_file("index.html").decode() + static_file("explore.js").decode()
    assert "http://" not in page and "https://" not in page and "//cdn" not in page
    assert '<script src="explore.js">' in page
