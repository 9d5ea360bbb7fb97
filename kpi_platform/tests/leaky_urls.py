"""The real URL conf plus two URLs written without company scoping, for the isolation matrix's
test of itself (``test_isolation_matrix``): the matrix must catch both."""

from django.http import Http404, JsonResponse
from django.urls import include, path

from orgs.models import Department


def department_unscoped(request, department_id: int):
    """The bug the matrix must catch: a read (and a write) around the company-scoped manager."""
    found = Department.dangerously_unscoped.filter(pk=department_id)
    if request.method == "POST":
        found.update(name="taken over")
    department = found.first()
    if department is None:
        raise Http404
    return JsonResponse({"name": department.name})


def widget(request, widget_id: int):
    raise Http404


LEAKS = ["leaky/departments/<int:department_id>/", "leaky/widgets/<int:widget_id>/"]

urlpatterns = [
    path(LEAKS[0], department_unscoped),
    path(LEAKS[1], widget),  # an id of a kind the matrix has never heard of
    path("", include("kpi_platform.urls")),
]
