"""A person signs in with a real browser (Debian's chromium driven by Playwright)."""

import pytest

from orgs.models import Role

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
def test_a_company_admin_signs_in_and_reaches_home_and_the_admin(
    company, make_member, browser_page, live_server, screenshot
):
    # given a company admin
    make_member(company, Role.ADMIN, email="ada@acme.example", first_name="Ada", password="sign-in-2026")
    page = browser_page
    # when they sign in through the page
    page.goto(f"{live_server.url}/accounts/login/")
    screenshot(page, "login")
    page.fill("#id_username", "ADA@acme.example")
    page.fill("#id_password", "sign-in-2026")
    page.click("button[type=submit]")
    # then they land on Home, greeted by name
    page.wait_for_url(f"{live_server.url}/")
    assert "Welcome, Ada" in page.inner_text("h1")
    screenshot(page, "home")
    # and the admin shows their company
    page.goto(f"{live_server.url}/admin/")
    assert "Acme" in page.content()
    screenshot(page, "admin")


@pytest.mark.django_db(transaction=True)
def test_a_wrong_password_shows_an_error_and_keeps_the_email(company, make_member, browser_page, live_server):
    make_member(company, Role.MEMBER, email="bob@acme.example", password="right-2026-pass")
    page = browser_page
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "bob@acme.example")
    page.fill("#id_password", "wrong")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").is_visible()
    assert page.input_value("#id_username") == "bob@acme.example"
