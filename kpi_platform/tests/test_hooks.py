"""The reactions between apps (``kpi_platform.hooks``): the list its docstring shows, in its order."""

from integrations import admin as integrations_admin
from kpi_platform import hooks
from kpis import demo as kpi_demo
from kpis import history as kpi_history
from kpis import selectors as kpi_selectors
from kpis import services as kpi_services
from kpis.models import Kpi
from orgs import demo as org_demo
from ratings import admin as ratings_admin
from ratings import demo as ratings_demo
from ratings import services as ratings_services
from ratings.models import KpiAction


def test_every_reaction_is_connected_once_in_the_order_of_the_apps():
    assert hooks.company_created.receivers == (kpi_services.unit_create_default,)
    assert hooks.company_settings_changed.receivers == (kpi_history.company_change_record,)
    assert hooks.members_moving.receivers == (ratings_services.department_totals_follow,)
    assert hooks.team_members_moving.receivers == (ratings_services.team_totals_follow,)
    assert hooks.team_moved.receivers == (kpi_services.kpis_follow_team,)
    assert hooks.org_unit_deleted.receivers == (
        kpi_services.archive_org_unit_kpis,
        ratings_services.department_totals_delete,
    )
    assert hooks.org_unit_deletion_counts.receivers == (kpi_selectors.org_unit_deletion_counts,)
    assert hooks.kpi_rating_state_changed.receivers == (ratings_services.kpi_rating_state_changed,)
    assert hooks.kpi_aggregation_changed.receivers == (ratings_services.latest_values_follow,)
    assert hooks.demo_steps.receivers == (
        org_demo.demo_departments_and_teams,
        org_demo.demo_people,
        org_demo.demo_heads,
        kpi_demo.demo_kpis,
        ratings_demo.demo_actions,
    )
    assert hooks.admin_actions.of(Kpi) == (ratings_admin.recalculate_points,)
    assert hooks.admin_actions.of(KpiAction) == (
        integrations_admin.export_actions_xlsx,
        integrations_admin.export_actions_csv,
    )


def test_a_hook_calls_its_reactions_in_order_and_connects_each_once():
    # given a hook with two reactions, one connected twice
    calls = []

    def first(*, n):
        calls.append(("first", n))
        return 1

    def second(*, n):
        calls.append(("second", n))
        return 2

    hook = hooks.Hook("example")
    for receiver in (first, second, first):
        hook.connect(receiver)
    # when it is sent
    results = hook.send(n=7)
    # then each reaction ran once, in the order connected, and their results come back in that order
    assert calls == [("first", 7), ("second", 7)]
    assert results == [1, 2]
