"""Production profile: everything secure, nothing defaulted that must be secret.

Passes ``manage.py check --deploy --fail-level WARNING``. TLS terminates at the proxy in front of
gunicorn, which sets X-Forwarded-Proto.
"""

from .base import *  # noqa: F403
from .base import MIDDLEWARE, env

DEBUG = False
SECRET_KEY = env.str("SECRET_KEY")  # required: no default in production
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
# Integration sources: https only, public addresses only (SSRF). A source on a private network
# (an on-premise Bitrix24) needs INTEGRATION_ALLOW_PRIVATE_HOSTS=true, a decision made on purpose.
INTEGRATION_ALLOW_HTTP = env.bool("INTEGRATION_ALLOW_HTTP", default=False)
INTEGRATION_ALLOW_PRIVATE_HOSTS = env.bool("INTEGRATION_ALLOW_PRIVATE_HOSTS", default=False)

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# The proxy appends the client's address to X-Forwarded-For: sign-in throttling counts by it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=1)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
MIDDLEWARE = [*MIDDLEWARE, "csp.middleware.CSPMiddleware"]  # the policy: base.CONTENT_SECURITY_POLICY
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
