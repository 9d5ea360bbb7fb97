"""The layout's navigation (O4: each person sees links to what their role may open) and small
formatting helpers of the pages."""

from decimal import ROUND_HALF_UP, Decimal

from django import template
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from orgs import access

register = template.Library()


@register.inclusion_tag("pages/_nav.html", takes_context=True)
def main_nav(context) -> dict:
    """Links for the signed-in person: Home, their profile, the dashboards they may open, the
    leaderboard, the organization, the activity logger (heads only), the admin (staff)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"links": []}
    member = getattr(request, "viewer", None)  # None where the company middleware never ran
    path = request.path
    links = [(_("Home"), "/", path == "/")]
    if member:
        links += [
            (_("My profile"), f"/people/{member.user_id}/", path.startswith("/people/")),
            (_("Dashboards"), "/dashboards/", path.startswith("/dashboards/")),
            (_("Leaderboard"), "/leaderboard/", path.startswith("/leaderboard/")),
            (_("Organization"), "/organization/", path.startswith("/organization/")),
        ]
        if access.may_record(member):
            links.append((_("Activity logger"), "/logger/", path.startswith("/logger/")))
    if user.is_staff:
        links.append((_("Admin"), "/admin/", False))
    return {"links": links}


# The Organization section's pages, in the order of its menu: (label, path, who may open it (O4)).
# A new page of the section is one more line here.
ORGANIZATION_PAGES = [
    (gettext_lazy("Departments and people"), "/organization/", lambda member: True),
    (gettext_lazy("Key Metrics"), "/organization/metrics/", lambda member: True),
    (gettext_lazy("Company settings"), "/organization/settings/", access.is_company_admin),
]


@register.inclusion_tag("pages/_section_nav.html", takes_context=True)
def organization_nav(context) -> dict:
    """The Organization section's menu: the pages of it the signed-in person may open."""
    request = context["request"]
    member = getattr(request, "viewer", None)
    links = [
        (label, path, request.path == path)
        for label, path, may_open in ORGANIZATION_PAGES
        if may_open(member)
    ]
    return {"links": links if len(links) > 1 else [], "label": _("Organization")}


@register.filter
def bar_width(value) -> int:
    """A progress bar's width in percent, 0–100."""
    return 0 if value is None else max(0, min(100, int(value)))


@register.filter
def change_percent(value) -> str:
    """A change in percent with its sign (issue 18): "+12%", "−8%"; one decimal under 10 %, so a
    small change does not read as "+0%"; an em dash when there is none."""
    if value is None:
        return "—"
    value = Decimal(value)
    places = 0 if abs(value) >= 10 else 1
    exact = abs(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    shown = formats.number_format(exact, places, use_l10n=True, force_grouping=True)
    if places:  # "5.0" reads "5"
        shown = shown.rstrip("0").rstrip(".,")
    sign = "+" if value > 0 else "−" if value < 0 else ""
    return f"{sign}{shown}%"
