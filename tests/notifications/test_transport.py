"""Transport tests against real HTTP servers on loopback.

Nothing here may leave the machine: DNS is replaced by a fake resolver that
only answers for names the test registers (plus localhost and IP literals),
and every socket connect() is asserted to target loopback.
"""

from __future__ import annotations

import _socket
import contextlib
import http.server
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from notifications import guarded_connections, transport
from notifications.ssrf import BlockedDestination, is_public_address
from notifications.transport import make_session, post

# Only ever *resolved* in these tests, never connected to.
SOME_PUBLIC_IP = "93.184.216.34"


def _is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_loopback


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Safety net: fail loudly (not with an OSError the code would swallow)."""
    attempted: list[str] = []

    def guarded_connect(sock, address):
        attempted.append(address[0])
        if not _is_loopback(address[0]):
            raise AssertionError(f"test tried to connect outside loopback: {address!r}")
        return _socket.socket.connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    return attempted


class FakeDNS:
    def __init__(self, real: Callable) -> None:
        self.real = real
        self.records: dict[str, Callable[[], list[str]]] = {}
        self.lookups: list[str] = []

    def add(self, name: str, *answers: list[str]) -> None:
        """Each lookup of `name` returns the next answer; the last one repeats."""
        remaining = list(answers)

        def answer() -> list[str]:
            return remaining.pop(0) if len(remaining) > 1 else remaining[0]

        self.records[name] = answer

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        host.encode("idna")  # the real getaddrinfo's first step (raises UnicodeError)
        self.lookups.append(host)
        if host in self.records:
            result = []
            for ip in self.records[host]():
                if ipaddress.ip_address(ip).version == 6:
                    result.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (ip, port, 0, 0)))
                else:
                    result.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)))
            return result
        if host == "localhost" or _is_ip_literal(host):
            return self.real(host, port, family, type, proto, flags)
        raise socket.gaierror(socket.EAI_NONAME, f"fake DNS has no record for {host}")


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@pytest.fixture(autouse=True)
def keep_alive_while_the_test_runs(monkeypatch):
    """Pooled connections stay reusable however slowly a loaded machine runs a test; the
    tests of the idle bound set it to 0."""
    monkeypatch.setattr(guarded_connections, "KEEPALIVE_IDLE_S", 60.0)


@pytest.fixture(autouse=True)
def dns(monkeypatch) -> FakeDNS:
    fake = FakeDNS(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


# --- a real HTTP server ------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Server:
    httpd: http.server.ThreadingHTTPServer
    connections: list = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _RecordingServer

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.state.requests.append(
            Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        )
        route = self.path.split("?")[0]
        if route == "/fail":
            self._reply(500, b"boom")
        elif route == "/slow":
            self.server.state.release.wait(5)
            self._reply(200, b"late")
        elif route == "/redirect":
            self._reply(302, b"", [("Location", "/ok")])
        elif route == "/big":
            self._reply(200, b"x" * (1024 * 1024))
        elif route == "/utf8":
            self._reply(200, "é".encode() * 10)
        elif route == "/close":
            self._reply(200, b"bye", [("Connection", "close")])
        elif route == "/cookie":
            self._reply(200, b"", [("Set-Cookie", "receiver=fleet-a; Path=/")])
        else:
            self._reply(200, b"received")

    def _reply(self, status, body, extra_headers=()):
        self.send_response(status)
        for name, value in extra_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):  # the client stopped reading (large response test)
            self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class _RecordingServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: Server

    def verify_request(self, request, client_address):
        self.state.connections.append(client_address)
        return True

    def handle_error(self, request, client_address):
        pass


@pytest.fixture
def start_server() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(
        host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None
    ) -> Server:
        httpd = _RecordingServer((host, port), Handler)
        if ssl_context is not None:
            httpd.socket = ssl_context.wrap_socket(httpd.socket, server_side=True)
        state = Server(httpd)
        httpd.state = state
        # A short poll interval keeps shutdown() (and so each test) fast.
        threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
        servers.append(state)
        return state

    yield start
    for state in servers:
        state.release.set()
        state.httpd.shutdown()
        state.httpd.server_close()


@pytest.fixture
def server(start_server) -> Server:
    return start_server()


@pytest.fixture
def refused_port() -> Iterator[int]:
    # Bound but not listening: the port stays ours and connecting is refused.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def send(url: str, *, allow_private: bool, session=None, **kwargs) -> transport.AttemptResult:
    options = dict(
        body=b'{"event": "test"}',
        headers={"webhook-id": "msg_1", "X-Custom": "yes"},
        connect_timeout=2.0,
        read_timeout=2.0,
    )
    options.update(kwargs)
    return post(
        session=session or make_session(allow_private=allow_private), url=url, **options
    )


# --- is_public_address -------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "127.255.255.254",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.255",
        "192.168.1.1",
        "169.254.169.254",
        "169.254.0.1",
        "100.64.0.1",
        "100.127.255.254",
        "224.0.0.1",
        "239.255.255.250",
        "0.0.0.0",
        "0.1.2.3",
        "255.255.255.255",
        "240.0.0.1",
        "192.0.0.8",
        "192.0.2.1",
        "198.18.0.1",
        "198.19.255.255",
        "198.51.100.7",
        "203.0.113.9",
        "::1",
        "::",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",  # IPv4-compatible
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "fec0::1",
        "ff02::1",
        "2001:db8::1",
        "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
        "2002:a00:1::",  # 6to4 wrapping 10.0.0.1
        "64:ff9b::7f00:1",  # NAT64 wrapping 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 wrapping 169.254.169.254
        "64:ff9b:1::1",  # local-use NAT64
        "2001::1",  # Teredo
    ],
)
def test_non_public_addresses(address):
    assert is_public_address(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize(
    "address",
    [
        "1.1.1.1",
        "8.8.8.8",
        "93.184.216.34",
        "100.63.255.255",  # just below CGNAT
        "100.128.0.0",  # just above CGNAT
        "172.15.255.255",
        "172.32.0.0",
        "2606:4700:4700::1111",
        "2a00:1450:4007:80f::200e",
        "::ffff:1.1.1.1",
        "2002:101:101::",  # 6to4 wrapping 1.1.1.1
        "64:ff9b::101:101",  # NAT64 wrapping 1.1.1.1
    ],
)
def test_public_addresses(address):
    assert is_public_address(ipaddress.ip_address(address)) is True


# --- blocked destinations ----------------------------------------------------


@pytest.mark.parametrize(
    "url_template, blocked_address",
    [
        ("http://127.0.0.1:{port}/ok", "127.0.0.1"),
        ("http://localhost:{port}/ok", "127.0.0.1"),
        ("http://[::ffff:127.0.0.1]:{port}/ok", "::ffff:127.0.0.1"),
        ("http://[::1]:{port}/ok", "::1"),
        ("http://0.0.0.0:{port}/ok", "0.0.0.0"),
        ("http://rebind.test:{port}/ok", "127.0.0.1"),
        ("http://REBIND.test.:{port}/ok", "127.0.0.1"),
        ("https://rebind.test:{port}/ok", "127.0.0.1"),
    ],
)
def test_private_destinations_are_blocked_before_connecting(
    server, dns, loopback_only, url_template, blocked_address
):
    dns.add("rebind.test", ["127.0.0.1"])
    dns.add("REBIND.test", ["127.0.0.1"])
    dns.add("rebind.test.", ["127.0.0.1"])

    result = send(url_template.format(port=server.port), allow_private=False)

    assert result.status_code is None
    assert result.ok is False
    assert result.error.startswith("blocked: ")
    assert blocked_address in result.error
    assert "FLEETMON_ALLOW_PRIVATE_WEBHOOKS" in result.error
    assert loopback_only == []  # not even a TCP connect was attempted
    assert server.connections == []
    assert server.requests == []


def test_blocked_error_names_host_and_every_address(server, dns):
    dns.add("multi.test", ["10.0.0.1", "127.0.0.1", "fd00::1"])
    result = send(f"http://multi.test:{server.port}/ok", allow_private=False)
    assert result.error == (
        "blocked: multi.test resolves to 10.0.0.1, 127.0.0.1, fd00::1, which is not a "
        "public address (set FLEETMON_ALLOW_PRIVATE_WEBHOOKS to allow)"
    )
    assert server.connections == []


def test_blocked_destination_exception_carries_host_and_addresses():
    exc = BlockedDestination("h.test", ["10.0.0.1"])
    assert (exc.host, exc.addresses) == ("h.test", ["10.0.0.1"])
    assert str(exc) == "h.test resolves to 10.0.0.1, which is not a public address"
    assert str(BlockedDestination("10.0.0.1", ["10.0.0.1"])) == "10.0.0.1 is not a public address"


def test_dns_rebinding_is_caught_at_connect_time(server, dns, loopback_only):
    # First answer (what a save-time validator sees) is public; by the time we
    # connect the name points at loopback.
    dns.add("rebind.test", [SOME_PUBLIC_IP], ["127.0.0.1"])
    validated = [
        ipaddress.ip_address(info[4][0])
        for info in socket.getaddrinfo("rebind.test", 80, 0, socket.SOCK_STREAM)
    ]
    assert all(is_public_address(ip) for ip in validated)

    result = send(f"http://rebind.test:{server.port}/ok", allow_private=False)

    assert result.error.startswith("blocked: rebind.test resolves to 127.0.0.1")
    assert dns.lookups == ["rebind.test", "rebind.test"]  # resolved again at connect
    assert loopback_only == []
    assert server.connections == []


def test_only_allowed_addresses_are_connected_to(start_server, dns, monkeypatch):
    # Pretend 127.0.0.1 is public and 127.0.0.2 is not, so both sides of the
    # check can be observed on loopback servers. Same port on both addresses,
    # so skipping 127.0.0.2 is the guard's doing, not a connection failure.
    private_server = start_server("127.0.0.2")
    allowed_server = start_server("127.0.0.1", port=private_server.port)
    monkeypatch.setattr(guarded_connections, "is_public_address", lambda ip: str(ip) == "127.0.0.1")
    dns.add("mixed.test", ["127.0.0.2", "127.0.0.1"])

    result = send(f"http://mixed.test:{allowed_server.port}/ok", allow_private=False)

    assert result.ok, result
    assert len(allowed_server.requests) == 1
    assert private_server.connections == []


def test_sessions_refuse_proxies(server):
    session = make_session(allow_private=True)
    session.proxies = {"http": f"http://127.0.0.1:{server.port}"}
    with pytest.raises(ValueError, match="proxies"):
        send(f"http://127.0.0.1:{server.port}/ok", allow_private=True, session=session)
    assert server.connections == []


def test_environment_proxies_are_ignored(server, monkeypatch, refused_port):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{refused_port}")
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{refused_port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    result = send(f"http://127.0.0.1:{server.port}/ok", allow_private=True)
    assert result.ok, result


# --- delivery ----------------------------------------------------------------


def test_delivers_body_and_headers(server, dns):
    dns.add("hooks.test", ["127.0.0.1"])
    body = json.dumps({"vin": "VF1AB000123456789", "speed": 131.5}).encode()
    result = send(
        f"http://hooks.test:{server.port}/ok?token=abc",
        allow_private=True,
        body=body,
        headers={
            "webhook-id": "msg_2",
            "webhook-signature": "v1,abc=",
            "content-type": "text/plain",  # ours wins: the body is JSON
        },
    )

    assert result.ok is True
    assert result.status_code == 200
    assert result.error == ""
    assert result.response_excerpt == "received"
    assert isinstance(result.duration_ms, int) and result.duration_ms >= 0

    [received] = server.requests
    assert received.method == "POST"
    assert received.path == "/ok?token=abc"
    assert received.body == body
    assert received.headers["host"] == f"hooks.test:{server.port}"
    assert received.headers["content-type"] == "application/json"
    assert received.headers["user-agent"] == "FleetMon-Webhooks/1"
    assert received.headers["webhook-id"] == "msg_2"
    assert received.headers["webhook-signature"] == "v1,abc="


def test_server_error_is_not_ok(server):
    result = send(f"http://127.0.0.1:{server.port}/fail", allow_private=True)
    assert (result.ok, result.status_code, result.error) == (False, 500, "")
    assert result.response_excerpt == "boom"


def test_redirect_is_not_followed(server):
    result = send(f"http://127.0.0.1:{server.port}/redirect", allow_private=True)
    assert result.ok is False
    assert result.status_code == 302
    assert [r.path for r in server.requests] == ["/redirect"]


def test_slow_server_times_out(server):
    result = send(f"http://127.0.0.1:{server.port}/slow", allow_private=True, read_timeout=0.2)
    assert result.ok is False
    assert result.status_code is None
    assert result.error == "timeout: read timed out after 0.2s"
    assert 150 <= result.duration_ms < 3000


def test_large_response_is_truncated(server):
    result = send(f"http://127.0.0.1:{server.port}/big", allow_private=True)
    assert result.ok is True
    assert result.response_excerpt == "x" * 4096

    result = send(
        f"http://127.0.0.1:{server.port}/big", allow_private=True, max_response_bytes=10
    )
    assert result.response_excerpt == "x" * 10


def test_excerpt_decodes_with_replacement(server):
    # 5 bytes cuts the third two-byte "é" in half.
    result = send(f"http://127.0.0.1:{server.port}/utf8", allow_private=True, max_response_bytes=5)
    assert result.response_excerpt == "éé\ufffd"


def test_connection_refused(refused_port):
    result = send(f"http://127.0.0.1:{refused_port}/ok", allow_private=True)
    assert result.status_code is None
    assert result.ok is False
    assert result.error == "connection refused"


def test_unresolvable_host(dns):
    result = send("http://nowhere.test/ok", allow_private=True)
    assert result.status_code is None
    assert result.error == "dns: cannot resolve nowhere.test"


def test_name_that_cannot_be_encoded_does_not_raise(dns):
    result = send(f"http://{'a' * 64}.test/ok", allow_private=True)
    assert result.status_code is None
    assert result.error.startswith("dns: cannot resolve ")


def test_header_value_that_cannot_be_encoded_does_not_raise(server):
    # Only a definition stored before header values had to be ASCII can hold one.
    result = send(f"http://127.0.0.1:{server.port}/ok", allow_private=True, headers={"X-Place": "日本"})
    assert (result.ok, result.status_code) == (False, None)
    assert result.error == "invalid header: '日本' cannot be sent (ordinal not in range(256))"
    assert server.requests == []


def test_invalid_url_does_not_raise():
    result = send("not a url", allow_private=True)
    assert result.status_code is None
    assert result.ok is False
    assert result.error


def test_session_reuses_connection_to_the_same_host(server):
    session = make_session(allow_private=True)
    for _ in range(3):
        assert send(f"http://127.0.0.1:{server.port}/ok", allow_private=True, session=session).ok
    assert len(server.requests) == 3
    assert len(server.connections) == 1


@pytest.fixture
def fresh_sessions(monkeypatch) -> dict:
    """No session kept from an earlier test: what this one counts is its own."""
    sessions: dict = {}
    monkeypatch.setattr(transport, "_sessions", sessions)
    return sessions


def test_the_shared_session_is_one_per_process_and_private_setting(fresh_sessions, monkeypatch):
    public_only = transport.shared_session(allow_private=False)
    assert transport.shared_session(allow_private=False) is public_only
    assert transport.shared_session(allow_private=True) is not public_only

    # A forked child (a Celery pool process) gets its own, and forgets its parent's.
    monkeypatch.setattr(transport.os, "getpid", lambda: -1)
    in_child = transport.shared_session(allow_private=False)
    assert in_child is not public_only
    assert list(fresh_sessions) == [(-1, False)]


def test_sequential_sends_through_the_shared_session_use_one_connection(server, fresh_sessions):
    session = transport.shared_session(allow_private=True)
    results = [send(f"http://127.0.0.1:{server.port}/ok", allow_private=True, session=session) for _ in range(5)]
    assert all(result.ok for result in results)
    assert len(server.connections) == 1


def test_a_connection_idle_longer_than_the_bound_is_opened_again(server, monkeypatch):
    monkeypatch.setattr(guarded_connections, "KEEPALIVE_IDLE_S", 0.0)
    session = make_session(allow_private=True)
    for _ in range(3):
        assert send(f"http://127.0.0.1:{server.port}/ok", allow_private=True, session=session).ok
    assert len(server.connections) == 3


@pytest.mark.parametrize("reopened_by", ["receiver closing it", "idle bound"])
def test_a_pooled_connection_never_reaches_a_new_dns_answer_unchecked(start_server, dns, monkeypatch, reopened_by):
    # 127.0.0.1 plays a public address and 127.0.0.2 a private one (as above). The name
    # first resolves to the public one; once the connection to it is gone, to the private one.
    private_server = start_server("127.0.0.2")
    public_server = start_server("127.0.0.1", port=private_server.port)
    monkeypatch.setattr(guarded_connections, "is_public_address", lambda ip: str(ip) == "127.0.0.1")
    dns.add("pinned.test", ["127.0.0.1"], ["127.0.0.2"])
    session = make_session(allow_private=False)
    url = f"http://pinned.test:{public_server.port}"

    assert send(f"{url}/ok", allow_private=False, session=session).ok
    # Pooled: the connection to the address checked when it was opened; no new lookup.
    assert send(f"{url}/ok", allow_private=False, session=session).ok
    assert (len(public_server.connections), dns.lookups) == (1, ["pinned.test"])

    if reopened_by == "receiver closing it":
        assert send(f"{url}/close", allow_private=False, session=session).ok
    else:
        monkeypatch.setattr(guarded_connections, "KEEPALIVE_IDLE_S", 0.0)
    result = send(f"{url}/ok", allow_private=False, session=session)

    assert result.error.startswith("blocked: pinned.test resolves to 127.0.0.2")
    assert dns.lookups == ["pinned.test", "pinned.test"]
    assert private_server.connections == []
    assert len(public_server.connections) == 1


def test_a_cookie_set_by_a_receiver_is_never_sent_back(server):
    session = make_session(allow_private=True)
    assert send(f"http://127.0.0.1:{server.port}/cookie", allow_private=True, session=session).ok
    assert send(f"http://127.0.0.1:{server.port}/ok", allow_private=True, session=session).ok
    assert "cookie" not in server.requests[1].headers
    assert len(session.cookies) == 0


# --- HTTPS: the guard must not weaken certificate checks ---------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl CLI not available to make a test certificate")
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec",
            "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def tls_server(start_server, certificate) -> tuple[Server, list[str]]:
    cert, key = certificate
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    sni: list[str] = []
    context.sni_callback = lambda sock, name, ctx: sni.append(name)
    return start_server(ssl_context=context), sni


def test_https_verifies_certificate_against_the_url_hostname(tls_server, certificate, dns):
    server, sni = tls_server
    dns.add("hooks.test", ["127.0.0.1"])
    dns.add("other.test", ["127.0.0.1"])
    session = make_session(allow_private=True)
    session.verify = certificate[0]

    good = send(f"https://hooks.test:{server.port}/ok", allow_private=True, session=session)
    assert good.ok, good
    assert sni == ["hooks.test"]

    # Same address, different name: the certificate does not match it.
    bad = send(f"https://other.test:{server.port}/ok", allow_private=True, session=session)
    assert bad.ok is False
    assert bad.error.startswith("tls: ")
    assert "hostname mismatch" in bad.error or "match" in bad.error


def test_https_rejects_untrusted_certificate(tls_server, dns):
    server, _ = tls_server
    dns.add("hooks.test", ["127.0.0.1"])
    result = send(f"https://hooks.test:{server.port}/ok", allow_private=True)
    assert result.ok is False
    assert result.error.startswith("tls: ")
    assert server.requests == []
