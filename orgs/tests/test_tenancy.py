"""The tenancy core (PRODUCT O2): one mechanism, and it fails closed."""

import pytest
from django.apps import apps

from orgs.models import Department
from orgs.tenancy import (
    CompanyScopedModel,
    CrossCompanyWrite,
    NoCompanyInContext,
    company_context,
    current_company_id,
    current_company_id_or_none,
)
from orgs.tests.factories import DepartmentFactory

# Tables that are not company-owned, on purpose. Keep it short: each entry is a decision.
GLOBAL_MODELS = {
    "orgs.Company",  # the tenant itself
    # sign-in happens before a company is known; company data lives on Member. One row per
    # company a person belongs to, each with its company (issue 17): test below.
    "orgs.User",
    "auth.Permission",
    "auth.Group",
    "contenttypes.ContentType",
    "sessions.Session",
    "admin.LogEntry",
    # django-axes: failed sign-ins, counted before anyone (and so any company) is known
    "axes.AccessAttempt",
    "axes.AccessAttemptExpiration",
    "axes.AccessFailureLog",
    "axes.AccessLog",
}


def test_every_model_is_company_scoped_or_declared_global():
    # given every concrete model, the auto-created many-to-many tables included
    unclassified = [
        model._meta.label
        for model in apps.get_models(include_auto_created=True)
        if not issubclass(model, CompanyScopedModel)
        and model._meta.label not in GLOBAL_MODELS
        and not (model._meta.auto_created and model._meta.label.startswith(("orgs.User_", "auth.")))
    ]
    # then none is left unclassified
    assert unclassified == []


def test_scoped_manager_raises_without_company(db):
    with pytest.raises(NoCompanyInContext):
        list(Department.objects.all())


def test_scoped_manager_returns_only_current_company_rows(company, other_company):
    # given a department in each company
    with company_context(company.id):
        mine = DepartmentFactory(name="Sales")
    with company_context(other_company.id):
        DepartmentFactory(name="Sales")
    # when company A reads
    with company_context(company.id):
        names = list(Department.objects.values_list("id", flat=True))
    # then it sees only its own
    assert names == [mine.id]


def test_new_rows_take_the_current_company(in_company):
    assert DepartmentFactory().company_id == in_company.id


def test_a_row_cannot_be_saved_or_deleted_in_another_company(company, other_company):
    with company_context(company.id):
        department = DepartmentFactory()
    with company_context(other_company.id):
        department.name = "Taken over"
        with pytest.raises(CrossCompanyWrite):
            department.save()
        with pytest.raises(CrossCompanyWrite):
            department.delete()
    with company_context(company.id):
        assert Department.objects.get(id=department.id).name != "Taken over"


def test_bulk_create_refuses_rows_of_another_company(company, other_company):
    with company_context(other_company.id):
        foreign = Department(name="Foreign", company_id=company.id)
        with pytest.raises(CrossCompanyWrite):
            Department.objects.bulk_create([foreign])


def test_bulk_create_stamps_the_company_on_rows_from_a_generator(in_company):
    Department.objects.bulk_create(Department(name=f"Unit {n}") for n in range(3))
    assert sorted(Department.objects.values_list("name", flat=True)) == ["Unit 0", "Unit 1", "Unit 2"]
    assert set(Department.dangerously_unscoped.values_list("company_id", flat=True)) == {in_company.id}


def test_contexts_nest_and_restore(company, other_company):
    with company_context(company.id):
        with company_context(other_company.id):
            assert current_company_id() == other_company.id
        assert current_company_id() == company.id
    assert current_company_id_or_none() is None


def test_context_is_restored_when_the_block_raises(company):
    with pytest.raises(ValueError, match="boom"), company_context(company.id):
        raise ValueError("boom")
    assert current_company_id_or_none() is None


def test_a_person_in_two_companies_has_an_account_in_each_and_each_session_binds_its_own(
    company, other_company
):
    """O3, issue 17: the same e-mail in two companies is two accounts; a request signed in to one
    runs in that company's context and sees that company's person, never the other's."""
    from django.test import RequestFactory

    from orgs.middleware import CompanyMiddleware
    from orgs.models import Member, User
    from orgs.services import member_create

    accounts = {}
    for each in (company, other_company):
        with company_context(each.id):
            accounts[each.id] = member_create(email="pat@example.com", first_name=each.name).user
    assert User.objects.filter(email="pat@example.com").count() == 2

    for company_id, account in accounts.items():
        request = RequestFactory().get("/")
        request.user = account
        seen = {}

        def view(request, seen=seen):
            seen["company"] = current_company_id()
            seen["viewer"] = request.viewer.pk
            seen["people"] = set(Member.objects.values_list("pk", flat=True))
            return None

        CompanyMiddleware(view)(request)
        assert seen == {"company": company_id, "viewer": account.pk, "people": {account.pk}}
