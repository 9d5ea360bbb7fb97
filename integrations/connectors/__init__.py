"""Integration connectors (issue 20): each kind of external system is one module of the same shape.

A connector reads records from its system and knows nothing of KPIs, people or the database: the
run (``integrations.services``) maps each record's fields to a KPI action through the source's
mapping and records the whole run through the one recording service (R1–R4), all or nothing.

Adding a kind (amoCRM, HubSpot, Salesforce) is one module that subclasses ``Connector`` and calls
``register``; ``integrations.connectors.base`` holds the interface, the errors and ``Record``.
"""

from integrations.connectors.base import (
    Connector,
    ConnectorError,
    CredentialsRejected,
    Limits,
    Pull,
    Record,
    connector_for,
    kinds,
    register,
)

__all__ = [
    "Connector",
    "ConnectorError",
    "CredentialsRejected",
    "Limits",
    "Pull",
    "Record",
    "connector_for",
    "kinds",
    "register",
]

# Each kind registers itself when its module is imported.
from integrations.connectors import bitrix24, csv_url, json_api  # noqa: F401
