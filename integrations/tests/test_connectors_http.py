"""The connectors' HTTP client (issue 20, item 4): retries, limits, answers, redirects and SSRF.

Every request goes to the fixture server on 127.0.0.1. The SSRF tests resolve names with a stub
and connect through a recording backend, which reaches the fixture server whatever address it was
asked for, so a refused address is proven never to have been connected to.
"""

import datetime
import email.utils
import socket

import httpcore
import pytest
from django.test import override_settings
from django.utils import translation

from integrations.connectors import ConnectorError, CredentialsRejected, Limits
from integrations.connectors.http import (
    BlockedAddress,
    HttpClient,
    SourceAnswerError,
    address_allowed,
    authorization,
)
from integrations.tests.fixture_server import (  # noqa: F401  # fixtures
    Answer,
    Sleeps,
    json_answer,
    loopback_only_fixture,
    server_fixture,
)

PRODUCTION = override_settings(INTEGRATION_ALLOW_HTTP=False, INTEGRATION_ALLOW_PRIVATE_HOSTS=False)
PRODUCTION_BUT_HTTP = override_settings(INTEGRATION_ALLOW_HTTP=True, INTEGRATION_ALLOW_PRIVATE_HOSTS=False)


def stub_resolver(table):
    """getaddrinfo's answer for the names in ``table`` (name -> addresses); others unknown."""

    def resolve(host, port, type=0, **kwargs):
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "unknown")
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in table[host]
        ]

    return resolve


class RecordingBackend(httpcore.NetworkBackend):
    """Records the addresses asked for and connects to the fixture server on 127.0.0.1 instead."""

    def __init__(self):
        self.connected = []
        self.real = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append(host)
        return self.real.connect_tcp("127.0.0.1", port, timeout=timeout)


def client(**options):
    options.setdefault("limits", Limits())
    options.setdefault("sleep", Sleeps())
    return HttpClient(**options)


# --- retries ------------------------------------------------------------------------------------


def test_a_500_then_success_is_retried_after_a_backoff(server):
    # given
    server.route("/items", Answer(500), Answer(502), json_answer({"ok": True}))
    sleeps = Sleeps()
    # when
    page = client(sleep=sleeps).get(server.url("/items"))
    # then
    assert page.json() == {"ok": True}
    assert sleeps == [1.0, 2.0]
    assert len(server.hits("/items")) == 3


def test_a_429_waits_what_retry_after_says_in_seconds(server):
    server.route("/items", Answer(429, headers={"Retry-After": "7"}), json_answer([]))
    sleeps = Sleeps()

    client(sleep=sleeps).get(server.url("/items"))

    assert sleeps == [7.0]


def test_a_retry_after_date_is_waited_until_and_capped(server):
    now = datetime.datetime(2026, 3, 1, 12, 0, tzinfo=datetime.UTC)
    in_30_s = email.utils.format_datetime(now + datetime.timedelta(seconds=30), usegmt=True)
    in_a_day = email.utils.format_datetime(now + datetime.timedelta(days=1), usegmt=True)
    server.route(
        "/items",
        Answer(503, headers={"Retry-After": in_30_s}),
        Answer(503, headers={"Retry-After": in_a_day}),
        json_answer([]),
    )
    sleeps = Sleeps()

    with override_settings(INTEGRATION_HTTP_MAX_WAIT=120):
        client(sleep=sleeps, clock=now.timestamp).get(server.url("/items"))

    assert sleeps == [30.0, 120.0]


def test_retries_give_up_with_the_status_and_no_token_in_the_message(server):
    server.route("/items", Answer(503))
    sleeps = Sleeps()

    with override_settings(INTEGRATION_HTTP_RETRIES=3), pytest.raises(SourceAnswerError) as error:
        client(sleep=sleeps).get(server.url("/items") + "?access_token=SECRET-1")

    assert error.value.status == 503
    assert "503" in error.value.message
    assert "127.0.0.1" in error.value.message
    assert "SECRET" not in error.value.message
    assert "/items" not in error.value.message
    assert sleeps == [1.0, 2.0, 4.0]


def test_a_refused_connection_is_retried_then_named(server):
    port = server.port
    server.httpd.shutdown()
    server.httpd.server_close()
    sleeps = Sleeps()

    with override_settings(INTEGRATION_HTTP_RETRIES=2), pytest.raises(ConnectorError) as error:
        client(sleep=sleeps).get(f"http://127.0.0.1:{port}/items")

    assert "could not read" in error.value.message.lower()
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_reject_the_credentials_without_retrying(server, status):
    server.route("/items", Answer(status, b'{"error": "invalid_token"}'))
    sleeps = Sleeps()

    with pytest.raises(CredentialsRejected) as error:
        client(sleep=sleeps).get(server.url("/items"), headers=authorization({"token": "SECRET-2"}))

    assert "credentials rejected by the source" in error.value.message.lower()
    assert "SECRET" not in error.value.message
    assert sleeps == []


