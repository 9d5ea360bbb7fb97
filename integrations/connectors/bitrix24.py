"""Bitrix24 CRM (kind ``bitrix24``): deals won and calls and meetings, per responsible person.

The source's credential is its **inbound webhook** URL, ``https://<portal>/rest/<user id>/<token>/``
(the token is the secret: it is never shown, logged or put in a message). A method is called by
appending its name: ``…/rest/1/<token>/crm.deal.list`` with the parameters in the query string.

Bitrix24's list answers (REST v1): ``{"result": [...], "total": 123, "next": 50, "time": {...}}``:
at most 50 records a page; the next page is the same call with ``start`` = the answer's ``next``,
which is absent on the last page. Errors: ``{"error": "CODE", "error_description": "…"}``, with
HTTP 503 ``QUERY_LIMIT_EXCEEDED`` for the rate limit (backed off and retried), 503
``OVERLOAD_LIMIT`` for a manual block (not retried), 401 ``NO_AUTH_FOUND``/``expired_token``/
``invalid_token`` and 403 ``INVALID_CREDENTIALS``/``insufficient_scope``/``ACCESS_DENIED``
(credentials rejected: the source is paused), and 400 for a bad request.

``entity`` chooses what a record is:

* ``deals`` (default): ``crm.deal.list`` with ``filter[STAGE_SEMANTIC_ID]=S`` (won deals); the
  fields include ``ASSIGNED_BY_ID`` (the responsible person's Bitrix24 user id, mapped to a person
  by external id), ``OPPORTUNITY`` (the amount, a value) and ``TIME`` = ``CLOSEDATE``, or
  ``DATE_MODIFY`` when it is empty. Changes: ``DATE_MODIFY``.
* ``activities``: ``crm.activity.list`` of completed calls (``TYPE_ID`` 2) and meetings (1),
  ``activity_types`` choosing them; the fields include ``RESPONSIBLE_ID``, ``KIND`` (``call`` or
  ``meeting``) and ``TIME`` = ``END_TIME``, or ``START_TIME``. Changes: ``LAST_UPDATED``.

Incremental sync: with a cursor the call adds ``filter[>=DATE_MODIFY]=<cursor>`` (``LAST_UPDATED``
for activities). ``>=`` rather than ``>``: a record changed in the same second as the cursor, after
the last run read, would be lost forever with ``>``; the boundary's records read again are
harmless, their external ids already recorded. The cursor returned is the greatest change time
seen (as Bitrix24 wrote it, ISO 8601 with the portal's offset), never earlier than the previous.
Pages are in ``ID`` order, so a record changed mid-run moves neither forwards nor backwards.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations.connectors.base import Connector, ConnectorError, CredentialsRejected, Record, register
from integrations.connectors.http import HttpClient, HttpConnector, SourceAnswerError
from integrations.connectors.json_api import LatestChange, make_record

WEBHOOK = re.compile(r"^https?://[^/\s]+/rest/\d+/[^/\s]+/?$")
DEAL_FIELDS = ["ID", "TITLE", "STAGE_ID", "STAGE_SEMANTIC_ID", "CATEGORY_ID", "OPPORTUNITY", "CURRENCY_ID"]
DEAL_FIELDS += ["ASSIGNED_BY_ID", "CLOSEDATE", "DATE_CREATE", "DATE_MODIFY"]
ACTIVITY_FIELDS = ["ID", "TYPE_ID", "DIRECTION", "SUBJECT", "RESPONSIBLE_ID", "COMPLETED"]
ACTIVITY_FIELDS += ["START_TIME", "END_TIME", "CREATED", "LAST_UPDATED", "OWNER_TYPE_ID", "OWNER_ID"]
ACTIVITY_TYPES = {"meetings": ("1", "meeting"), "calls": ("2", "call")}
REJECTED = {"NO_AUTH_FOUND", "expired_token", "invalid_token", "INVALID_CREDENTIALS", "insufficient_scope"}
REJECTED |= {"ACCESS_DENIED", "user_access_error", "WRONG_AUTH_TYPE", "PAYMENT_REQUIRED"}
NOT_RETRIED = {"OVERLOAD_LIMIT", "PORTAL_DELETED"}  # a manual block, a closed portal: waiting won't help


@register
class Bitrix24Connector(HttpConnector, Connector):
    kind = "bitrix24"
    label = gettext_lazy("Bitrix24 CRM")
    settings_fields = {
        "entity": gettext_lazy("deals (deals won) or activities (calls and meetings); deals when empty."),
        "activity_types": gettext_lazy(
            "activities: calls, meetings or both, comma-separated; both when empty."
        ),
    }
    credential_fields = {
        "webhook_url": gettext_lazy("The inbound webhook's URL: https://<portal>/rest/<user id>/<code>/"),
    }

    def check_settings(self, settings: dict[str, Any], credentials: dict[str, Any]) -> dict[str, str]:
        errors = {}
        if not WEBHOOK.match(str(credentials.get("webhook_url") or "").strip()):
            errors["webhook_url"] = _(
                "Enter the inbound webhook's URL, like https://example.bitrix24.ru/rest/1/abc123/."
            )
        if (settings.get("entity") or "deals") not in ("deals", "activities"):
            errors["entity"] = _("Choose deals or activities.")
        if not set(_activity_types(settings)) <= set(ACTIVITY_TYPES):
            errors["activity_types"] = _("Choose calls, meetings or both.")
        return errors

    def records(self, pull, settings, credentials, limits) -> Iterator[Record]:
        deals = (settings.get("entity") or "deals") == "deals"
        method = "crm.deal.list" if deals else "crm.activity.list"
        changed = "DATE_MODIFY" if deals else "LAST_UPDATED"
        params = _deal_params() if deals else _activity_params(settings)
        if pull.cursor:
            params.append((f"filter[>={changed}]", pull.cursor))
        latest = LatestChange(pull.cursor)
        url = credentials["webhook_url"].strip().rstrip("/") + f"/{method}"
        position = 0
        with self.client(limits) as http:
            for answer in _answers(http, url, params):
                pull.pages, pull.bytes_read = http.pages, http.bytes_read
                pull.extra.setdefault("total", answer.get("total"))
                for item in answer["result"]:
                    position += 1
                    record = make_record(item, position, "ID", changed)
                    latest.see(record.updated_at, record.fields.get(changed))
                    yield _with_derived_fields(record, deals)
        pull.cursor = latest.cursor


def _activity_types(settings) -> list[str]:
    return [
        t.strip() for t in str(settings.get("activity_types") or "calls,meetings").split(",") if t.strip()
    ]


def _deal_params() -> list[tuple[str, Any]]:
    return [("filter[STAGE_SEMANTIC_ID]", "S"), ("order[ID]", "ASC")] + [("select[]", f) for f in DEAL_FIELDS]


def _activity_params(settings) -> list[tuple[str, Any]]:
    params: list[tuple[str, Any]] = [("filter[COMPLETED]", "Y"), ("order[ID]", "ASC")]
    params += [("filter[@TYPE_ID][]", ACTIVITY_TYPES[t][0]) for t in _activity_types(settings)]
    return params + [("select[]", f) for f in ACTIVITY_FIELDS]


def _with_derived_fields(record: Record, deal: bool) -> Record:
    fields = record.fields
    if deal:
        extra = {"KIND": "deal", "TIME": fields.get("CLOSEDATE") or fields.get("DATE_MODIFY")}
    else:
        kind = dict(ACTIVITY_TYPES.values()).get(str(fields.get("TYPE_ID")))
        extra = {"KIND": kind, "TIME": fields.get("END_TIME") or fields.get("START_TIME")}
    return dataclasses.replace(record, fields={**fields, **extra})


def _answers(http: HttpClient, url: str, params: list[tuple[str, Any]]) -> Iterator[dict]:
    """Bitrix24's list answers, from ``start`` 0 to the page without ``next``."""
    start = 0
    while True:
        try:
            page = http.get(url, params=[*params, ("start", start)], retry_when=_worth_retrying)
        except SourceAnswerError as exc:
            raise _described(exc, exc.status, exc.body) from exc
        except CredentialsRejected as exc:
            raise _described(exc, exc.status, exc.body) from exc
        answer = page.json()
        if not isinstance(answer, dict) or "error" in answer:
            raise _described(None, page.status, page.content)
        if not isinstance(answer.get("result"), list):
            raise ConnectorError(_("Bitrix24 answered without a list of records."))
        yield answer
        following = answer.get("next")
        if not isinstance(following, int) or following <= start:
            return
        start = following


def _error_of(body: bytes) -> tuple[str, str]:
    try:
        answer = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(answer, dict):
        return "", ""
    return str(answer.get("error") or ""), str(answer.get("error_description") or "")[:300]


def _worth_retrying(status: int, body: bytes) -> bool:
    return _error_of(body)[0] not in NOT_RETRIED


def _described(error: ConnectorError | None, status: int, body: bytes) -> ConnectorError:
    """The error with Bitrix24's own code and description, rejected credentials as such."""
    code, description = _error_of(body)
    if not code:
        return error or ConnectorError(_("Bitrix24 answered with the error %(status)d.") % {"status": status})
    detail = {"code": code, "description": description or code}
    if code in REJECTED or isinstance(error, CredentialsRejected):
        return CredentialsRejected(
            _("Credentials rejected by the source: Bitrix24 answered %(code)s (%(description)s).") % detail
        )
    return ConnectorError(_("Bitrix24 answered %(code)s: %(description)s") % detail)
