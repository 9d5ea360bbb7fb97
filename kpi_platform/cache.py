"""The cache (Redis in production) holds only what may be lost: the API's rate counters and the
progress of running imports. The database is the source of truth, so when the cache cannot be
reached these helpers log it and carry on: recording, imports and reads never fail for it."""

import logging

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# What a cache backend raises when its server is gone (redis-py's errors; sockets' OSError).
CACHE_ERRORS = (RedisError, OSError)


def cache_unavailable(error: Exception) -> None:
    logger.warning("The cache is unavailable, going on without it: %s", error)


def cache_get(key: str, default=None):
    try:
        return cache.get(key, default)
    except CACHE_ERRORS as error:
        cache_unavailable(error)
        return default


def cache_set(key: str, value, timeout: int) -> None:
    try:
        cache.set(key, value, timeout=timeout)
    except CACHE_ERRORS as error:
        cache_unavailable(error)


def cache_delete(key: str) -> None:
    try:
        cache.delete(key)
    except CACHE_ERRORS as error:
        cache_unavailable(error)