def test_a_404_is_an_error_of_the_source(server):
    with pytest.raises(SourceAnswerError) as error:
        client().get(server.url("/missing"))

    assert error.value.status == 404


# --- limits -------------------------------------------------------------------------------------


def test_the_page_past_the_runs_limit_is_refused_before_it_is_asked_for(server):
    server.route("/items", json_answer([]))
    http = client(limits=Limits(max_pages=2))
    http.get(server.url("/items"))
    http.get(server.url("/items"))

    with pytest.raises(ConnectorError) as error:
        http.get(server.url("/items"))

    assert "2 pages" in error.value.message
    assert len(server.hits("/items")) == 2


def test_reading_stops_past_the_runs_byte_limit(server):
    server.route("/big", Answer(200, b"x" * (4 * 1024 * 1024)))
    http = client(limits=Limits(max_bytes=200 * 1024))

    with pytest.raises(ConnectorError) as error:
        http.get(server.url("/big"))

    assert "MB" in error.value.message
    assert http.bytes_read < 400 * 1024  # stopped in the answer's first chunks, not after 4 MB


def test_the_byte_limit_counts_the_whole_run(server):
    server.route("/items", Answer(200, b"y" * 1000))
    http = client(limits=Limits(max_bytes=2500))
    http.get(server.url("/items"))
    http.get(server.url("/items"))

    with pytest.raises(ConnectorError):
        http.get(server.url("/items"))
    assert http.pages == 3


# --- redirects ----------------------------------------------------------------------------------


def test_a_redirect_to_another_host_is_followed_without_the_credentials(server):
    # given: /start sends the client to another host name of the same server
    server.route("/start", Answer(302, headers={"Location": f"http://mirror.test:{server.port}/items"}))
    server.route("/items", json_answer({"ok": 1}))
    resolver = stub_resolver({"127.0.0.1": ["127.0.0.1"], "mirror.test": ["127.0.0.1"]})
    # when
    page = client(resolver=resolver).get(server.url("/start"), headers={"Authorization": "Bearer SECRET-3"})
    # then
    assert page.json() == {"ok": 1}
    assert server.hits("/start")[0].headers["authorization"] == "Bearer SECRET-3"
    assert "authorization" not in server.hits("/items")[0].headers


def test_a_redirect_on_the_same_origin_keeps_the_credentials(server):
    server.route("/start", Answer(301, headers={"Location": "/items"}))
    server.route("/items", json_answer({}))

    client().get(server.url("/start"), headers={"Authorization": "Bearer T"})

    assert server.hits("/items")[0].headers["authorization"] == "Bearer T"


def test_more_than_five_redirects_fail(server):
    server.route("/loop", Answer(302, headers={"Location": "/loop"}))

    with pytest.raises(ConnectorError) as error:
        client().get(server.url("/loop"))

    assert "5 times" in error.value.message
    assert len(server.hits("/loop")) == 6


@PRODUCTION_BUT_HTTP
def test_a_redirect_to_a_private_address_is_refused_before_connecting(server):
    # given: a public host whose server redirects to a host that resolves to the cloud's metadata
    backend = RecordingBackend()
    resolver = stub_resolver({"good.example": ["93.184.216.34"], "evil.example": ["169.254.169.254"]})
    server.route("/start", Answer(302, headers={"Location": f"http://evil.example:{server.port}/latest"}))
    # when
    with pytest.raises(BlockedAddress):
        client(resolver=resolver, network_backend=backend).get(f"http://good.example:{server.port}/start")
    # then
    assert backend.connected == ["93.184.216.34"]
    assert server.hits("/latest") == []


@PRODUCTION
def test_a_redirect_to_http_is_refused_in_production(server):
    backend = FakeTlsBackend(
        b"HTTP/1.1 302 Found\r\nLocation: http://good.example/x\r\nContent-Length: 0\r\n\r\n"
    )
    resolver = stub_resolver({"good.example": ["93.184.216.34"]})

    with pytest.raises(ConnectorError) as error:
        client(resolver=resolver, network_backend=backend).get("https://good.example/start")

    assert "https" in error.value.message
    assert backend.connected == ["93.184.216.34"]


# --- SSRF ---------------------------------------------------------------------------------------


@PRODUCTION
def test_plain_http_is_refused_in_production(server):
    server.route("/items", json_answer([]))

    with pytest.raises(ConnectorError) as error:
        client().get(server.url("/items"))

    assert "https" in error.value.message
    assert server.requests == []


