from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """Home (D1). A placeholder until the KPI and rating issues fill it."""
    return render(request, "home.html")
