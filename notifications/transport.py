"""Outbound webhook HTTP, with an SSRF guard applied at connect time.

Webhook URLs are user input, so without a guard a monitor could make FleetMon
POST to its own database, Redis, or a cloud metadata endpoint. Checking the
URL when the monitor is saved is not enough: the name can resolve somewhere
else by the time we connect (DNS rebinding). So the check lives in the urllib3
connection itself, on the very addresses the socket is about to connect to,
while TLS still verifies the certificate against the original hostname.

Written against urllib3 2.x (``HTTPConnection._new_conn`` and
``PoolManager._new_pool`` as extension points).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.poolmanager import PoolManager
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

USER_AGENT = "FleetMon-Webhooks/1"
ALLOW_PRIVATE_HINT = "set FLEETMON_ALLOW_PRIVATE_WEBHOOKS to allow"

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Spelled out rather than left to ipaddress.is_global/is_private, whose tables
# have changed between Python releases (100.64/10, multicast, IPv4-mapped).
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches localhost on Linux
        "10.0.0.0/8",
        "100.64.0.0/10",  # carrier-grade NAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, incl. cloud metadata 169.254.169.254
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # deprecated 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast 255.255.255.255
        "::/8",  # unspecified, loopback, IPv4-compatible (mapped is unwrapped first)
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, incl. Teredo
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated, still routable internally)
        "ff00::/8",  # multicast
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class BlockedDestination(Exception):
    def __init__(self, host: str, addresses: list[str]) -> None:
        self.host = host
        self.addresses = addresses
        listed = ", ".join(addresses)
        if [host] == addresses:
            message = f"{host} is not a public address"
        else:
            message = f"{host} resolves to {listed}, which is not a public address"
        super().__init__(message)


def is_public_address(ip: IPAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address):
        # These IPv6 forms carry an IPv4 address and can end up delivering to
        # it, so ::ffff:127.0.0.1 is exactly as private as 127.0.0.1.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)

    if any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version):
        return False
    # Belt and braces: whatever this Python's ipaddress also considers special.
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local)
        or not ip.is_global
    )


class _GuardedConnectionMixin:
    """Replaces urllib3's ``_new_conn``: resolve, check each address, connect.

    Everything after the socket exists (TLS, SNI, certificate hostname
    matching) is urllib3's own code, still working with the original hostname.
    """

    # Provided by urllib3's HTTPConnection.
    host: str
    port: int
    timeout: Any
    source_address: tuple[str, int] | None
    socket_options: Any
    _dns_host: str

    def __init__(self, *args: Any, allow_private: bool = False, **kwargs: Any) -> None:
        self._allow_private = allow_private
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        try:
            sock = self._connect_checked()
        except socket.gaierror as e:
            raise NameResolutionError(self.host, self, e) from e  # type: ignore[arg-type]
        except TimeoutError as e:
            raise ConnectTimeoutError(
                self,
                f"Connection to {self.host} timed out. (connect timeout={self.timeout})",
            ) from e
        except OSError as e:
            raise NewConnectionError(
                self,  # type: ignore[arg-type]
                f"Failed to establish a new connection: {e}",
            ) from e

        # urllib3's own _new_conn emits this; audit hooks should not go blind.
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock

    def _connect_checked(self) -> socket.socket:
        host = self._dns_host.strip("[]")
        try:
            results = socket.getaddrinfo(
                host, self.port, allowed_gai_family(), socket.SOCK_STREAM
            )
        except UnicodeError as e:
            # A name IDNA cannot encode (e.g. a label over 63 characters) can
            # never resolve; report it like any other unresolvable name.
            raise socket.gaierror(socket.EAI_NONAME, f"invalid hostname: {e}") from e

        allowed = []
        blocked = []
        for family, socktype, proto, _canonname, sockaddr in results:
            address = str(sockaddr[0])
            if self._allow_private or is_public_address(ipaddress.ip_address(address)):
                allowed.append((family, socktype, proto, sockaddr))
            elif address not in blocked:
                blocked.append(address)

        if not allowed:
            if not blocked:
                raise OSError(f"getaddrinfo returned no addresses for {host}")
            raise BlockedDestination(host, blocked)

        # Same fallback as socket.create_connection: try each address in turn
        # and report the last failure.
        last_error: OSError | None = None
        for family, socktype, proto, sockaddr in allowed:
            sock = socket.socket(family, socktype, proto)
            try:
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                if self.timeout is not _DEFAULT_TIMEOUT:
                    sock.settimeout(self.timeout)
                if self.source_address:
                    sock.bind(self.source_address)
                sock.connect(sockaddr)
                return sock
            except OSError as e:
                sock.close()
                last_error = e
        assert last_error is not None
        raise last_error


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedPoolManager(PoolManager):
    def __init__(self, *args: Any, allow_private: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.allow_private = allow_private
        self.pool_classes_by_scheme = {
            "http": _GuardedHTTPConnectionPool,
            "https": _GuardedHTTPSConnectionPool,
        }

    def _new_pool(
        self,
        scheme: str,
        host: str,
        port: int,
        request_context: dict[str, Any] | None = None,
    ) -> HTTPConnectionPool:
        # urllib3 documents _new_pool as the customisation point. The flag goes
        # into the pool's connection kwargs here rather than into
        # connection_pool_kw, because the latter must only hold pool-key fields.
        if request_context is None:
            request_context = self.connection_pool_kw.copy()
        request_context = {**request_context, "allow_private": self.allow_private}
        return super()._new_pool(scheme, host, port, request_context)


class GuardedAdapter(HTTPAdapter):
    # HTTPAdapter pickles only the attributes listed here.
    __attrs__ = [*HTTPAdapter.__attrs__, "allow_private"]

    def __init__(self, *, allow_private: bool, **kwargs: Any) -> None:
        # HTTPAdapter.__init__ calls init_poolmanager, which needs the flag.
        self.allow_private = allow_private
        super().__init__(**kwargs)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any
    ) -> None:
        self._pool_connections = connections
        self._pool_maxsize = maxsize
        self._pool_block = block
        self.poolmanager = _GuardedPoolManager(
            num_pools=connections,
            maxsize=maxsize,
            block=block,
            allow_private=self.allow_private,
            **pool_kwargs,
        )

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # Through a proxy we would only check the proxy's address, not the
        # webhook's, so proxies are refused rather than silently unguarded.
        raise ValueError(f"webhook sessions do not use proxies (got {proxy})")


def make_session(*, allow_private: bool) -> requests.Session:
    session = requests.Session()
    # Environment proxies would bypass the guard, and ~/.netrc credentials must
    # never be sent to a user-supplied URL.
    session.trust_env = False
    for prefix in ("http://", "https://"):
        session.mount(prefix, GuardedAdapter(allow_private=allow_private))
    return session


@dataclass
class AttemptResult:
    status_code: int | None
    duration_ms: int
    response_excerpt: str = ""
    error: str = ""
    ok: bool = False


def post(
    *,
    session: requests.Session,
    url: str,
    body: bytes,
    headers: dict[str, str],
    connect_timeout: float,
    read_timeout: float,
    max_response_bytes: int = 4096,
) -> AttemptResult:
    # Ours win: the body is JSON we built, and receivers filter on the agent.
    request_headers = CaseInsensitiveDict(headers)
    request_headers["Content-Type"] = "application/json"
    request_headers["User-Agent"] = USER_AGENT

    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        response = session.post(
            url,
            data=body,
            headers=request_headers,
            timeout=(connect_timeout, read_timeout),
            # A redirect would let a public URL bounce us to a private one, and
            # receivers are expected to answer the URL they were given.
            allow_redirects=False,
            stream=True,
        )
    except BlockedDestination as e:
        return AttemptResult(None, elapsed_ms(), error=f"blocked: {e} ({ALLOW_PRIVATE_HINT})")
    except requests.exceptions.ConnectTimeout:
        return AttemptResult(
            None, elapsed_ms(), error=f"timeout: connect timed out after {connect_timeout}s"
        )
    except requests.exceptions.ReadTimeout:
        return AttemptResult(
            None, elapsed_ms(), error=f"timeout: read timed out after {read_timeout}s"
        )
    # requests re-raises some urllib3 errors unwrapped, hence Urllib3HTTPError.
    except (requests.RequestException, Urllib3HTTPError, OSError) as e:
        return AttemptResult(None, elapsed_ms(), error=_describe(e))
    except UnicodeEncodeError as e:
        # http.client sends header values as Latin-1 and raises on anything else. Definitions
        # now refuse non-ASCII header values, but one stored before must fail its attempt,
        # not the task that makes it.
        unsendable = e.object[e.start : e.end]
        return AttemptResult(None, elapsed_ms(), error=f"invalid header: {unsendable!r} cannot be sent ({e.reason})")

    with response:
        excerpt = _read_excerpt(response, max_response_bytes)

    status = response.status_code
    return AttemptResult(
        status_code=status,
        duration_ms=elapsed_ms(),
        response_excerpt=excerpt,
        ok=200 <= status < 300,
    )


def _read_excerpt(response: requests.Response, limit: int) -> str:
    # Only the first `limit` bytes are ever read: a receiver answering with a
    # huge (or endless) body must not cost us memory. The outcome is decided by
    # the status line, so a failure while reading the body only shortens the
    # excerpt.
    try:
        data = response.raw.read(limit, decode_content=True) or b""
    except (Urllib3HTTPError, OSError):
        data = b""
    return data.decode("utf-8", errors="replace")


def _describe(exc: BaseException) -> str:
    causes = list(_cause_chain(exc))
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return "connection refused"
    if any(isinstance(c, ConnectionResetError) for c in causes):
        return "connection reset by peer"
    for cause in causes:
        if isinstance(cause, NameResolutionError):
            return f"dns: cannot resolve {cause.conn.host}"
    if any(isinstance(c, requests.exceptions.SSLError) for c in causes):
        return f"tls: {causes[-1]}"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"connection error: {causes[-1]}"
    return f"{type(exc).__name__}: {exc}"


def _cause_chain(exc: BaseException) -> list[BaseException]:
    # requests wraps urllib3's MaxRetryError, which wraps the connection error,
    # which wraps the OSError; the interesting part is at the bottom.
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        reason = getattr(current, "reason", None)
        current = (
            current.__cause__
            or (reason if isinstance(reason, BaseException) else None)
            or current.__context__
        )
    return chain
