"""The SSRF guard, applied at connect time in urllib3's own connections.

Checking the URL when the monitor is saved is not enough: the name can resolve somewhere
else by the time we connect (DNS rebinding). So the check (ssrf.is_public_address) lives
in the urllib3 connection itself, on the very addresses the socket is about to connect
to, while TLS still verifies the certificate against the original hostname.

The pools keep connections alive between requests (transport.shared_session): a pooled
connection stays connected to the address checked when it was opened, and any connection
the pool opens or reopens goes through the check again, so a changed DNS answer is checked
as soon as a new connection is needed.

Written against urllib3 2.x (``HTTPConnection._new_conn``, ``HTTPConnectionPool._get_conn``
/ ``_put_conn`` and ``PoolManager._new_pool`` as extension points).
"""

from __future__ import annotations

import ipaddress
import socket
import sys
import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
)
from urllib3.poolmanager import PoolManager
from urllib3.util.connection import allowed_gai_family
from urllib3.util.timeout import _DEFAULT_TIMEOUT

from notifications.ssrf import BlockedDestination, is_public_address

# A connection idle longer than this is not reused but opened again. Receivers close idle
# connections after their own keep-alive timeout (gunicorn: 2 s, Node and uvicorn: 5 s); a
# request sent just as the receiver closes would fail without an answer, so connections are
# reused only well within the shortest common one: under load, when reuse pays.
KEEPALIVE_IDLE_S = 1.0


class _GuardedConnectionMixin:
    """Replaces urllib3's ``_new_conn``: resolve, check each address, connect.

    Everything after the socket exists (TLS, SNI, certificate hostname
    matching) is urllib3's own code, still working with the original hostname.
    """

    # When the pool last got it back (time.monotonic()); None while in use or never used.
    idle_since: float | None = None

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


class _KeepAliveBoundMixin:
    """Closes a pooled connection idle for longer than KEEPALIVE_IDLE_S before handing it out:
    urllib3 then opens it again, through the guard."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        if conn.idle_since is not None and time.monotonic() - conn.idle_since > KEEPALIVE_IDLE_S:
            conn.close()
        conn.idle_since = None
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.idle_since = time.monotonic()
        super()._put_conn(conn)  # type: ignore[misc]


class _GuardedHTTPConnectionPool(_KeepAliveBoundMixin, HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSConnectionPool(_KeepAliveBoundMixin, HTTPSConnectionPool):
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
