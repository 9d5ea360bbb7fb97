"""The interface every connector implements (issue 20, item 2).

``Connector.pull`` is given the source's settings (not secret), its decrypted credentials, the
cursor the last committed run left (``None`` on the first run) and the run's limits, and returns a
``Pull``: an iterator of ``Record`` and, once the iterator is exhausted, the cursor the next run
starts from. The run stores that cursor only when it commits, so a failed run is retried from the
same place and the external ids (derived from the source and ``Record.id``) keep it exactly once.

Connectors raise ``ConnectorError`` (a message for the source's admins, translated) for anything
that stops a run, and ``CredentialsRejected`` for an answer of 401 or 403: the run pauses the
source and tells its admins.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar


class ConnectorError(Exception):
    """The run cannot go on; ``message`` says why, for the source's admins (never a credential).
    An error of one record gives its ``position`` and the source's ``field``: the run's error names
    them as it names a row and a column."""

    def __init__(self, message: str, *, position: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = str(message)
        self.position, self.field = position, field


class CredentialsRejected(ConnectorError):
    """The source answered 401 or 403: the run fails and the source is paused."""


@dataclass(frozen=True)
class Limits:
    """What one run may read: pages and bytes (item 4); the run fails beyond them, recording nothing."""

    max_pages: int = 1000
    max_bytes: int = 200 * 1024 * 1024


@dataclass(frozen=True)
class Record:
    """One record of the external system.

    ``id`` is the system's own id of the record (a deal's ID, a row's key); the run derives the
    action's external id from the source and it. ``fields`` are the record's values by name,
    flat (a nested JSON object's field is reached as ``"a.b"``); the source's mapping picks from
    them. ``position`` numbers the records of a run from 1 (a spreadsheet's row number for
    tabular kinds) so that an error names the record. ``updated_at`` is when the system last
    changed it, when it says.
    """

    id: str
    fields: dict[str, Any]
    position: int
    updated_at: datetime.datetime | None = None


@dataclass
class Pull:
    """What a connector read: ``records`` (lazy) and, after they are exhausted, ``cursor``."""

    records: Iterator[Record]
    cursor: str | None = None
    pages: int = 0
    bytes_read: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class Connector:
    """A kind of source. Subclasses set ``kind``, ``label`` and implement ``pull``.

    ``settings_fields`` names the non-secret settings the kind reads (with a help text each) and
    ``credential_fields`` the secret ones; the admin's form and the API validate against them.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    settings_fields: ClassVar[dict[str, str]] = {}
    credential_fields: ClassVar[dict[str, str]] = {}

    def check_settings(self, settings: dict[str, Any], credentials: dict[str, Any]) -> dict[str, str]:
        """Errors by field name (empty when the settings are usable); no network access."""
        return {}

    def pull(
        self,
        *,
        settings: dict[str, Any],
        credentials: dict[str, Any],
        cursor: str | None,
        limits: Limits,
        now: datetime.datetime,
    ) -> Pull:
        raise NotImplementedError


_REGISTRY: dict[str, type[Connector]] = {}


def register(connector: type[Connector]) -> type[Connector]:
    """Class decorator: make ``connector`` the one of its kind."""
    _REGISTRY[connector.kind] = connector
    return connector


def connector_for(kind: str) -> Connector:
    return _REGISTRY[kind]()


def kinds() -> list[tuple[str, str]]:
    """``(kind, label)`` of every registered connector, for choices."""
    return sorted((kind, str(connector.label)) for kind, connector in _REGISTRY.items())
