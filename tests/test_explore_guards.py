"""The explorer refuses what a hostile web page or a broken client would send: a foreign
Host (DNS rebinding) or Origin (CSRF), a POST that is not application/json, JSON nested
without end; a stalled or vanished client costs a thread for at most the timeout, and
leaves no traceback."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time

import pytest
from conftest import train_tiny

from dcgan.explore import Engine, make_server
from dcgan.explore.origin import Origins


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tiny = train_tiny(tmp_path_factory.mktemp("guards"))
    server = make_server(Engine(tiny), port=0, timeout=1.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def raw(server, request: bytes, wait: float = 30) -> tuple[int, bytes]:
    """Send raw HTTP bytes; the status and body of the answer (0 when closed unanswered)."""
    with socket.create_connection(server.server_address[:2], timeout=wait) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = [ln for ln in head.split(b"\r\n") if ln.lower().startswith(b"content-length")]
            if length and len(body) >= int(length[0].split(b":")[1]):
                break
    if not data:
        return 0, b""
    return int(data.split(b" ")[1]), data.partition(b"\r\n\r\n")[2]


def post(server, body: bytes, host: str | None = None, **headers: str) -> int:
    port = server.server_address[1]
    lines = [
        "POST /api/samples HTTP/1.1",
        f"Host: {host or f'127.0.0.1:{port}'}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{k.replace('_', '-')}: {v}" for k, v in headers.items()),
    ]
    return raw(server, ("\r\n".join(lines) + "\r\n\r\n").encode() + body)[0]


SEEDS = json.dumps({"seeds": [1, 2]}).encode()
JSON = {"Content_Type": "application/json"}


def test_host_must_be_the_servers_own(server):
    port = server.server_address[1]
    assert post(server, SEEDS, **JSON) == 200
    assert post(server, SEEDS, host=f"localhost:{port}", **JSON) == 200
    assert post(server, SEEDS, host=f"evil.example:{port}", **JSON) == 403
    assert post(server, SEEDS, host=f"127.0.0.1:{port + 1}", **JSON) == 403
    get = f"GET /api/info HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
    assert raw(server, get.encode())[0] == 403


def test_origin_must_be_the_page_itself(server):
    port = server.server_address[1]
    assert post(server, SEEDS, Origin="http://evil.example", **JSON) == 403
    assert post(server, SEEDS, Origin="null", **JSON) == 403
    assert post(server, SEEDS, Origin=f"http://127.0.0.1:{port}", **JSON) == 200


def test_posts_must_be_json(server):
    assert post(server, SEEDS, Content_Type="text/plain") == 415
    assert post(server, SEEDS) == 415  # no type at all
    assert post(server, SEEDS, Content_Type="application/json; charset=utf-8") == 200


def test_deeply_nested_json_is_a_400(server):
    deep = b'{"seeds": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    assert post(server, deep, **JSON) == 400
    nine = b'{"seeds": ' + b"[" * 9 + b"1" + b"]" * 9 + b"}"
    assert post(server, nine, **JSON) == 400


def test_a_stalled_body_is_dropped_after_the_timeout(server, capfd):
    port = server.server_address[1]
    head = f"POST /api/samples HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 100\r\n"
    start = time.monotonic()
    status, _ = raw(server, (head + "Content-Type: application/json\r\n\r\n{").encode())
    assert status == 0 and time.monotonic() - start < 10  # closed, unanswered
    assert post(server, SEEDS, **JSON) == 200  # and the server still answers
    assert "Traceback" not in capfd.readouterr().err


def test_a_client_that_goes_away_leaves_no_traceback(server, capfd):
    port = server.server_address[1]
    body = json.dumps({"seeds": list(range(64))}).encode()
    request = (
        f"POST /api/samples HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for _ in range(5):
        s = socket.create_connection(server.server_address[:2])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.sendall(request)
        s.close()  # a reset before the 64 images are written back
    time.sleep(2)
    assert post(server, SEEDS, **JSON) == 200
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Broken" not in err, err


@pytest.mark.parametrize(
    ("bound", "host", "ok"),
    [
        ("127.0.0.1", "127.0.0.1:8000", True),
        ("127.0.0.1", "LOCALHOST:8000", True),
        ("127.0.0.1", "127.0.0.1", False),
        ("127.0.0.1", "rebound.example:8000", False),
        ("0.0.0.0", "192.168.1.20:8000", True),
        ("0.0.0.0", "rebound.example:8000", False),
        ("::1", "[::1]:8000", True),
    ],
)
def test_host_rules(bound, host, ok):
    assert Origins(bound, 8000).host_ok(host) is ok


def test_port_80_may_go_unsaid():
    assert Origins("127.0.0.1", 80).host_ok("localhost")
