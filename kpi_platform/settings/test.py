"""Test profile: the base settings plus what makes tests fast and hermetic."""

import os
import tempfile

from .base import *  # noqa: F403
from .base import CELERY_BROKER_TRANSPORT_OPTIONS, REDIS_URL

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; never in production
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = tempfile.mkdtemp(prefix="kpi-test-media-")
# Every test client builds the middleware anew, and WhiteNoise would index the ~320 files of
# STATIC_ROOT each time (0.03 s of CPU per test, some 45 s of a run). Looking a static URL up
# when it is asked for serves the same files with the same headers.
WHITENOISE_AUTOREFRESH = True
# The fixture servers of the integration tests listen on http://127.0.0.1; the SSRF tests turn
# these off with override_settings.
INTEGRATION_ALLOW_HTTP = True
INTEGRATION_ALLOW_PRIVATE_HOSTS = True
if not REDIS_URL:
    # Each test run gets its own filesystem broker, so a `make run` worker never takes its tasks.
    _broker = tempfile.mkdtemp(prefix="kpi-test-broker-")
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **CELERY_BROKER_TRANSPORT_OPTIONS,
        "data_folder_in": os.path.join(_broker, "queue"),
        "data_folder_out": os.path.join(_broker, "queue"),
        "control_folder": os.path.join(_broker, "control"),
    }
else:
    # A run against the shared Redis uses its own queue name, for the same reason.
    CELERY_TASK_DEFAULT_QUEUE = f"kpi-test-{os.getpid()}"
