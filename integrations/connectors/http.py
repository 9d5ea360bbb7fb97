"""The HTTP client every connector reads through (issue 20, item 4: being a good, safe client).

``HttpClient.get`` sends one GET and returns the ``Page`` it read, or raises a ``ConnectorError``:

* **Timeouts**: connect and read (``INTEGRATION_HTTP_CONNECT_TIMEOUT`` / ``_READ_TIMEOUT``).
* **Retries**: on 429, any 5xx and a broken connection, up to ``INTEGRATION_HTTP_RETRIES`` more
  times, waiting 1, 2, 4 … seconds, or what the answer's ``Retry-After`` says (seconds or an HTTP
  date, RFC 9110 §10.2.3), never more than ``INTEGRATION_HTTP_MAX_WAIT`` seconds. ``sleep`` is
  injectable, so tests do not wait.
* **Limits per run** (``Limits``): the client counts the pages and the bytes (after decompression)
  of the whole run; it refuses the page past ``max_pages`` and stops reading an answer the moment
  the run's bytes pass ``max_bytes``.
* **Answers**: 401 and 403 raise ``CredentialsRejected``; any other non-2xx ``SourceAnswerError``
  (with the status and the start of the body, for connectors that read an error's details). No
  message carries a credential, a URL's path or its query (where tokens live: Bitrix24's webhook
  has its token in the path): only the scheme and host.
* **SSRF**: unless ``INTEGRATION_ALLOW_HTTP`` only https, and unless
  ``INTEGRATION_ALLOW_PRIVATE_HOSTS`` no private, loopback, link-local, multicast, reserved or
  unspecified address (IPv4-mapped IPv6 too). The check runs when the connection is opened, in
  ``GuardedBackend``: it resolves the host itself, refuses the host if *any* of its addresses is
  disallowed, and connects to the very address it checked, so DNS rebinding (a second lookup that
  answers 127.0.0.1) cannot slip between check and connect; TLS still verifies the host name.
  Environment proxies are ignored (a proxy would connect for us, unchecked).
* **Redirects**: followed here, at most ``MAX_REDIRECTS``, each hop's URL re-checked (scheme; its
  address at connect); the ``Authorization`` header is dropped when a hop leaves the origin.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import ipaddress
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import httpcore
import httpx
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations.connectors.base import ConnectorError, CredentialsRejected, Limits, Pull, Record

MAX_REDIRECTS = 5
ERROR_BODY_BYTES = 64 * 1024  # enough of an error answer to read its JSON description
CHUNK = 64 * 1024
Resolver = Callable[..., list]
default_sleep = time.sleep  # what a client waits with unless given another (tests of runs patch it)


class SourceAnswerError(ConnectorError):
    """The source answered with an error status; ``status`` and ``body`` (its start) for details."""

    def __init__(self, message: str, *, status: int, body: bytes = b""):
        super().__init__(message)
        self.status = status
        self.body = body


class BlockedAddress(ConnectorError):
    """The host resolves to an address a source may not have (SSRF protection)."""


@dataclass
class Page:
    """One answer read whole (or streamed into a file: then ``content`` is empty)."""

    status: int
    headers: httpx.Headers
    content: bytes
    url: httpx.URL

    def json(self) -> Any:
        import json

        try:
            return json.loads(self.content)
        except ValueError as exc:
            raise ConnectorError(
                _("%(origin)s did not answer with JSON.") % {"origin": origin_of(self.url)}
            ) from exc


def origin_of(url: httpx.URL | str) -> str:
    """``scheme://host[:port]``: what a message may say of a URL (never its path or query)."""
    url = httpx.URL(str(url))
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{host}{port}"


# --- addresses -----------------------------------------------------------------------------------


