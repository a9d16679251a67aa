"""Outbound webhook HTTP: a session whose connections refuse non-public addresses
(guarded_connections), one POST with bounded timeouts and response size, and its outcome
put in words for the delivery log.

Each process keeps one session per `allow_private` setting (`shared_session`), so a
delivery to a host reuses the kept-alive connection of the previous one (no TCP or TLS
handshake, no DNS lookup). The guard still checks every connection the pool opens; a pooled
one stays connected to the address that was checked when it was opened.
"""

from __future__ import annotations

import http.cookiejar
import os
import time
from dataclasses import dataclass

import requests
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import HTTPError as Urllib3HTTPError
from urllib3.exceptions import NameResolutionError

from notifications.guarded_connections import GuardedAdapter
from notifications.ssrf import ALLOW_PRIVATE_HINT, BlockedDestination

USER_AGENT = "FleetMon-Webhooks/1"
# Target hosts (scheme, host, port) whose connections a session keeps, the least recently
# used dropped first (requests' default: 10). Each keeps the connections in use at once, at
# most requests' 10: one per pool process of a Celery worker, one per API thread sending a test.
HOST_POOLS = 50


def make_session(*, allow_private: bool) -> requests.Session:
    session = requests.Session()
    # Environment proxies would bypass the guard, and ~/.netrc credentials must
    # never be sent to a user-supplied URL.
    session.trust_env = False
    # A session is shared by every fleet's deliveries: a cookie one receiver sets must not be
    # sent with another fleet's webhook to the same host (nor with this one's: each attempt
    # stands alone, as when every attempt had a session of its own).
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    for prefix in ("http://", "https://"):
        session.mount(prefix, GuardedAdapter(allow_private=allow_private, pool_connections=HOST_POOLS))
    return session


# (process id, allow_private) -> that process's session.
_sessions: dict[tuple[int, bool], requests.Session] = {}


def shared_session(*, allow_private: bool) -> requests.Session:
    """This process's session for `allow_private`, made on first use.

    Keyed by the process id too: a Celery pool process is forked from its worker, and two
    processes writing to one inherited socket would interleave their requests. A forked child
    makes its own and forgets its parent's (closing its copies of their sockets does not end
    the parent's connections)."""
    key = (os.getpid(), allow_private)
    session = _sessions.get(key)
    if session is None:
        for inherited in [other for other in _sessions if other[0] != key[0]]:
            _sessions.pop(inherited, None)
        # setdefault: two API threads racing here end up sending through the same session.
        session = _sessions.setdefault(key, make_session(allow_private=allow_private))
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
