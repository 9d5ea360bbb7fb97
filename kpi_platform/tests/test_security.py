"""Accounts and sessions (issue 8 item 6; PRODUCT I2, API.md Basics).

Sign-in throttling, password rules, CSRF on every form, the API's rate limit per token, tokens
stored hashed and never logged, and the production profile's headers and cookies.
"""

import hashlib
import json
import logging
import secrets
from datetime import timedelta
from html.parser import HTMLParser
from io import StringIO
from urllib.parse import urljoin

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone, translation
from django.views.debug import ExceptionReporter
from rest_framework.test import APIClient
from rest_framework.views import APIView

from kpi_platform.tests.company_data import populate
from kpi_platform.tests.test_settings import _manage_in_production as manage_in_production
from orgs.models import ApiToken, Role
from orgs.tenancy import company_context

PASSWORD = "sign-in-2026-pass"
LOGIN = "/accounts/login/"
ADMIN_LOGIN = "/admin/login/"


def sign_in(client: Client, email: str, password: str, url=LOGIN, ip="203.0.113.5", forwarded_for=None):
    headers = {} if forwarded_for is None else {"HTTP_X_FORWARDED_FOR": forwarded_for}
    return client.post(url, {"username": email, "password": password}, REMOTE_ADDR=ip, **headers)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def ada(company, make_member):
    return make_member(company, Role.ADMIN, email="ada@acme.example", password=PASSWORD)


# --- Sign-in throttling (django-axes) ---------------------------------------------------------------


def test_five_wrong_passwords_lock_the_account_from_that_address_even_for_the_right_one(ada):
    client = Client()
    for _attempt in range(4):
        response = sign_in(client, "ada@acme.example", "wrong")
        assert response.status_code == 200  # the form again, with its error
    # the fifth failure locks the e-mail out from this address: 429 and the sign-in page saying why
    response = sign_in(client, "ada@acme.example", "wrong")
    assert response.status_code == 429
    assert "Too many failed sign-in attempts. Try again in 15 minutes." in response.content.decode()
    assert 'value="ada@acme.example"' in response.content.decode()
    # and then even the right password is refused, without signing in
    assert sign_in(client, "ada@acme.example", PASSWORD).status_code == 429
    assert not signed_in(client)


def test_the_lockout_ends_after_the_cool_off(ada):
    client = Client()
    for _attempt in range(5):
        sign_in(client, "ada@acme.example", "wrong")
    assert sign_in(client, "ada@acme.example", PASSWORD).status_code == 429
    # when 15 minutes have passed since the failures
    AccessAttempt.objects.update(attempt_time=timezone.now() - timedelta(minutes=16))
    response = sign_in(client, "ada@acme.example", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_the_email_counts_whatever_its_case_and_spaces(ada):
    client = Client()
    for email in ["ADA@acme.example", " Ada@Acme.Example ", "ada@ACME.example", "ada@acme.example "]:
        sign_in(client, email, "wrong")
    assert sign_in(client, "Ada@acme.example", "wrong").status_code == 429


def test_a_lockout_is_per_email_and_address_so_no_one_locks_a_colleague_out(ada, company, make_member):
    make_member(company, Role.MEMBER, email="bob@acme.example", password=PASSWORD)
    attacker = Client()
    for _attempt in range(5):
        sign_in(attacker, "ada@acme.example", "wrong", ip="198.51.100.7")
    assert sign_in(attacker, "ada@acme.example", PASSWORD, ip="198.51.100.7").status_code == 429
    # Bob, from the same address, and Ada from her own, still sign in
    assert sign_in(Client(), "bob@acme.example", PASSWORD, ip="198.51.100.7").status_code == 302
    ada_client = Client()
    assert sign_in(ada_client, "ada@acme.example", PASSWORD, ip="192.0.2.10").status_code == 302
    assert signed_in(ada_client)


def test_a_successful_sign_in_forgets_the_earlier_failures(ada):
    client = Client()
    for _attempt in range(4):
        sign_in(client, "ada@acme.example", "wrong")
    assert sign_in(client, "ada@acme.example", PASSWORD).status_code == 302
    client.logout()
    for _attempt in range(4):
        assert sign_in(client, "ada@acme.example", "wrong").status_code == 200


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(ada):
    # no proxy in front (the default): the header is the client's own words, and ignored
    client = Client()
    for n in range(5):
        sign_in(client, "ada@acme.example", "wrong", ip="127.0.0.1", forwarded_for=f"10.0.0.{n}")
    assert sign_in(client, "ada@acme.example", PASSWORD, ip="127.0.0.1").status_code == 429


def test_behind_the_proxy_the_address_it_saw_counts_not_what_the_client_wrote(ada, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "10.0.0.2"
    attacker = Client()
    for n in range(5):  # every attempt forges another address left of the one the proxy appended
        sign_in(attacker, "ada@acme.example", "wrong", ip=proxy, forwarded_for=f"192.0.2.{n}, 198.51.100.7")
    locked = sign_in(attacker, "ada@acme.example", PASSWORD, ip=proxy, forwarded_for="198.51.100.7")
    assert locked.status_code == 429
    # Ada herself, through the same proxy from her own address, still signs in
    assert (
        sign_in(Client(), "ada@acme.example", PASSWORD, ip=proxy, forwarded_for="203.0.113.9").status_code
        == 302
    )


def test_the_admin_login_is_throttled_too(ada):
    client = Client()
    for _attempt in range(5):
        sign_in(client, "ada@acme.example", "wrong", url=ADMIN_LOGIN)
    assert sign_in(client, "ada@acme.example", PASSWORD, url=ADMIN_LOGIN).status_code == 429
    assert not signed_in(client)
    # one lock for both doors: the site's sign-in page refuses too
    assert sign_in(client, "ada@acme.example", PASSWORD).status_code == 429


def test_the_lockout_message_is_translated(ada):
    client = Client(HTTP_ACCEPT_LANGUAGE="ru")
    for _attempt in range(5):
        response = sign_in(client, "ada@acme.example", "wrong")
    assert response.status_code == 429
    assert (
        "Слишком много неудачных попыток входа. Попробуйте снова через 15 минут." in response.content.decode()
    )


# --- Password rules -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("Xq7#vb2!", "at least 10 characters"),
        ("password1234", "too common"),
        ("40817810099910004312", "entirely numeric"),
        ("ada.lovelace", "too similar"),
    ],
)
def test_weak_passwords_are_refused_with_the_reason(db, password, reason):
    from orgs.models import User

    user = User(email="ada.lovelace@acme.example", first_name="Ada", last_name="Lovelace")
    with translation.override("en"), pytest.raises(ValidationError) as refused:
        password_validation.validate_password(password, user)
    assert reason in " ".join(refused.value.messages)


