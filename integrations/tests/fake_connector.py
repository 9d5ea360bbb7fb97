"""An in-memory connector for the tests of the run machinery (issue 20): ``FAKE.rows`` are the
external system's records, read from the cursor on (less ``settings["overlap"]`` records: an
overlapping window), and the cursor after a pull is the number of rows."""

from types import SimpleNamespace

import pytest

from integrations.connectors import (
    Connector,
    ConnectorError,
    CredentialsRejected,
    Pull,
    Record,
    base,
    register,
)

FAKE = SimpleNamespace()


def fake_reset() -> None:
    FAKE.rows, FAKE.calls, FAKE.fail_after, FAKE.reject, FAKE.during = [], [], None, False, None


class FakeConnector(Connector):
    kind = "fake"
    label = "Fake system"
    settings_fields = {"overlap": "Records read again before the cursor."}
    credential_fields = {"token": "A secret."}

    def pull(self, *, settings, credentials, cursor, limits, now) -> Pull:
        FAKE.calls.append((cursor, credentials))
        if FAKE.reject:
            raise CredentialsRejected("401")
        start = max(int(cursor or 0) - int(settings.get("overlap") or 0), 0)
        rows = list(FAKE.rows[start:])
        pull = Pull(records=iter(()))

        def records():
            for position, row in enumerate(rows, 1):
                if FAKE.fail_after is not None and position > FAKE.fail_after:
                    raise ConnectorError("The system answered 500.")
                if FAKE.during is not None:
                    FAKE.during(position)
                yield Record(id=str(row["id"]), fields=dict(row), position=position)
            pull.cursor = str(len(FAKE.rows))

        pull.records = records()
        return pull


@pytest.fixture
def fake():
    fake_reset()
    register(FakeConnector)
    yield FAKE
    base._REGISTRY.pop(FakeConnector.kind, None)
    fake_reset()
