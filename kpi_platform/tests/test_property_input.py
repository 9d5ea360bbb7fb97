"""Property-based bad input (issue 17, "make the next hostile client find nothing"; API.md Basics:
never a 500 for bad input).

Hypothesis builds what a hostile client sends: text with lone surrogates, NULs and digits of other
scripts, decimals at the edges (``-0``, ``1_000``, ``1E+400``, NaN), dates from year 1 to 9999
with offsets up to ±99:99, and JSON nested deeper than any field. It goes to every write endpoint
(actions one by one and in batches, members, KPIs, targets) and through the import parser. The
property: no answer is a 5xx, and an import ends ``done`` or ``failed``, never with an unexpected
error.

The budget is fixed and seeded (``derandomize``), so CI runs the same cases every time and a
failure there reproduces here; it adds about half a minute to the suite.
"""

import datetime
import json
import string

import pytest
from django.db import transaction
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from openpyxl.utils.exceptions import IllegalCharacterError

from integrations.models import FINISHED, ImportJob
from integrations.tests.conftest import YESTERDAY
from integrations.tests.files import ACTION_HEADER, csv_bytes, upload, xlsx_bytes
from kpi_platform.celery import app
from kpis.tests.factories import make_active_kpi
from orgs.models import Role
from orgs.tenancy import company_context

EXAMPLES = 80  # per endpoint and for the import parser: about 25 s in all

BUDGET = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # no example database: every run starts afresh
    derandomize=True,  # the same cases on every run
    suppress_health_check=list(HealthCheck),
)

# --- Strategies -----------------------------------------------------------------------------------

HOSTILE_CHARACTERS = ["\ud800", "\udfff", "\x00", "٣", "²", "１", "\u202e", "\ufeff", "é", "😀", "\n", "_"]

text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=30),  # every code point, surrogates included
    st.lists(st.sampled_from(HOSTILE_CHARACTERS + list(string.printable)), max_size=12).map("".join),
    st.sampled_from(["calls", "ann@acme.example", "en", "ru", "", " "]),
)

decimal_text = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.decimals(min_value=-10, max_value=10**13, places=2).map(str),
    st.sampled_from(
        ["-0", "-0.00", "0", "1_000", "٣", "１", "1e2", "1E+400", "+1", ".5", "1.", " 7 ", "NaN", "-inf"]
    ),
    st.text(alphabet="0123456789.-+_eE ٣²", max_size=16),
)
number = st.one_of(st.integers(min_value=-(10**30), max_value=10**30), st.floats(), decimal_text)


@st.composite
def moment(draw) -> str:
    """A date and time from year 1 to 9999 (often a recent one, which a KPI takes), with no
    offset, Z, or any ±HH:MM up to ±99:99."""
    recent = st.datetimes(min_value=datetime.datetime(2020, 1, 1), max_value=datetime.datetime(2025, 12, 31))
    when = draw(st.one_of(st.datetimes(), recent)).isoformat()
    offset = draw(
        st.one_of(
            st.just(""),
            st.just("Z"),
            st.builds(
                "{}{:02d}:{:02d}".format,
                st.sampled_from("+-"),
                st.integers(min_value=0, max_value=99),
                st.integers(min_value=0, max_value=99),
            ),
        )
    )
    return when + offset


dates = st.one_of(st.dates().map(str), text)
moments = st.one_of(moment(), text, st.just(f"{YESTERDAY}T10:00:00+23:59"))

