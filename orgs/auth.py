"""Who is asking, and how often: API tokens (I2: ``Authorization: Bearer kpi_<company>_<secret>``),
their rate limit, and the throttling of sign-in attempts (django-axes)."""

import hashlib
import hmac
import re

from axes.backends import AxesStandaloneBackend
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.db.models.functions import Lower
from django.db.models.lookups import Exact
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework import authentication, exceptions, throttling
from rest_framework.settings import api_settings

from kpi_platform.cache import CACHE_ERRORS, cache_unavailable
from orgs.forms import EmailAuthenticationForm
from orgs.models import ApiToken
from orgs.tenancy import CompanyAlreadySet, bind_company, company_context

TOKEN_PREFIX = "kpi"  # noqa: S105 - the public prefix of every token, not a secret
# ASCII digits only (``str.isdigit`` takes "²", which ``int`` refuses), and no more than fit in
# the bigint that the row-level policy casts ``app.company_id`` to.
_COMPANY_ID = re.compile(r"[0-9]{1,18}")


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(raw: str) -> tuple[int, str] | None:
    """``kpi_<company id>_<secret>`` → (company id, whole token); None when malformed.

    The company id is in the token so that the lookup itself runs in that company's context:
    the token table keeps its row-level security. A forged id simply finds nothing.
    """
    parts = raw.split("_", 2)
    if (
        len(parts) != 3
        or parts[0] != TOKEN_PREFIX
        or not _COMPANY_ID.fullmatch(parts[1])
        or len(parts[2]) < 20
    ):
        return None
    return int(parts[1]), raw


