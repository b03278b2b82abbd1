"""The explorer's HTTP server (Python's stdlib): the static page, and a JSON API over
`Engine`. Every failure is a JSON error with a 4xx (bad request) or 500 status; a request
never takes the server down. Requests must name the server's own Host, POSTs must come from
its own page (Origin) as application/json; a stalled connection is dropped after TIMEOUT
seconds and a client that goes away is no error."""

from __future__ import annotations

import json
import sys
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any

from dcgan.errors import DcganError
from dcgan.explore.engine import Engine
from dcgan.explore.origin import Origins
from dcgan.explore.requests import MAX_BODY, MAX_DEPTH, BadRequest, depth
from dcgan.options import configure
from dcgan.options_tools import ExploreConfig

STATIC = {"/": ("index.html", "text/html"), "/explore.js": ("explore.js", "text/javascript")}
TIMEOUT = 30.0  # seconds a connection may stall while a request or its body is read
ROUTES = {  # POST path -> Engine method
    "/api/samples": "samples",
    "/api/walk": "walk",
    "/api/arithmetic": "arithmetic",
    "/api/direction": "direction",
}


def static_file(name: str) -> bytes:
    return resources.files("dcgan.explore").joinpath("static", name).read_bytes()


class Handler(BaseHTTPRequestHandler):
    """GET: the page and /api/info; POST: the generation routes, JSON in and out."""

    engine: Engine  # set on the subclass made by `make_server`, as are these two
    origins: Origins
    timeout: float | None = TIMEOUT  # the socket timeout of each connection
    quiet = True
    protocol_version = "HTTP/1.1"

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):  # the client went away or stalled
            self.close_connection = True

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].split("#", 1)[0]
        if not self.origins.host_ok(self.headers.get("Host")):
            self.close_connection = True
            self._json(HTTPStatus.FORBIDDEN, {"error": "this server answers to its own address"})
        elif path in STATIC:
            name, kind = STATIC[path]
            self._send(HTTPStatus.OK, static_file(name), f"{kind}; charset=utf-8")
        elif path == "/api/info":
            self._json(HTTPStatus.OK, self.engine.info())
        elif path in ROUTES:
            self._json(HTTPStatus.METHOD_NOT_ALLOWED, {"error": f"use POST for {path}"})
        else:
            self._json(HTTPStatus.NOT_FOUND, {"error": f"no such page {path}"})

    def do_POST(self) -> None:
        try:
            route = ROUTES.get(self.path)
            if route is None:
                self.close_connection = True  # its body is not read: end the connection
                raise BadRequest(f"no such route {self.path}", 404)
            if not self.origins.host_ok(self.headers.get("Host")):
                self.close_connection = True
                raise BadRequest("this server answers to its own address", 403)
            if not self.origins.origin_ok(self.headers.get("Origin")):
                self.close_connection = True
                raise BadRequest("requests from other sites are refused", 403)
            body = self._body()
            self._json(HTTPStatus.OK, getattr(self.engine, route)(body))
        except (ConnectionError, TimeoutError):
            raise  # the client is gone: nothing to answer (see handle)
        except BadRequest as e:
            self._json(e.status, {"error": str(e)})
        except DcganError as e:
            self._json(HTTPStatus.BAD_REQUEST, {"error": str(e)})
        except Exception as e:  # a bug: report it, keep serving
            traceback.print_exc(file=sys.stderr)
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error: {e}"})

    def _body(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise BadRequest("a POST needs a Content-Length", 411) from None
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True  # the unread body would be taken for a request
            if length < 0:
                raise BadRequest("a negative Content-Length")
            raise BadRequest(f"request body over {MAX_BODY} bytes", 413)
        data = self.rfile.read(length)
        if len(data) < length:
            raise ConnectionAbortedError("the client closed the connection mid-body")
        if self.headers.get_content_type() != "application/json":
            raise BadRequest("a POST body must be sent as application/json", 415)
        try:
            body = json.loads(data or b"null")
        except RecursionError:
            raise BadRequest(f"the request JSON nests deeper than {MAX_DEPTH} levels") from None
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("the request body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        if depth(body) > MAX_DEPTH:
            raise BadRequest(f"the request JSON nests deeper than {MAX_DEPTH} levels")
        return body

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json")

    def _send(self, status: int, data: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if not self.quiet:
            super().log_message(format, *args)


class Server(ThreadingHTTPServer):
    daemon_threads = True  # Ctrl-C does not wait for open connections
    request_queue_size = 128  # 50+ clients connecting at once are queued, not refused

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)


def make_server(
    engine: Engine, config: ExploreConfig | None = None, *, timeout: float = TIMEOUT, **options: Any
) -> Server:
    """A server bound to host:port (port 0: any free port); `serve_forever()` runs it.
    `options` are ExploreConfig's fields (host, port)."""
    c = configure(ExploreConfig, config, options)
    host, port = c.host, c.port
    handler = type("BoundHandler", (Handler,), {"engine": engine, "timeout": timeout})
    try:
        server = Server((host, port), handler)
    except OSError as e:
        raise DcganError(f"cannot listen on {host}:{port} ({e.strerror or e})") from None
    handler.origins = Origins(host, server.server_address[1])
    return server