def address_allowed(address: str) -> bool:
    """False for any address a source on the public internet cannot have."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone ("fe80::1%eth0")
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d reaches a.b.c.d
            return address_allowed(str(ip.ipv4_mapped))
        embedded = ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not address_allowed(str(embedded)):
            return False
    return not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


class GuardedBackend(httpcore.NetworkBackend):
    """An httpcore network backend that checks the address it connects to (see the module)."""

    def __init__(self, *, resolver: Resolver | None = None, inner: httpcore.NetworkBackend | None = None):
        self.resolver = resolver or socket.getaddrinfo
        self.inner = inner or httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        try:
            infos = self.resolver(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve the host ({exc.__class__.__name__})") from exc
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        if not addresses:
            raise httpcore.ConnectError("the host has no address")
        if not settings.INTEGRATION_ALLOW_PRIVATE_HOSTS and not all(map(address_allowed, addresses)):
            raise BlockedAddress(
                _("%(host)s resolves to a private or reserved address: a source must be on the internet.")
                % {"host": host}
            )
        error: Exception | None = None
        for address in addresses:
            try:
                return self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError("no address of the host answered")

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise BlockedAddress(_("A source cannot be a local socket."))

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def guarded_transport(*, resolver: Resolver | None = None, inner: httpcore.NetworkBackend | None = None):
    """An httpx transport whose every connection goes through ``GuardedBackend``."""
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool = httpcore.ConnectionPool(  # httpx offers no other way to pass a network backend
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=GuardedBackend(resolver=resolver, inner=inner),
    )
    return transport


# --- the client ----------------------------------------------------------------------------------


def retry_after_seconds(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (epoch): a number, or an HTTP date; None if absent."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(when.timestamp() - now, 0.0)


class HttpClient:
    """One run's HTTP client: its pages and bytes count against ``limits`` (see the module)."""

    def __init__(
        self,
        *,
        limits: Limits,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] = time.time,
        resolver: Resolver | None = None,
        network_backend: httpcore.NetworkBackend | None = None,
    ):
        self.limits = limits
        self.sleep = sleep if sleep is not None else default_sleep
        self.clock = clock
        self.pages = 0
        self.bytes_read = 0
        self._client = httpx.Client(
            transport=guarded_transport(resolver=resolver, inner=network_backend),
            timeout=httpx.Timeout(
                settings.INTEGRATION_HTTP_READ_TIMEOUT, connect=settings.INTEGRATION_HTTP_CONNECT_TIMEOUT
            ),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": "kpi-platform-integrations/1"},
        )

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def get(
        self,
        url: str,
        *,
        params: dict[str, Any] | Iterable[tuple[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        into: IO[bytes] | None = None,
        retry_when: Callable[[int, bytes], bool] | None = None,
    ) -> Page:
        """GET ``url``: a 2xx ``Page`` after retries and redirects; its body in ``into`` if given.

        ``retry_when(status, body)`` may veto a retry of a 5xx or 429 (an answer the source says
        will not change, such as Bitrix24's OVERLOAD_LIMIT).
        """
        if self.pages >= self.limits.max_pages:
            raise ConnectorError(
                _("The source has more than %(pages)d pages: a run reads at most that many.")
                % {"pages": self.limits.max_pages}
            )
        self.pages += 1
        target = _parsed(lambda: httpx.URL(url).copy_merge_params(params or {}))
        attempt = 0
        while True:
            page = self._follow(target, dict(headers or {}), into)
            retryable = page.status == 429 or page.status >= 500
            if retryable and retry_when is not None and not retry_when(page.status, page.content):
                retryable = False
            if not retryable or attempt >= settings.INTEGRATION_HTTP_RETRIES:
                return self._checked(page)
            self._wait(attempt, page)
            attempt += 1

    def _wait(self, attempt: int, page: Page | None) -> None:
        backoff = float(2**attempt)
        asked = retry_after_seconds(page.headers.get("retry-after"), now=self.clock()) if page else None
        self.sleep(min(asked if asked is not None else backoff, settings.INTEGRATION_HTTP_MAX_WAIT))

    def _checked(self, page: Page) -> Page:
        if 200 <= page.status < 300:
            return page
        origin = origin_of(page.url)
        if page.status in (401, 403):
            error = CredentialsRejected(
                _("Credentials rejected by the source (%(origin)s answered %(status)d).")
                % {"origin": origin, "status": page.status}
            )
            error.status, error.body = page.status, page.content
            raise error
        raise SourceAnswerError(
            _("%(origin)s answered with the error %(status)d.") % {"origin": origin, "status": page.status},
            status=page.status,
            body=page.content,
        )

    def _follow(self, url: httpx.URL, headers: dict[str, str], into: IO[bytes] | None) -> Page:
        origin = origin_of(url)
        for _hop in range(MAX_REDIRECTS + 1):
            self._check_scheme(url)
            page = self._send(url, headers, into)
            location = page.headers.get("location")
            if page.status not in (301, 302, 303, 307, 308) or not location:
                return page
            url = _parsed(lambda url=url, location=location: url.join(location))
            if origin_of(url) != origin:
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        raise ConnectorError(
            _("%(origin)s redirected more than %(count)d times.") % {"origin": origin, "count": MAX_REDIRECTS}
        )

    def _check_scheme(self, url: httpx.URL) -> None:
        allowed = ("https", "http") if settings.INTEGRATION_ALLOW_HTTP else ("https",)
        if url.scheme not in allowed or not url.host:
            raise ConnectorError(
                _("Only https addresses can be read: %(origin)s is not one.") % {"origin": origin_of(url)}
            )

    def _send(self, url: httpx.URL, headers: dict[str, str], into: IO[bytes] | None) -> Page:
        """One request, retrying a broken connection; the body streamed against the byte limit."""
        attempt = 0
        while True:
            try:
                with self._client.stream("GET", url, headers=headers) as response:
                    success = 200 <= response.status_code < 300
                    sink = into if success and into is not None else None
                    content = self._read(response, sink, limit=None if success else ERROR_BODY_BYTES)
                    return Page(response.status_code, response.headers, content, url)
            except httpx.DecodingError as exc:
                raise ConnectorError(
                    _("Could not read %(origin)s: %(reason)s.")
                    % {"origin": origin_of(url), "reason": _("the answer is malformed")}
                ) from exc
            except httpx.TransportError as exc:
                if attempt >= settings.INTEGRATION_HTTP_RETRIES:
                    raise ConnectorError(
                        _("Could not read %(origin)s: %(reason)s.")
                        % {"origin": origin_of(url), "reason": _transport_reason(exc)}
                    ) from exc
                self._wait(attempt, None)
                attempt += 1

    def _read(self, response: httpx.Response, sink: IO[bytes] | None, *, limit: int | None) -> bytes:
        chunks: list[bytes] = []
        kept = 0
        # The read timeout bounds each wait; this bounds a source that trickles bytes forever.
        deadline = self.clock() + settings.INTEGRATION_HTTP_PAGE_SECONDS
        for chunk in response.iter_bytes(CHUNK):
            if self.clock() > deadline:
                raise ConnectorError(
                    _("%(origin)s took more than %(seconds)d seconds to send one answer.")
                    % {"origin": origin_of(response.url), "seconds": settings.INTEGRATION_HTTP_PAGE_SECONDS}
                )
            self.bytes_read += len(chunk)
            if self.bytes_read > self.limits.max_bytes:
                raise ConnectorError(
                    _("The source sent more than %(mb)s MB: a run reads at most that much.")
                    % {"mb": f"{self.limits.max_bytes / 1024 / 1024:g}"}
                )
            if sink is not None:
                sink.write(chunk)
            elif limit is None or kept < limit:
                chunks.append(chunk)
                kept += len(chunk)
        return b"".join(chunks)


def _parsed(make_url: Callable[[], httpx.URL]) -> httpx.URL:
    try:
        return make_url()
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ConnectorError(_("The source's address is not a valid URL.")) from exc


def _transport_reason(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return _("the connection timed out")
    if isinstance(exc, httpx.TimeoutException):
        return _("the answer timed out")
    if isinstance(exc, httpx.ConnectError):
        return _("the connection failed")
    return _("the connection broke")


CREDENTIAL_FIELDS = {
    "token": gettext_lazy("A bearer token, if the source asks for one."),
    "username": gettext_lazy("A user name for basic authentication, if the source asks for one."),
    "password": gettext_lazy("The password for basic authentication."),
}


def authorization(credentials: dict[str, Any]) -> dict[str, str]:
    """The ``Authorization`` header of a ``token`` (bearer) or a ``username``/``password`` (basic)."""
    if credentials.get("token"):
        return {"Authorization": f"Bearer {credentials['token']}"}
    if credentials.get("username") or credentials.get("password"):
        pair = f"{credentials.get('username', '')}:{credentials.get('password', '')}".encode()
        return {"Authorization": "Basic " + base64.b64encode(pair).decode("ascii")}
    return {}


class HttpConnector:
    """Base of connectors that read over HTTP: ``pull`` returns at once and reads nothing until
    its records are iterated, by ``records`` (which sets ``pull.cursor`` when done). Tests pass
    the client's ``sleep``, ``resolver`` and ``network_backend`` to the constructor.
    """

    def __init__(self, **client_options: Any):
        self.client_options = client_options

    def client(self, limits: Limits) -> HttpClient:
        return HttpClient(limits=limits, **self.client_options)

    def pull(self, *, settings, credentials, cursor, limits: Limits, now: datetime.datetime) -> Pull:
        pull = Pull(records=iter(()), cursor=cursor)
        pull.records = self.records(pull, settings, credentials, limits)
        return pull

    def records(self, pull: Pull, settings, credentials, limits: Limits) -> Iterator[Record]:
        raise NotImplementedError


def url_errors(settings: dict[str, Any], field: str = "url") -> dict[str, str]:
    """``{field: message}`` unless ``settings[field]`` is an http(s) address (checked again when read)."""
    if str(settings.get(field) or "").lower().startswith(("https://", "http://")):
        return {}
    return {field: _("Enter an address starting with https://.")}