json_values = st.recursive(
    st.none() | st.booleans() | number | text,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _with(fields: dict, extra: dict) -> dict:
    return {**fields, **extra}


action = st.fixed_dictionaries(
    {"kpi": st.one_of(st.just("calls"), text), "user": st.one_of(st.just("ann@acme.example"), text)},
    optional={
        "value": number,
        "occurred_at": moments,
        "external_id": text,
        "comment": text,
    },
)
localized = st.one_of(st.dictionaries(st.one_of(st.sampled_from(["en", "ru"]), text), text, max_size=3), text)
member = st.fixed_dictionaries(
    {"email": st.one_of(text, text.map(lambda local: f"{local}@acme.example"))},
    optional={"first_name": text, "last_name": text, "external_id": text, "language": text, "role": text},
)
kpi = st.fixed_dictionaries(
    {"name": localized},
    optional={
        "description": localized,
        "integration_name": text,
        "rating_units": number,
        "rating_points": number,
        "threshold_green": number,
        "threshold_amber": number,
        "formula": text,
    },
)
target = st.fixed_dictionaries(
    {
        "kpi": st.integers(min_value=-(2**70), max_value=2**70),
        "period": text,
        "start": dates,
        "value": number,
    },
    optional={"scope": text, "values": st.lists(number, max_size=3)},
)


def body_of(strategy) -> st.SearchStrategy[str]:
    """The JSON as sent (``\\ud800`` escaped, as any client would), or nesting past any limit."""
    sent = st.one_of(strategy, json_values).map(json.dumps)
    return st.one_of(sent, sent, sent, st.integers(min_value=1, max_value=5000).map(_nested))


ENDPOINTS = {
    "an action": ("/api/v1/actions/", body_of(action)),
    "a batch of actions": ("/api/v1/actions/", body_of(st.lists(action, min_size=1, max_size=4))),
    "a member": ("/api/v1/members/", body_of(member)),
    "a KPI": ("/api/v1/kpis/", body_of(kpi)),
    "a target": ("/api/v1/targets/", body_of(target)),
}


# --- The world ------------------------------------------------------------------------------------


@pytest.fixture
def admin_token(company, make_member, token_client, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"token": None}}
    make_member(company, Role.ADMIN, email="admin@acme.example")
    make_member(company, email="ann@acme.example")
    with company_context(company.id):
        make_active_kpi(company, integration_name="calls", in_rating=True, rating_units="1", rating_points=1)
    return token_client(company, scopes=("read", "actions", "definitions", "org"))


# --- The properties -------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "bodies"), ENDPOINTS.values(), ids=ENDPOINTS.keys())
def test_no_body_makes_a_write_endpoint_answer_a_server_error(admin_token, path, bodies):
    @given(body=bodies)
    @BUDGET
    def post(body: str):
        # each example in a savepoint: one that records leaves nothing for the next to trip on
        with transaction.atomic():
            response = admin_token.generic(
                "POST", path, body.encode("utf-8", "surrogatepass"), "application/json"
            )
            transaction.set_rollback(True)
        assert response.status_code < 500, (body[:300], response.content[:300])
        assert "errors" in response.json() or response.status_code in (200, 201)

    post()


cell = st.one_of(text, number, moments, st.none())
# Mostly rows that name a real person and KPI, so that what is odd in the rest reaches the writing
named_row = st.tuples(
    st.one_of(st.just("ann@acme.example"), text),
    st.one_of(st.just("calls"), text),
    st.one_of(st.just("1"), number),
    st.one_of(st.just(YESTERDAY), moments),
    st.one_of(st.none(), text),
    st.one_of(st.none(), text),
).map(list)
sheet_row = st.one_of(named_row, named_row, named_row, st.lists(cell, max_size=7))


@pytest.fixture
def import_client(company, admin_token, django_capture_on_commit_callbacks):
    """``run(content, name)``: the upload's answer, the worker's code run eagerly as it commits."""
    app.conf.task_always_eager = True

    def run(content: bytes, name: str):
        with django_capture_on_commit_callbacks(execute=True):
            return admin_token.post("/api/v1/imports/", {"file": upload(content, name)}, format="multipart")

    yield run
    app.conf.task_always_eager = False


def _sheet(rows: list[list], fmt: str) -> tuple[bytes, str] | None:
    rows = [ACTION_HEADER, *rows]
    if fmt == "csv":
        try:
            return csv_bytes(
                [[str(value) if value is not None else "" for value in row] for row in rows]
            ), "a.csv"
        except UnicodeEncodeError:  # a lone surrogate has no UTF-8: as bytes a file cannot hold it
            return None
    try:
        return xlsx_bytes(rows), "a.xlsx"
    except (IllegalCharacterError, ValueError, TypeError):  # no control character, NaN or infinity
        return None


def test_no_file_makes_the_import_parser_fail_unexpectedly(company, import_client):
    @given(rows=st.lists(sheet_row, min_size=1, max_size=2), fmt=st.sampled_from(["csv", "xlsx"]))
    @example(rows=[["ann@acme.example", "calls", "1", f"{YESTERDAY}T10:00:00+23:59", None, None]], fmt="csv")
    @BUDGET
    def upload_rows(rows: list[list], fmt: str):
        sheet = _sheet(rows, fmt)
        if sheet is None:
            return
        with transaction.atomic():
            response = import_client(*sheet)
            assert response.status_code < 500, response.content[:300]
            if response.status_code == 202:
                with company_context(company.id):
                    job = ImportJob.objects.get(pk=response.json()["id"])
                assert job.status in FINISHED, job.status
                assert "unexpected" not in json.dumps(job.errors).lower(), job.errors
            transaction.set_rollback(True)

    upload_rows()