class TokenUser:
    """The principal of a token request: acts for its company, within its scopes."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = id = None

    def __init__(self, token: ApiToken):
        self.token = token
        self.company_id = token.company_id

    def __str__(self) -> str:
        return f"API token {self.token.prefix}"


class CompanyTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed(_("Invalid Authorization header."))
        try:
            raw = header[1].decode()
        except UnicodeError as error:
            raise exceptions.AuthenticationFailed(_("Invalid token.")) from error
        parsed = parse_token(raw)
        if parsed is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        company_id, token_text = parsed
        with company_context(company_id):
            token = (
                ApiToken.objects.filter(revoked_at__isnull=True)
                .filter(token_hash=hash_token(token_text))
                .first()
            )
            if token is None or not hmac.compare_digest(token.token_hash, hash_token(token_text)):
                raise exceptions.AuthenticationFailed(_("Invalid or revoked token."))
            now = timezone.now()
            # Once a minute at most: a write on every request would serialize a busy integration.
            if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
                ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
                token.last_used_at = now
        try:
            bind_company(company_id)
        except CompanyAlreadySet as error:
            raise exceptions.AuthenticationFailed(
                _("The session and the token belong to different companies.")
            ) from error
        return TokenUser(token), token

    def authenticate_header(self, request) -> str:
        return self.keyword


class TokenRateThrottle(throttling.SimpleRateThrottle):
    """At most ``DEFAULT_THROTTLE_RATES["token"]`` requests per API token, then 429 with
    Retry-After (DRF's exception handler sets it from the throttle's wait).

    Keyed on the token's hash, never its id: ids repeat across databases, hashes never, and the
    raw secret must not reach the cache. Session requests are a browser's, not an integration's:
    sign-in throttling covers them.
    """

    scope = "token"

    def get_rate(self) -> str | None:
        # Read per request rather than once at import, so that settings can change it.
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)

    def allow_request(self, request, view) -> bool:
        try:
            return super().allow_request(request, view)
        except CACHE_ERRORS as error:
            # The counters live in the cache (Redis): without it, requests go on unlimited
            # rather than fail, since what they record is kept in the database.
            cache_unavailable(error)
            return True

    def get_cache_key(self, request, view) -> str | None:
        if not isinstance(request.user, TokenUser):
            return None
        return self.cache_format % {"scope": self.scope, "ident": request.user.token.token_hash}


# --- Sign-in throttling (django-axes) -------------------------------------------------------------


class LoginAttemptsBackend(AxesStandaloneBackend):
    """Axes' guard, for sign-ins that come with a request (the login pages, the admin's).

    An ``authenticate()`` call without a request comes from code on the server (a shell, the
    test client's ``login``), where there is no client to throttle; axes would refuse it outright.
    """

    def authenticate(self, request: HttpRequest | None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


def login_attempt_username(request: HttpRequest, credentials: dict | None) -> str:
    """The e-mail as sign-in compares it (trimmed, lower case), so that ``A@x`` and ``a@x`` count
    as one account, on the site's form (which normalises it) and the admin's (which does not)."""
    username = (credentials or {}).get("username") or request.POST.get("username") or ""
    return username.strip().lower()


def login_attempt_ip(request: HttpRequest) -> str:
    """The address sign-in attempts are counted by.

    Behind ``TRUSTED_PROXY_COUNT`` proxies, each appending the address it saw to X-Forwarded-For,
    the client's is that many places from the right; anything further left the client may have
    written itself, so it never counts. With no proxy, the header is ignored altogether.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    if proxies and len(forwarded) >= proxies and forwarded[-proxies]:
        return forwarded[-proxies]
    return request.META.get("REMOTE_ADDR", "")


def login_locked_out(request: HttpRequest, response: HttpResponse | None, credentials: dict | None):
    """The sign-in page again, saying why and for how long, with 429 (Too Many Requests)."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = ngettext(
        "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
        "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
        minutes,
    ) % {"minutes": minutes}
    # An unbound form: validating it would try the password once more and count another failure.
    username = login_attempt_username(request, credentials)
    form = EmailAuthenticationForm(request, initial={"username": username})
    context = {"form": form, "locked_out": message, "next": request.POST.get("next", "")}
    return render(request, "registration/login.html", context, status=429)


# --- Sign-in by e-mail, to one company's account (O3, issue 17) -----------------------------------


class CompanyChoiceRequired(Exception):
    """The password opened accounts of the e-mail in several companies: the person chooses one.

    Raised rather than answering ``None``, because ``None`` is a failed sign-in to django-axes,
    and the password was right. ``orgs.forms.EmailAuthenticationForm`` catches it.
    """

    def __init__(self, accounts: list):
        super().__init__("choose a company")
        self.accounts = accounts


def accounts_of(email: str):
    """Every account of ``email`` (case-insensitive), the company's name at hand, by company name.

    The users table has no row-level security: sign-in runs before a company is known."""
    return (
        get_user_model()
        .objects.filter(Exact(Lower("email"), email.strip().lower()))
        .select_related("company")
        .order_by("company__name", "id")
    )


class EmailBackend(ModelBackend):
    """Sign-in by e-mail and password, to one company's account (O3, issue 17).

    The same e-mail may have an account in several companies, each with its own password (the
    account is the membership: ``orgs.models.User``). The password is tried on each active account
    of the e-mail; the ones it opens are the candidates. One: that account. Several: the one of
    ``company`` (an id) when given, else ``CompanyChoiceRequired`` so the form asks which. A
    company the password did not open is never offered, so the choice tells nothing the password
    did not prove. As ModelBackend does, the hasher runs once even when the e-mail has no account,
    so an unknown address answers as slowly as a wrong password. (An address with several accounts
    runs it once per account: the time may tell how many accounts it has, never in which companies.)

    This replaces ModelBackend, whose ``get_by_natural_key`` needs a unique e-mail (hence auth.W004,
    silenced in settings); permissions are still ModelBackend's.
    """

    def authenticate(self, request, username=None, password=None, company=None, **kwargs):
        if username is None:
            username = kwargs.get(get_user_model().USERNAME_FIELD)
        if username is None or password is None:
            return None
        accounts = [account for account in accounts_of(username) if self.user_can_authenticate(account)]
        if not accounts:
            get_user_model()().set_password(password)  # the time a wrong password takes
            return None
        opened = [account for account in accounts if account.check_password(password)]
        if company is not None:
            opened = [account for account in opened if account.company_id == int(company)]
        if len(opened) > 1:
            raise CompanyChoiceRequired(opened)
        return opened[0] if opened else None
