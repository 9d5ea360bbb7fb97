"""API token authentication (I2): ``Authorization: Bearer kpi_<company>_<secret>``."""

import hashlib
import hmac

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from orgs.models import ApiToken
from orgs.tenancy import CompanyAlreadySet, bind_company, company_context

TOKEN_PREFIX = "kpi"  # noqa: S105 - the public prefix of every token, not a secret


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_token(raw: str) -> tuple[int, str] | None:
    """``kpi_<company id>_<secret>`` → (company id, whole token); None when malformed.

    The company id is in the token so that the lookup itself runs in that company's context:
    the token table keeps its row-level security. A forged id simply finds nothing.
    """
    parts = raw.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1].isdigit() or len(parts[2]) < 20:
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
