"""Settings read from the environment (12-factor).

Embedded defaults need no outside service: a SQLite file in ``var/`` and kombu's filesystem
broker. ``DATABASE_URL`` and ``REDIS_URL`` switch to PostgreSQL and Redis.
"""

import base64
import hashlib
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = BASE_DIR / "var"  # the SQLite file, the filesystem broker, beat's schedule, media
VAR_DIR.mkdir(exist_ok=True)

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env")  # optional; the process environment wins

DEBUG = env.bool("DEBUG", default=True)
# A fixed key is fine for the embedded development profile only; production.py requires one.
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    # orgs first: its `migrate` command (run as the tables' owner) overrides Django's.
    "orgs",
    "modeltranslation",
    "django.contrib.admin",
    "django.contrib.auth",
    "axes",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "import_export",
    "kpi_platform",
    "kpis",
    "ratings",
    "integrations",
    "pages",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kpi_platform.middleware.NulInQueryStringMiddleware",  # before anything reads a parameter
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "orgs.middleware.CompanyMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into its 429 page
]

ROOT_URLCONF = "kpi_platform.urls"
WSGI_APPLICATION = "kpi_platform.wsgi.application"
ASGI_APPLICATION = "kpi_platform.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'kpi_platform.sqlite3'}"),
}
# Every request runs in one transaction: on PostgreSQL the company setting of row-level security
# is transaction-local (SET LOCAL), and a failed request leaves nothing half-written.
DATABASES["default"]["ATOMIC_REQUESTS"] = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"transaction_mode": "IMMEDIATE", "timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
# The role requests and tasks run as on PostgreSQL: not superuser, not BYPASSRLS, owns no table.
DATABASE_APP_ROLE = env.str("DATABASE_APP_ROLE", default="kpi_app")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "orgs.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
AUTHENTICATION_BACKENDS = [
    "orgs.auth.LoginAttemptsBackend",  # first: refuses locked-out sign-ins before any password check
    # Not ModelBackend: an e-mail may have an account in several companies (O3, issue 17).
    "orgs.auth.EmailBackend",
]
# auth.W004: the e-mail (USERNAME_FIELD) is unique per company, not globally (issue 17): the same
# person may have an account in several companies. orgs.auth.EmailBackend signs in by e-mail and
# asks which company when the password opens several; Django's ModelBackend is not used.
SILENCED_SYSTEM_CHECKS = ["auth.W004"]
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The aggregates' covering indexes INCLUDE columns on PostgreSQL, the production database;
    # SQLite, the embedded default of `make run` and the tests, builds them on their keys alone.
    SILENCED_SYSTEM_CHECKS.append("models.W040")
PASSWORD_RESET_TIMEOUT = 60 * 60  # a reset link works for an hour, once (issue 18)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Sign-in throttling (django-axes), for /accounts/login/ and the admin's login alike: five failures
# of one e-mail from one address lock that pair out for 15 minutes (429). Per pair, so an attacker
# can neither guess one password from one address nor lock a colleague out from elsewhere.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_USERNAME_CALLABLE = "orgs.auth.login_attempt_username"
AXES_CLIENT_IP_CALLABLE = "orgs.auth.login_attempt_ip"
AXES_LOCKOUT_CALLABLE = "orgs.auth.login_locked_out"
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # successful sign-ins are not the throttle's business
# Proxies in front of the app that append the client's address to X-Forwarded-For (production: 1).
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# Content-Security-Policy, sent by production.py's django-csp middleware. Scripts only from our own
# static files; the one inline handler (base.html's language menu) by its hash; inline styles are
# allowed (progress bars' widths, the admin's <style>, htmx's indicator style).
_LANGUAGE_MENU_HANDLER = b"this.form.submit()"  # templates/base.html: <select onchange="…">
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": [
            "'self'",
            "'unsafe-hashes'",
            f"'sha256-{base64.b64encode(hashlib.sha256(_LANGUAGE_MENU_HANDLER).digest()).decode()}'",
        ],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Internationalization ---------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("ru", _("Russian"))]
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
# Times with their minutes in every language (kpi_platform/formats/en/formats.py).
FORMAT_MODULE_PATH = ["kpi_platform.formats"]
USE_TZ = True

# --- Static files: our own and the npm packages, served by the app (no CDN) ------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(VAR_DIR / "media"))

# --- E-mail ---------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="KPI Platform <kpi@localhost>")

