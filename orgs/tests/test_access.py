"""Who may see and manage what (PRODUCT O4)."""

import pytest

from orgs import access


@pytest.fixture
def org(org, in_company):
    """The root conftest's organization, by key, the tests run in Acme's context: the teams South
    and Care are `south` and `care`, the people in them `seller` and `carer`."""
    return vars(org)


def _names(queryset) -> set[str]:
    return {str(row) for row in queryset}


def test_an_admin_and_a_token_see_the_whole_company(org):
    for viewer in (org["admin"], None):
        assert _names(access.visible_departments(viewer)) == {"Sales", "Support"}
        assert _names(access.visible_teams(viewer)) == {"North", "South", "Care"}
        assert access.visible_members(viewer).count() == 7


def test_a_manager_sees_their_department_and_everything_below(org):
    manager = org["manager"]
    assert _names(access.visible_departments(manager)) == {"Sales"}
    assert _names(access.visible_teams(manager)) == {"North", "South"}
    visible = set(access.visible_members(manager).values_list("user_id", flat=True))
    expected = {org[k].user_id for k in ("manager", "lead", "member", "seller", "direct")}
    assert visible == expected


def test_a_lead_sees_their_team_and_a_member_only_themselves(org):
    assert _names(access.visible_teams(org["lead"])) == {"North"}
    assert set(access.visible_members(org["lead"]).values_list("user_id", flat=True)) == {
        org["lead"].user_id,
        org["member"].user_id,
    }
    assert list(access.visible_members(org["member"]).values_list("user_id", flat=True)) == [
        org["member"].user_id
    ]


def test_only_admins_manage_the_company_and_managers_their_departments(org):
    assert access.may_manage_company(org["admin"])
    assert not access.may_manage_company(org["manager"])
    assert access.may_manage_department(org["manager"], org["sales"])
    assert not access.may_manage_department(org["manager"], org["support"])
    assert access.may_manage_team(org["manager"], org["south"])
    assert not access.may_manage_team(org["manager"], org["care"])
    assert not access.may_manage_team(org["lead"], org["north"])


def test_managers_manage_their_peoples_placement_and_nobody_else_below_admin_does(org):
    assert access.may_manage_member(org["manager"], org["seller"])
    assert access.may_manage_member(org["manager"], org["direct"])
    assert not access.may_manage_member(org["manager"], org["carer"])
    assert not access.may_manage_member(org["lead"], org["member"])
    assert not access.may_manage_member(org["member"], org["member"])
