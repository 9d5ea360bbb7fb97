"""Pages of orgs: sign-in and Home (API.md "Pages"), in the visitor's language (PRODUCT D6)."""

from orgs.models import Role


def test_the_sign_in_page_speaks_the_chosen_language(client, db):
    # given a visitor who chose Russian with the language switch
    client.post("/i18n/setlang/", {"language": "ru", "next": "/accounts/login/"})
    # when they open the sign-in page
    response = client.get("/accounts/login/")
    # then it is in Russian
    assert "Вход" in response.content.decode()
    assert 'lang="ru"' in response.content.decode()


def test_home_needs_a_signed_in_user(client, db):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_signing_in_by_email_in_any_case_reaches_home(client, company, make_member):
    make_member(company, Role.MEMBER, email="ann@acme.example", first_name="Ann", password="sign-in-2026")
    response = client.post(
        "/accounts/login/", {"username": "Ann@ACME.example", "password": "sign-in-2026"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/"
    assert "Welcome, Ann" in response.content.decode()