@PRODUCTION
@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "192.168.1.5",
        "172.16.0.1",
        "169.254.169.254",
        "127.0.0.1",
        "0.0.0.0",  # noqa: S104  # an address refused, not a bind
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
    ],
)
def test_a_host_resolving_to_a_disallowed_address_is_refused_before_any_connection(address):
    backend = RecordingBackend()
    resolver = stub_resolver({"evil.example": [address]})

    with pytest.raises(BlockedAddress) as error:
        client(resolver=resolver, network_backend=backend).get("https://evil.example/data")

    assert "evil.example" in error.value.message
    assert backend.connected == []


@PRODUCTION
def test_one_disallowed_address_among_public_ones_refuses_the_host():
    backend = RecordingBackend()
    resolver = stub_resolver({"evil.example": ["93.184.216.34", "127.0.0.1"]})

    with pytest.raises(BlockedAddress):
        client(resolver=resolver, network_backend=backend).get("https://evil.example/data")

    assert backend.connected == []


@PRODUCTION
@pytest.mark.parametrize("url", ["https://169.254.169.254/latest/meta-data", "https://[::1]:8443/admin"])
def test_an_ip_literal_url_is_checked_too(url):
    backend = RecordingBackend()

    with pytest.raises(BlockedAddress):
        client(network_backend=backend).get(url)

    assert backend.connected == []


class FakeTlsStream(httpcore.NetworkStream):
    def __init__(self, backend, answer):
        self.backend, self.answer = backend, answer

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        self.backend.tls_names.append(server_hostname)
        return self

    def write(self, buffer, timeout=None):
        pass

    def read(self, max_bytes, timeout=None):
        answer, self.answer = self.answer, b""
        return answer

    def close(self):
        pass

    def get_extra_info(self, info):
        return None


class FakeTlsBackend(httpcore.NetworkBackend):
    """Connects nowhere: answers ``answer`` once over a pretend TLS stream, recording the names."""

    def __init__(self, answer):
        self.answer, self.connected, self.tls_names = answer, [], []

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        self.connected.append(host)
        return FakeTlsStream(self, self.answer)


@PRODUCTION
def test_a_public_host_is_connected_at_the_checked_address_and_tls_verifies_its_name():
    # given: the name resolves to a public address (once: the check and the connection share it)
    backend = FakeTlsBackend(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
    lookups = []

    def resolver(host, port, type=0, **kwargs):
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    # when
    page = client(resolver=resolver, network_backend=backend).get("https://good.example/data")
    # then
    assert page.content == b"ok"
    assert lookups == ["good.example"]
    assert backend.connected == ["93.184.216.34"]
    assert backend.tls_names == ["good.example"]


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:4700::1111", True),
        ("::ffff:8.8.8.8", True),
        ("10.1.2.3", False),
        ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
        ("198.18.0.1", False),  # benchmarking range, not global
    ],
)
def test_address_allowed(address, allowed):
    assert address_allowed(address) is allowed


def test_authorization_headers():
    assert authorization({"token": "t"}) == {"Authorization": "Bearer t"}
    assert authorization({"username": "a", "password": "b"}) == {"Authorization": "Basic YTpi"}
    assert authorization({}) == {}


def test_no_url_of_a_source_reaches_the_logs(server, caplog):
    server.route("/rest/1/SECRET-4/crm.deal.list", Answer(500), json_answer({"result": []}))

    with caplog.at_level("DEBUG"):
        client().get(server.url("/rest/1/SECRET-4/crm.deal.list") + "?auth=SECRET-5")

    assert "SECRET" not in caplog.text


def test_messages_are_translated(server):
    server.route("/items", Answer(403))

    with translation.override("ru"), pytest.raises(CredentialsRejected) as error:
        client().get(server.url("/items"))

    assert "Источник отклонил учётные данные" in error.value.message


def test_an_answer_trickling_past_the_page_time_fails(server):
    server.route("/slow", Answer(200, b"z" * (1024 * 1024)))
    ticks = iter(range(0, 10_000, 100))  # each look at the clock: 100 s later

    with override_settings(INTEGRATION_HTTP_PAGE_SECONDS=300), pytest.raises(ConnectorError) as error:
        client(clock=lambda: next(ticks)).get(server.url("/slow"))

    assert "300 seconds" in error.value.message


def test_an_invalid_address_is_a_connector_error():
    with pytest.raises(ConnectorError) as error:
        client().get("https://[::1/x")

    assert "not a valid URL" in error.value.message


def test_an_address_without_a_host_is_refused():
    with pytest.raises(ConnectorError):
        client().get("https://")


def test_these_tests_cannot_look_up_a_name_or_leave_the_loopback():
    with pytest.raises(AssertionError):
        socket.getaddrinfo("example.com", 443)
    with pytest.raises(AssertionError):
        socket.create_connection(("93.184.216.34", 443))
