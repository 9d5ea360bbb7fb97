"""A generic JSON API over HTTPS (kind ``json``): any system that lists its records with a GET.

The shapes real APIs use, each a setting:

* **Records** at a dotted path of the answer (``records_path``): ``"data"`` (JSON:API, Stripe),
  ``"data.items"``, ``"results"`` (DRF), or empty when the answer is the list itself. Each record
  is a JSON object; nested objects are flattened to ``"a.b"`` names (lists stay values).
* **Pagination** (``pagination``):
  ``next``: the answer holds the next page's URL at ``next_path`` (``"next"``, ``"links.next"``,
  ``"paging.next.link"``), absolute or relative, null or absent on the last page;
  ``page``: ``?page=1,2,…`` (``page_param``, from ``page_start``) until a page is empty, or
  shorter than ``page_size`` when ``page_size_param`` sends it;
  ``offset``: ``?offset=0&limit=100`` (``offset_param``, ``limit_param``, ``page_size``) until a
  page is shorter than the limit;
  ``cursor``: the answer's ``cursor_path`` (``"meta.next_cursor"``, Slack's
  ``"response_metadata.next_cursor"``) sent back as ``cursor_param`` until it is empty;
  ``none``: one page.
* **Credentials**: a bearer ``token`` or a ``username``/``password`` (basic). They are sent only
  to the origin of the configured URL: a ``next`` link to another host gets none.
* **Incremental sync**: with ``updated_since_param`` (e.g. ``updated_since``, ``modified_after``)
  the run asks only for records changed at or after the cursor. ``updated_field`` names the
  records' ISO 8601 change time (naive times are read as UTC); the cursor a run returns is the
  greatest seen, as the source wrote it, or the previous one: it never moves back. A source that
  filters with ``>=`` re-sends the boundary's records, which the external ids make harmless.

``id_field`` names the record's id. A record that is not an object, or has no id, fails the run
with its position (1 for the run's first record).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from integrations.connectors.base import Connector, ConnectorError, Limits, Pull, Record, register
from integrations.connectors.http import (
    CREDENTIAL_FIELDS,
    HttpClient,
    HttpConnector,
    authorization,
    origin_of,
    url_errors,
)

PAGINATIONS = ("none", "next", "page", "offset", "cursor")


@register
class JsonApiConnector(HttpConnector, Connector):
    kind = "json"
    label = gettext_lazy("JSON API (HTTPS)")
    settings_fields = {
        "url": gettext_lazy("The address that lists the records."),
        "records_path": gettext_lazy(
            "Where the records are in the answer, e.g. data.items; empty: the answer."
        ),
        "id_field": gettext_lazy("The record's id field (id when empty)."),
        "updated_field": gettext_lazy("The record's last change time field, e.g. updated_at."),
        "updated_since_param": gettext_lazy(
            "The query parameter that asks for records changed since a time."
        ),
        "pagination": gettext_lazy("none, next, page, offset or cursor."),
        "next_path": gettext_lazy("next: where the next page's URL is in the answer (next when empty)."),
        "page_param": gettext_lazy("page: the page number's parameter (page when empty)."),
        "page_start": gettext_lazy("page: the first page's number (1 when empty)."),
        "page_size_param": gettext_lazy("page: the page size's parameter, if the API takes one."),
        "page_size": gettext_lazy("page, offset: records per page (100 when empty)."),
        "offset_param": gettext_lazy("offset: the offset's parameter (offset when empty)."),
        "limit_param": gettext_lazy("offset: the limit's parameter (limit when empty)."),
        "cursor_path": gettext_lazy("cursor: where the next cursor is in the answer."),
        "cursor_param": gettext_lazy("cursor: the parameter that sends it back (cursor when empty)."),
    }
    credential_fields = CREDENTIAL_FIELDS

    def check_settings(self, settings: dict[str, Any], credentials: dict[str, Any]) -> dict[str, str]:
        errors = url_errors(settings)
        pagination = settings.get("pagination") or "none"
        if pagination not in PAGINATIONS:
            errors["pagination"] = _("Choose none, next, page, offset or cursor.")
        if pagination == "cursor" and not settings.get("cursor_path"):
            errors["cursor_path"] = _("Say where the next cursor is in the answer.")
        for name in ("page_start", "page_size"):
            if settings.get(name) not in (None, "") and not str(settings[name]).isdigit():
                errors[name] = _("Enter a whole number.")
        return errors

    def records(self, pull: Pull, settings, credentials, limits: Limits) -> Iterator[Record]:
        id_field = settings.get("id_field") or "id"
        updated_field = settings.get("updated_field") or ""
        latest = LatestChange(pull.cursor)
        position = 0
        with self.client(limits) as http:
            for items in _pages(http, settings, credentials, pull.cursor):
                pull.pages, pull.bytes_read = http.pages, http.bytes_read
                for item in items:
                    position += 1
                    record = make_record(item, position, id_field, updated_field)
                    latest.see(record.updated_at, record.fields.get(updated_field))
                    yield record
        pull.cursor = latest.cursor


def _pages(http: HttpClient, settings, credentials, cursor: str | None) -> Iterator[list]:
    """The record lists of the answers, page after page, as ``pagination`` says."""
    url = settings["url"]
    origin = origin_of(url)
    credentials_header = authorization(credentials)
    records_path = settings.get("records_path") or ""
    style = settings.get("pagination") or "none"
    size = int(settings.get("page_size") or 100)
    params: dict[str, Any] = {}
    if cursor and settings.get("updated_since_param"):
        params[settings["updated_since_param"]] = cursor
    page_param = settings.get("page_param") or "page"
    offset_param, limit_param = (
        settings.get("offset_param") or "offset",
        settings.get("limit_param") or "limit",
    )
    cursor_param = settings.get("cursor_param") or "cursor"
    if style == "page":
        params[page_param] = int(settings.get("page_start") or 1)
        if settings.get("page_size_param"):
            params[settings["page_size_param"]] = size
    elif style == "offset":
        params.update({offset_param: 0, limit_param: size})
    while True:
        page = http.get(url, params=params, headers=credentials_header if origin_of(url) == origin else {})
        data = page.json()
        items = value_at(data, records_path) if records_path else data
        if not isinstance(items, list):
            raise ConnectorError(
                _("The answer has no list of records at “%(path)s”.") % {"path": records_path or "."}
            )
        yield items
        if style == "next":
            link = value_at(data, settings.get("next_path") or "next")
            if not link or not isinstance(link, str):
                return
            url, params = str(page.url.join(link)), {}
        elif style == "page":
            if not items or (settings.get("page_size_param") and len(items) < size):
                return
            params[page_param] += 1
        elif style == "offset":
            if len(items) < size:
                return
            params[offset_param] += len(items)
        elif style == "cursor":
            token = value_at(data, settings.get("cursor_path") or "")
            if token in (None, "") or token == params.get(cursor_param):
                return
            params[cursor_param] = token
        else:
            return


def value_at(data: Any, path: str) -> Any:
    """The value at a dotted ``path`` (``"data.items"``, ``"results.0.id"``), or None."""
    for key in path.split(".") if path else []:
        if isinstance(data, dict):
            data = data.get(key)
        elif isinstance(data, list) and key.isdigit() and int(key) < len(data):
            data = data[int(key)]
        else:
            return None
    return data


def flatten(item: dict) -> dict[str, Any]:
    """``{"a": {"b": 1}, "c": [1]}`` → ``{"a.b": 1, "c": [1]}`` (a flat object is returned as is)."""
    flat: dict[str, Any] | None = None
    for key, value in item.items():
        if type(value) is dict and value:  # exact type: this runs per field
            if flat is None:
                flat = {k: v for k, v in item.items() if not (type(v) is dict and v)}
            for inner_key, inner_value in flatten(value).items():
                flat[f"{key}.{inner_key}"] = inner_value
    return item if flat is None else flat


def parse_time(value: Any) -> datetime.datetime | None:
    """An ISO 8601 date and time (``Z`` or an offset; naive read as UTC), or None if it is not one."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def make_record(item: Any, position: int, id_field: str, updated_field: str) -> Record:
    if not isinstance(item, dict):
        raise ConnectorError(_("Record %(position)d is not a JSON object.") % {"position": position})
    fields = flatten(item)
    record_id = fields.get(id_field)
    if record_id is None or record_id == "" or isinstance(record_id, dict | list):
        raise ConnectorError(
            _("Record %(position)d has no “%(field)s” field.") % {"position": position, "field": id_field}
        )
    updated_at = None
    if updated_field and fields.get(updated_field) not in (None, ""):
        updated_at = parse_time(fields[updated_field])
        if updated_at is None:
            raise ConnectorError(
                _("Record %(position)d: “%(field)s” is not a date and time (ISO 8601).")
                % {"position": position, "field": updated_field}
            )
    return Record(id=str(record_id), fields=fields, position=position, updated_at=updated_at)


class LatestChange:
    """The greatest change time seen, kept as the source wrote it; never before ``previous``."""

    def __init__(self, previous: str | None):
        self.cursor = previous
        self.when = parse_time(previous) if previous else None

    def see(self, when: datetime.datetime | None, raw: Any) -> None:
        if when is not None and (self.when is None or when > self.when):
            self.when, self.cursor = when, str(raw)