def test_a_long_unusual_passphrase_is_accepted(db):
    assert password_validation.validate_password("correct horse battery staple 2026") is None


# --- CSRF on every form -----------------------------------------------------------------------------


def _patterns(resolver: URLResolver, prefix: str = ""):
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern).lstrip("^").rstrip("$").replace("\\Z", "")
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern, route)
        elif isinstance(pattern, URLPattern):
            yield route, pattern


def test_no_view_skips_csrf_but_the_api_whose_session_authentication_enforces_it():
    exempt = {
        route: pattern.callback
        for route, pattern in _patterns(get_resolver())
        if getattr(pattern.callback, "csrf_exempt", False)
    }
    not_api = [
        route for route, view in exempt.items() if not issubclass(getattr(view, "cls", object), APIView)
    ]
    assert not_api == []


def test_a_session_write_to_the_api_without_the_csrf_token_is_refused(admin_member):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(admin_member.user)
    response = client.post("/api/v1/departments/", {"name": "Sales"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["errors"][0]["message"]


class _PostForms(HTMLParser):
    def __init__(self):
        super().__init__()
        self.actions: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form" and (attributes.get("method") or "").lower() == "post":
            self.actions.append(attributes.get("action") or "")


def post_form_targets(html: str, page: str) -> set[str]:
    parser = _PostForms()
    parser.feed(html)
    return {urljoin(page, action) for action in parser.actions}


def pages_to_visit(company) -> list[str]:
    """Every page of the URL conf without parameters, and every admin page of one real object."""
    pages = []
    for route, pattern in _patterns(get_resolver()):
        if route.startswith(("api/", "static/")):
            continue  # the API is JSON (covered above); no HTML forms
        if "<" not in route and "(?P" not in route:
            pages.append("/" + route)
        elif route.startswith("admin/") and route.count("<") == 1 and "<path:object_id>" in route:
            model_admin = getattr(pattern.callback, "model_admin", None)
            model = getattr(model_admin, "model", None)
            manager = getattr(model, "dangerously_unscoped", None) or getattr(model, "_default_manager", None)
            if manager is None:
                continue
            with company_context(company.id):
                obj = manager.filter(**_company_filter(model, company)).order_by("pk").first()
            if obj is not None:
                pages.append("/" + route.replace("<path:object_id>", str(obj.pk)))
    return pages


def _company_filter(model, company) -> dict:
    names = {field.name for field in model._meta.get_fields()}
    return {"company": company} if "company" in names else {}


@pytest.fixture
def populated(company, other_company):
    populate(company, "acme")
    return company


def test_every_html_form_refuses_a_post_without_the_csrf_token(populated, admin_member):
    browser = Client()
    browser.force_login(admin_member.user)
    attacker = Client(enforce_csrf_checks=True)  # a cross-site POST: the cookie, but no token
    attacker.force_login(admin_member.user)
    targets: set[str] = set()
    for page in [*pages_to_visit(populated), LOGIN]:
        client = Client() if page == LOGIN else browser
        response = client.get(page)
        if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
            targets |= post_form_targets(response.content.decode(), page)
    accepted = {}
    for target in sorted(targets):
        response = attacker.post(target, {"name": "x"})
        if response.status_code != 403 or b"CSRF" not in response.content:
            accepted[target] = response.status_code
    assert accepted == {}
    # the walk reached the forms that matter: sign-in, sign-out, language, the admin's own
    assert {LOGIN, "/accounts/logout/", "/i18n/setlang/"} <= targets
    assert len([target for target in targets if target.startswith("/admin/")]) >= 20, sorted(targets)


# --- The API's rate limit, per token --------------------------------------------------------------


@pytest.fixture
def three_a_minute(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": "3/minute"}}


@pytest.mark.usefixtures("three_a_minute")
def test_a_token_beyond_its_rate_gets_429_with_retry_after(company, token_client):
    client = token_client(company)
    assert [client.get("/api/v1/departments/").status_code for _ in range(3)] == [200, 200, 200]
    response = client.get("/api/v1/departments/")
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert response.json()["errors"][0]["code"] == "throttled"


@pytest.mark.usefixtures("three_a_minute")
def test_the_rate_is_per_token(company, other_company, token_client, client_for, admin_member):
    busy = token_client(company)
    for _ in range(4):
        busy.get("/api/v1/departments/")
    assert busy.get("/api/v1/departments/").status_code == 429
    # another token of the same company, a token of another company and a browser session go on
    assert token_client(company).get("/api/v1/departments/").status_code == 200
    assert token_client(other_company).get("/api/v1/departments/").status_code == 200
    session = client_for(admin_member)
    assert [session.get("/api/v1/departments/").status_code for _ in range(5)] == [200] * 5


# --- Tokens: stored hashed, never logged --------------------------------------------------------------


def test_a_token_is_stored_only_as_a_hash_and_never_appears_in_a_log(company, caplog):
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    out = StringIO()
    call_command(
        "create_api_token",
        "--company",
        "acme",
        "--name",
        "CRM",
        "--scopes",
        "read,actions,org",
        stdout=out,
        stderr=StringIO(),
    )
    secret = out.getvalue().strip()
    client = APIClient()
    connection.force_debug_cursor = True  # log every SQL statement with its parameters, as DEBUG=True does
    try:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert client.get("/api/v1/departments/").status_code == 200
        assert client.post("/api/v1/departments/", {"name": ""}, format="json").status_code == 400
        assert client.get("/api/v1/departments/987654/").status_code == 404
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}x")  # one character off
        assert client.get("/api/v1/departments/").status_code == 401
    finally:
        connection.force_debug_cursor = False
    token_hash = hashlib.sha256(secret.encode()).hexdigest()
    logged = [_rendered(record) for record in caplog.records]
    # the queries were logged (the lookup by hash among them), the token itself nowhere
    assert any(token_hash in text for text in logged)
    assert [text for text in logged if secret in text] == []
    # the database holds its hash (and a short prefix to recognise it by), never the token
    with company_context(company.id):
        stored = ApiToken.objects.values().get()
    assert stored["token_hash"] == token_hash
    assert secret.startswith(stored["prefix"])
    assert len(stored["prefix"]) < len(secret) - 20
    assert [name for name, value in stored.items() if secret in str(value)] == []


def _rendered(record: logging.LogRecord) -> str:
    """All a handler could write of a record, the error e-mail's request report included."""
    text = logging.Formatter("%(message)s %(args)s").format(record)
    request = getattr(record, "request", None)
    if request is not None:
        report = ExceptionReporter(request, None, None, None, is_email=True)
        text += report.get_traceback_text()
    return text


# --- The production profile: headers and cookies ------------------------------------------------------

_PROBE = """
import json
from django.conf import settings
from django.test import Client, override_settings
# the static manifest is built by collectstatic at deployment; the headers do not depend on it
plain_storage = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
storages = {**settings.STORAGES, "staticfiles": plain_storage}
client = Client(HTTP_HOST="kpi.example.com")
with override_settings(STORAGES=storages):
    plain = client.get("/accounts/login/")
    page = client.get("/accounts/login/", secure=True)
    health = client.get("/healthz")
print(json.dumps({
    "plain": [plain.status_code, plain.get("Location")],
    "healthz": health.status_code,
    "headers": dict(page.headers),
    "csrf_cookie": {k: page.cookies["csrftoken"][k] for k in ("secure", "httponly", "samesite")},
    "session_cookie": [
        settings.SESSION_COOKIE_SECURE, settings.SESSION_COOKIE_HTTPONLY, settings.SESSION_COOKIE_SAMESITE
    ],
}))
"""


def test_the_production_profile_sends_the_security_headers_and_secure_cookies(tmp_path):
    result = manage_in_production(
        "shell",
        "--no-imports",
        "-c",
        _PROBE,
        SECRET_KEY=secrets.token_urlsafe(50),
        # a database of its own: requests open a transaction, and the test run's database is not the URL's
        DATABASE_URL=f"sqlite:///{tmp_path / 'probe.sqlite3'}",
        REDIS_URL="",
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    # plain HTTP is sent to HTTPS, except the load balancer's health probe
    assert seen["plain"] == [301, "https://kpi.example.com/accounts/login/"]
    assert seen["healthz"] != 301
    headers = seen["headers"]
    assert headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    policy = headers["Content-Security-Policy"]  # its pages are checked in a browser below
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert seen["csrf_cookie"] == {"secure": True, "httponly": "", "samesite": "Lax"}
    assert seen["session_cookie"] == [True, True, "Lax"]


# --- Content-Security-Policy: the pages work under it -------------------------------------------------

CSP_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI || "inline"} ${e.sourceFile}:${e.lineNumber}`));
"""


def _pages_under_csp() -> list[str]:
    """Every page without parameters (the URL conf's), one of each page with an id, the admin's
    main screens and the API documentation."""
    from django.urls import NoReverseMatch, reverse

    from kpis.models import Kpi
    from orgs.models import Company, Department, Member

    company = Company.objects.get(slug="demo")
    with company_context(company.id):
        ids = {
            "kpi-page": {"kpi_id": Kpi.objects.order_by("id").first().id},
            "profile": {"member_id": Member.objects.order_by("pk").first().pk},
            "dashboard-department": {"org_unit_id": Department.objects.order_by("id").first().id},
        }
    pages = [
        "/" + route
        for route, _pattern in _patterns(get_resolver())
        if "<" not in route
        and "(?" not in route
        and not route.startswith(("admin/", "api/", "i18n/", "accounts/", "healthz"))
    ]
    for name, kwargs in ids.items():
        try:
            pages.append(reverse(name, kwargs=kwargs))
        except NoReverseMatch:
            continue  # a page another part of the product no longer has
    with company_context(company.id):
        kpi_id = Kpi.objects.order_by("id").first().id
    pages += ["/admin/", "/admin/orgs/member/add/", f"/admin/kpis/kpi/{kpi_id}/change/", "/api/docs/"]
    return [path for path in pages if _is_html_page(path, company)]


def _is_html_page(path: str, company) -> bool:
    """A page a person opens (200, HTML), not a download or a redirect."""
    from orgs.demo import ADMIN_EMAIL
    from orgs.models import User

    client = Client()
    client.force_login(User.objects.get(email=ADMIN_EMAIL))
    response = client.get(path)
    attachment = response.get("Content-Disposition", "").startswith("attachment")
    return response.status_code == 200 and response["Content-Type"].startswith("text/html") and not attachment


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_works_under_the_production_content_security_policy(browser_page, live_server, settings):
    from csp.utils import build_policy

    from orgs.demo import ADMIN_EMAIL, DEMO_PASSWORD

    call_command("seed_demo", stdout=StringIO())
    policy = build_policy(settings.CONTENT_SECURITY_POLICY["DIRECTIVES"])
    page = browser_page

    def with_policy(route):  # the header production's middleware sends, on every document
        if route.request.resource_type != "document":
            return route.continue_()
        response = route.fetch(max_redirects=0)  # the browser follows redirects itself
        return route.fulfill(
            response=response, headers={**response.headers, "content-security-policy": policy}
        )

    page.route("**/*", with_policy)
    page.add_init_script(CSP_VIOLATIONS)
    page.goto(f"{live_server.url}{LOGIN}")
    page.fill("#id_username", ADMIN_EMAIL)
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    violations = {}
    for path in _pages_under_csp():
        page.goto(f"{live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        if seen := page.evaluate("window.__csp"):
            violations[path] = seen
    assert violations == {}
    # the API documentation's script ran: Swagger UI drew the operations
    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".opblock", timeout=15_000)
    # the language menu's inline handler (allowed by its hash) still switches the language
    page.goto(f"{live_server.url}/")
    page.select_option("select[name=language]", "ru")
    page.wait_for_function("document.documentElement.lang === 'ru'")
    assert page.evaluate("window.__csp") == []
