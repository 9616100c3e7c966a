"""Proxies without any I/O: proxy URLs, the HTTP CONNECT exchange, the environment.

- :func:`parse_proxy_url` checks ``http://user:pass@host:port``,
  ``socks5://…``, ``socks5h://…``, ``socks4://…`` and ``socks4a://…`` URLs.
- :func:`build_connect_request` and :func:`check_connect_response` are the
  two halves of an HTTP CONNECT tunnel (RFC 9110 §9.3.6).
- :func:`proxy_from_environment` reads ``HTTPS_PROXY`` / ``HTTP_PROXY`` /
  ``ALL_PROXY`` / ``NO_PROXY`` (lowercase first) from a mapping the caller
  passes, so it stays testable and is only consulted when the user asks; in a
  CGI process it ignores ``HTTP_PROXY`` (httpoxy), as urllib does.

Credentials never leave a :class:`ProxyURL` except in the
``Proxy-Authorization`` header: its ``repr``, ``str`` and every error hide them.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import urllib.parse
from collections.abc import Mapping

from ..exceptions import HandshakeError, InvalidURL, ProxyError
from .escape import escape_text
from .handshake import parse_response
from .uri import ascii_host

__all__ = [
    "MAX_CONNECT_RESPONSE",
    "PROXY_SCHEMES",
    "ProxyURL",
    "build_connect_request",
    "bypasses_proxy",
    "check_connect_response",
    "parse_proxy_url",
    "proxy_from_environment",
    "redact_proxy_url",
]

#: Proxy URL schemes and their default ports.
PROXY_SCHEMES = {"http": 80, "socks4": 1080, "socks4a": 1080, "socks5": 1080, "socks5h": 1080}
#: Bytes of a proxy's answer to CONNECT accepted before giving up.
MAX_CONNECT_RESPONSE = 16 * 2**10


@dataclasses.dataclass(frozen=True)
class ProxyURL:
    """A checked proxy URL. ``str()`` and ``repr()`` never show the password."""

    scheme: str
    host: str
    port: int
    user: str | None = dataclasses.field(default=None, repr=False)
    password: str | None = dataclasses.field(default=None, repr=False)

    @property
    def is_socks(self) -> bool:
        """Whether this is a SOCKS proxy (else HTTP CONNECT)."""
        return self.scheme.startswith("socks")

    @property
    def remote_dns(self) -> bool:
        """Whether the proxy resolves the server's name (always for HTTP CONNECT)."""
        return self.scheme in ("http", "socks4a", "socks5h")

    @property
    def address(self) -> str:
        """``host:port``, with IPv6 hosts in brackets."""
        return _host_port(self.host, self.port)

    def __str__(self) -> str:
        credentials = "***@" if self.user is not None else ""
        return f"{self.scheme}://{credentials}{self.address}"


def parse_proxy_url(url: str, *, origin: str = "") -> ProxyURL:
    """Parse and check a proxy URL; raise :class:`InvalidURL` if it is not usable.

    A URL without a scheme (``proxy.example:3128``, as often found in the
    environment) means ``http://``. ``origin`` (such as ``"$HTTPS_PROXY"``) is
    named in error messages.
    """
    if not isinstance(url, str):
        raise TypeError(f"a proxy URL must be a str, not {type(url).__name__}")
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    shown = redact_proxy_url(text)
    where = f" (from {origin})" if origin else ""
    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidURL(shown, f"not a valid proxy URL (check the host and port){where}") from None
    scheme = parts.scheme.lower()
    if scheme == "https":
        msg = "https:// proxies (TLS to the proxy) are not supported; use an http:// proxy"
        raise InvalidURL(shown, msg + where)
    if scheme not in PROXY_SCHEMES:
        raise InvalidURL(shown, f"the proxy scheme must be one of {', '.join(PROXY_SCHEMES)}{where}")
    if not parts.hostname:
        raise InvalidURL(shown, f"no proxy host{where}")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InvalidURL(shown, f"a proxy URL has no path, query or fragment{where}")
    user = urllib.parse.unquote(parts.username) if parts.username is not None else None
    password = urllib.parse.unquote(parts.password) if parts.password is not None else None
    if scheme.startswith("socks4") and password is not None:
        raise InvalidURL(shown, f"SOCKS4 has no password, only a user id{where}")
    return ProxyURL(scheme, parts.hostname, port or PROXY_SCHEMES[scheme], user, password)