# --- Cache ----------------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery ---------------------------------------------------------------------------------
# No REDIS_URL: kombu's filesystem transport, a real broker in a folder, so `make run` has a real
# worker without any outside service. Never eager mode outside the tests that ask for it.
CELERY_BROKER_DIR = Path(env.str("CELERY_BROKER_DIR", default=str(VAR_DIR / "broker")))
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {}
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True  # a task a worker dies in is delivered again
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE = {
    "sessions-clear-expired": {
        "task": "kpi_platform.tasks.sessions_clear_expired",
        "schedule": crontab(minute=17, hour=3),
    },
    "imports-sweep": {  # re-queues imports a dead worker left behind (PRODUCT I3)
        "task": "integrations.tasks.imports_sweep",
        "schedule": crontab(minute="*/5"),
    },
    # Issue 20: each company's due integration sources are queued.
    "integration-sources-dispatch": {
        "task": "integrations.tasks.integration_sources_dispatch",
        "schedule": crontab(minute="*"),
    },
    # D5: each company's KPI report goes out at its chosen hour of its time zone, once per period.
    "kpi-reports-dispatch": {
        "task": "ratings.tasks.kpi_reports_dispatch",
        "schedule": crontab(minute=2),
    },
}

# --- Integration sources (issue 20) --------------------------------------------------------------
# Fernet keys (urlsafe base64 of 32 bytes) for sources' credentials: the first encrypts, all
# decrypt. Empty: one derived from SECRET_KEY (development); set them in production (README).
INTEGRATION_KEYS = env.list("INTEGRATION_KEYS", default=[])

# --- Imports (PRODUCT I3) ---------------------------------------------------------------------
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=100 * 1024 * 1024)  # larger uploads: 413
# An xlsx is a zip: refuse one that would unpack to more than this (a zip bomb).
IMPORT_MAX_UNCOMPRESSED_BYTES = env.int("IMPORT_MAX_UNCOMPRESSED_BYTES", default=2 * 1024 * 1024 * 1024)
IMPORT_MAX_STORED_ERRORS = 10_000  # a job keeps (and its report lists) at most this many row errors
IMPORT_STALE_SECONDS = env.int("IMPORT_STALE_SECONDS", default=15 * 60)  # then a sweep queues it again
# A file that kills the worker this many times fails instead (bench/faults.py raises it for its drill).
IMPORT_MAX_ATTEMPTS = env.int("IMPORT_MAX_ATTEMPTS", default=3)

# --- Integration sources' HTTP client (issue 20, item 4; integrations/connectors/http.py) ---------
# Outside development only https, and no private, loopback, link-local or reserved address (SSRF),
# checked against the address connected to. production.py turns both off whatever DEBUG says.
INTEGRATION_ALLOW_HTTP = env.bool("INTEGRATION_ALLOW_HTTP", default=DEBUG)
INTEGRATION_ALLOW_PRIVATE_HOSTS = env.bool("INTEGRATION_ALLOW_PRIVATE_HOSTS", default=DEBUG)
INTEGRATION_HTTP_CONNECT_TIMEOUT = env.float("INTEGRATION_HTTP_CONNECT_TIMEOUT", default=10.0)
INTEGRATION_HTTP_READ_TIMEOUT = env.float("INTEGRATION_HTTP_READ_TIMEOUT", default=60.0)
INTEGRATION_HTTP_RETRIES = env.int("INTEGRATION_HTTP_RETRIES", default=4)  # after the first try: 1+2+4+8 s
INTEGRATION_HTTP_MAX_WAIT = env.float("INTEGRATION_HTTP_MAX_WAIT", default=120.0)  # cap of Retry-After
INTEGRATION_HTTP_PAGE_SECONDS = env.int("INTEGRATION_HTTP_PAGE_SECONDS", default=300)  # one answer, whole

# The largest request body besides an uploaded file (Django's default is 2.5 MB): a batch of 5,000
# actions with long comments fits. Larger: 413 with the API's error body.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("REQUEST_MAX_BYTES", default=16 * 1024 * 1024)

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "orgs.auth.CompanyTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "kpi_platform.errors.exception_handler",
    # Per API token (orgs.auth.TokenRateThrottle): 429 with Retry-After beyond the rate.
    "DEFAULT_THROTTLE_CLASSES": ["orgs.auth.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"token": env.str("API_TOKEN_RATE", default="1200/minute")},
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "KPI Platform API",
    "DESCRIPTION": "KPI definitions, actions, ratings and organization of one company.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation's error statuses and their one body shape (kpi_platform/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "kpi_platform.openapi.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "KpiStatusEnum": "kpis.models.KpiStatus",
        "KpiKindEnum": "kpis.models.KpiKind",  # not "kind" of imports
        "RecalculationStatusEnum": "ratings.models.RecalculationStatus",
        "ActionRecordStatusEnum": ["created", "duplicate"],
        # A company's primary and secondary KPIs share one set of tracking frequencies (O1).
        "TrackingFrequencyEnum": "orgs.models.TrackingFrequency",
        "ReportFrequencyEnum": "orgs.models.ReportFrequency",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # httpx logs each request's full URL at INFO and httpcore its headers at DEBUG: an
        # integration source's token may be in either (Bitrix24's webhook has it in the path).
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}
