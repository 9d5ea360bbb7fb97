"""Forgotten and changed passwords (issue 18, item 12): Django's reset flow with a signed link that
expires, one mail per company where the address has an account, throttled, and the same answer
whether the address is known or not; a signed-in person changes their own password."""

import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import translation

from orgs.tests.test_auth import _person_in, _signed_in_as

RESET = "/accounts/password_reset/"
NEW = "a-new-pass-2026!"


@pytest.fixture(autouse=True)
def fresh_counters():
    cache.clear()  # the throttle's counters
    yield
    cache.clear()


def _link(message) -> str:
    return re.search(r"http://testserver(/accounts/reset/\S+/)", message.body).group(1)


def _set_password(client, link: str, password: str):
    form = client.get(link, follow=True)  # Django moves the token into the session, then redirects
    assert form.status_code == 200
    assert form.context["validlink"]
    return client.post(form.redirect_chain[-1][0], {"new_password1": password, "new_password2": password})


def test_a_forgotten_password_is_reset_through_the_link_in_the_mail(client, company, other_company):
    """One mail per account of the address, naming its company; each link resets only its account,
    works once, and the old password stops working there."""
    people = _person_in(company, other_company)
    assert client.get("/accounts/login/").content.decode().count('href="/accounts/password_reset/"') == 1
    # when Pat asks for a new password
    answer = client.post(RESET, {"email": "Pat@Example.com"})
    # then the answer is the usual page and two mails are sent, one per company
    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/password_reset/done/"
    assert sorted(message.subject for message in mail.outbox) == [
        "A new password for Acme on KPI Platform",
        "A new password for Globex on KPI Platform",
    ]
    globex = next(message for message in mail.outbox if "Globex" in message.subject)
    assert globex.to == ["pat@example.com"]
    assert "in Globex" in globex.body
    # when Pat follows Globex's link and sets a new password
    done = _set_password(client, _link(globex), NEW)
    assert done.status_code == 302
    assert done["Location"] == "/accounts/reset/done/"
    # then Globex's account takes the new password, Acme's keeps the old one
    people["globex"].user.refresh_from_db()
    people["acme"].user.refresh_from_db()
    assert people["globex"].user.check_password(NEW)
    assert not people["acme"].user.check_password(NEW)
    # and the link does not work twice
    again = client.get(_link(globex), follow=True)
    assert not again.context["validlink"]
    assert "expired or was used" in again.content.decode()
    # and Pat signs in to Globex with the new password, with no company to choose
    signed = client.post("/accounts/login/", {"username": "pat@example.com", "password": NEW})
    assert signed.status_code == 302
    assert _signed_in_as(client) == str(people["globex"].pk)


def test_an_unknown_address_gets_the_same_answer_and_no_mail(client, company):
    known = _person_in(company)
    unknown = client.post(RESET, {"email": "nobody@example.com"})
    mine = client.post(RESET, {"email": "pat@example.com"})
    assert unknown.status_code == mine.status_code == 302
    assert unknown["Location"] == mine["Location"]
    assert [message.to for message in mail.outbox] == [[known["acme"].user.email]]


def test_resets_are_throttled_per_address_and_per_client_with_the_same_answer(client, company):
    _person_in(company)
    answers = [client.post(RESET, {"email": "pat@example.com"}) for _ in range(5)]
    assert {answer["Location"] for answer in answers} == {"/accounts/password_reset/done/"}
    assert len(mail.outbox) == 3  # RESET_MAILS_PER_ADDRESS an hour
    for n in range(20):
        client.post(RESET, {"email": f"other{n}@example.com"})
    _person_in(company, email="sam@example.com")
    client.post(RESET, {"email": "sam@example.com"})
    assert len(mail.outbox) == 3  # the client is past RESET_REQUESTS_PER_IP


def test_a_signed_in_person_changes_their_password(client, company):
    person = _person_in(company)["acme"]
    client.force_login(person.user)
    home = client.get("/")
    assert 'href="/accounts/password_change/"' in home.content.decode()
    wrong = client.post(
        "/accounts/password_change/",
        {"old_password": "not-it", "new_password1": NEW, "new_password2": NEW},
    )
    assert wrong.status_code == 200
    assert wrong.context["form"].errors
    changed = client.post(
        "/accounts/password_change/",
        {"old_password": "shared-2026-pass", "new_password1": NEW, "new_password2": NEW},
    )
    assert changed.status_code == 302
    person.user.refresh_from_db()
    assert person.user.check_password(NEW)
    assert _signed_in_as(client) == str(person.pk)  # still signed in


def test_the_reset_pages_speak_russian(client, db):
    with translation.override("en"):  # the request's language is not left active for later tests
        page = client.get(RESET, HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Забыли пароль?" in page
    assert "Прислать ссылку" in page