def redact_proxy_url(url: str) -> str:
    """``url`` with everything between ``://`` and the last ``@`` replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def build_connect_request(host: str, port: int, proxy: ProxyURL) -> bytes:
    """The CONNECT request that asks ``proxy`` for a tunnel to ``host:port``."""
    target = _host_port(host, port)
    lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
    if proxy.user is not None:
        token = f"{proxy.user}:{proxy.password or ''}".encode()
        lines.append("Proxy-Authorization: Basic " + base64.b64encode(token).decode("ascii"))
    if any(c in line for line in lines for c in "\r\n\0"):
        raise ValueError("invalid character in the CONNECT target or proxy credentials")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


def check_connect_response(head: bytes, host: str, port: int, proxy: ProxyURL) -> None:
    """Accept the proxy's answer head (a 2xx) or raise :class:`ProxyError`."""
    target = _host_port(host, port)
    try:
        response = parse_response(head)
    except HandshakeError as exc:
        raise ProxyError(f"proxy {proxy} answered CONNECT to {target} with invalid HTTP: {exc}") from None
    if 200 <= response.status < 300:
        return
    reason = escape_text(response.reason)  # the proxy's words: no control character in messages
    msg = f"proxy {proxy} refused CONNECT to {target}: {response.status} {reason}".rstrip()
    if response.status in (401, 407):  # 407 is the standard; tinyproxy answers bad credentials with 401
        msg += (
            " (the proxy rejected the user and password of the proxy URL)"
            if proxy.user is not None
            else " (the proxy wants credentials: http://user:password@host:port)"
        )
    raise ProxyError(msg, response.status, response.headers)


def proxy_from_environment(host: str, port: int, secure: bool, environ: Mapping[str, str]) -> ProxyURL | None:
    """The proxy the environment names for ``host:port``, or ``None``.

    ``wss://`` uses ``https_proxy``, ``ws://`` ``http_proxy``; either falls back
    to ``all_proxy``. Each name is looked up in lowercase, then in uppercase;
    an empty value means no proxy. ``no_proxy`` / ``NO_PROXY`` lists hosts to
    reach directly (see :func:`bypasses_proxy`).

    When ``REQUEST_METHOD`` is set (even empty), this is a CGI process and the
    uppercase ``HTTP_PROXY`` is ignored, as :func:`urllib.request.getproxies`
    does (httpoxy, CVE-2016-1000110): the web server puts a client's ``Proxy:``
    request header there. Lowercase ``http_proxy`` still counts, since no
    request header can set it.
    """
    no_proxy = _lookup(environ, "no_proxy")
    if no_proxy and bypasses_proxy(host, port, no_proxy):
        return None
    for name in ("https_proxy" if secure else "http_proxy", "all_proxy"):
        value = _lookup(environ, name)
        if value:
            return parse_proxy_url(value, origin=f"${name.upper()}")
    return None


def bypasses_proxy(host: str, port: int, no_proxy: str) -> bool:
    """Whether ``NO_PROXY``-style ``no_proxy`` says to reach ``host:port`` directly.

    Entries are separated by commas or spaces: ``*`` (every host), a domain
    (``example.com`` or ``.example.com``: the domain and its subdomains, never
    ``badexample.com``), an IP address, a CIDR network (``10.0.0.0/8``), each
    optionally with ``:port`` to bypass only that port. Names are compared in
    their DNS form, the form of a parsed URL's host (IDNA, lowercase: see
    :func:`~geventws.protocol.uri.ascii_host`), so ``bücher.example`` matches
    ``ws://Bücher.example/``; an entry that has no such form never matches.
    """
    host = host.strip("[]").rstrip(".")
    address = _ip(host)
    name = ascii_host(host) if address is None else None
    for entry in no_proxy.replace(",", " ").split():
        if entry == "*":
            return True
        pattern, entry_port = _split_port(entry)
        if entry_port is not None and entry_port != port:
            continue
        if address is not None:
            if _ip_matches(address, pattern):
                return True
        elif name is not None and _in_domain(name, pattern):
            return True
    return False


def _in_domain(name: str, pattern: str) -> bool:
    """Whether the DNS-form ``name`` is the domain of ``pattern`` or under it."""
    # Encoded like the URL's host; the leading dots and "*" go first, since
    # IDNA refuses an empty label.
    domain = ascii_host(pattern.lstrip("*").lstrip(".").rstrip("."))
    return domain is not None and (name == domain or name.endswith("." + domain))


def _lookup(environ: Mapping[str, str], name: str) -> str:
    if name == "http_proxy" and "REQUEST_METHOD" in environ:
        # CGI: only a variable spelled exactly http_proxy. Found by iterating,
        # since a case-insensitive environment (os.environ on Windows) would
        # answer get("http_proxy") with the client's HTTP_PROXY.
        return next((v for k, v in environ.items() if k == name), "").strip()
    value = environ.get(name)
    if value is None:
        value = environ.get(name.upper(), "")
    return value.strip()


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host:port`` → (host, port); a bare IPv6 address has no port."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        return host, int(port) if port.isdigit() else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        if port.isdigit():
            return host, int(port)
    return entry, None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _ip_matches(address: ipaddress.IPv4Address | ipaddress.IPv6Address, pattern: str) -> bool:
    try:
        return address in ipaddress.ip_network(pattern, strict=False)
    except ValueError:
        return False


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
