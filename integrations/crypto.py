"""Credentials of integration sources, encrypted at rest (issue 20).

Fernet (AES-128-CBC with an HMAC-SHA256) under the keys of ``settings.INTEGRATION_KEYS``: the first
key encrypts, every key decrypts (``MultiFernet``), so a key is rotated by putting a new one first,
re-encrypting (``manage.py integration_keys_rotate``) and then dropping the old one. Without
configured keys, one is derived from ``SECRET_KEY`` (development and tests only: the README says
to set ``INTEGRATION_KEYS`` in production).
"""

import base64
import hashlib
import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


def _keys() -> list[bytes]:
    configured = [key.encode() if isinstance(key, str) else key for key in settings.INTEGRATION_KEYS if key]
    if configured:
        return configured
    digest = hashlib.sha256(b"integration-credentials:" + settings.SECRET_KEY.encode()).digest()
    return [base64.urlsafe_b64encode(digest)]


def _fernet() -> MultiFernet:
    return MultiFernet([Fernet(key) for key in _keys()])


def encrypt(credentials: dict) -> str:
    if not credentials:
        return ""
    return _fernet().encrypt(json.dumps(credentials, sort_keys=True).encode()).decode()


def decrypt(token: str) -> dict:
    """The credentials; ``{}`` when none were saved. ``InvalidToken`` when no key opens them."""
    if not token:
        return {}
    return json.loads(_fernet().decrypt(token.encode()))


def rotate(token: str) -> str:
    """The same credentials encrypted under the first key."""
    return _fernet().rotate(token.encode()).decode() if token else ""


__all__ = ["InvalidToken", "decrypt", "encrypt", "rotate"]
