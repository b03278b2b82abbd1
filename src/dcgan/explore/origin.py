"""Who may talk to the explorer: the Host a request names must be the server's own address
(a web page cannot reach it through a rebound DNS name), and a browser's POST must come
from the explorer's own page (Origin), so no other site can drive it (CSRF)."""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
WILDCARD = {"", "0.0.0.0", "::"}


def _split(value: str) -> tuple[str, str]:
    """'Name:port' or '[v6]:port' -> ('name', 'port'), lower case ('' when absent)."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest.removeprefix(":")
    name, _, port = value.partition(":")
    return name, port


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Origins:
    """The Host and Origin values a server bound to (host, port) accepts."""

    def __init__(self, host: str, port: int) -> None:
        self.port = str(port)
        self.wildcard = host in WILDCARD
        self.names = {host.lower()}
        if host in LOOPBACK or self.wildcard:
            self.names |= LOOPBACK
        if self.wildcard:  # reached by any address of this machine: its IPs and names
            self.names |= {socket.gethostname().lower(), socket.getfqdn().lower()}

    def host_ok(self, value: str | None) -> bool:
        """Whether a Host header names this server (an IP literal, or one of its names)."""
        if not value:
            return False
        name, port = _split(value)
        if port != self.port and not (port == "" and self.port == "80"):
            return False
        return name in self.names or (self.wildcard and _is_ip(name))

    def origin_ok(self, value: str | None) -> bool:
        """Whether an Origin header (absent for non-browser clients) is the page's own."""
        if value is None:
            return True
        scheme, sep, rest = value.partition("://")
        return scheme.lower() == "http" and bool(sep) and self.host_ok(rest)
