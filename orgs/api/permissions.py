"""Who may call the company API at all (API.md Basics, PRODUCT O2, O4, I2). Every app's API reuses it.

A request acts for exactly one company: a session user's (set by ``CompanyMiddleware``) or an API
token's (bound by ``CompanyTokenAuthentication``). ``CompanyPermission`` refuses a request without
one (a platform superuser has no company) and holds tokens to their scopes. What a person may see
and change inside the company is the views' business, through ``orgs.access`` with ``viewer_of``.
"""

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import exceptions
from rest_framework.exceptions import ErrorDetail
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from kpi_platform.ids import MAX_OFFSET
from orgs.api.parsers import JSONParser
from orgs.models import ApiToken, Member, TokenScope
from orgs.tenancy import current_company_id_or_none

_VIEWER = "_company_viewer"


def token_of(request: Request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def viewer_of(request: Request) -> Member | None:
    """The signed-in person whose role (O4) limits the request; ``None`` for an API token.

    ``None`` means "the whole company" to ``orgs.access``, so a session user without a ``Member``
    in the request's company is refused here rather than ever becoming ``None``.
    """
    if token_of(request) is not None:
        return None
    if not hasattr(request, _VIEWER):
        user = request.user
        member = None
        if user.is_authenticated and user.company_id is not None:
            member = Member.objects.filter(user_id=user.id).first()
        if member is None:
            raise exceptions.PermissionDenied(_("You are not a member of a company."))
        setattr(request, _VIEWER, member)
    return getattr(request, _VIEWER)


class CompanyPermission(BasePermission):
    """A company in context, the caller belongs to it, and a token carries the scope it needs.

    Safe methods need the ``read`` scope; the others need the view's ``write_scope`` (a view
    without one is read-only for tokens).
    """

    message = _("You do not have permission to perform this action.")

    def has_permission(self, request: Request, view: APIView) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False  # DRF answers 401 with the Bearer challenge
        company_id = current_company_id_or_none()
        if company_id is None or getattr(user, "company_id", None) != company_id:
            self.message = _("This account does not belong to a company.")
            return False
        token = token_of(request)
        if token is None:
            viewer_of(request)  # refuses a session user without a Member
            return True
        needed = TokenScope.READ if request.method in SAFE_METHODS else getattr(view, "write_scope", None)
        if needed is None or needed not in token.scopes:
            self.message = _("This token lacks the scope “%(scope)s”.") % {"scope": needed or "-"}
            return False
        return True


class CompanyPagination(LimitOffsetPagination):
    """``?limit=&offset=``: a limit past ``max_limit`` is ``max_limit`` and nonsense the default, as
    DRF has it; an offset past ``MAX_OFFSET`` is refused, as the leaderboard's (issue 17: past
    bigint, the database's offset overflows)."""

    max_limit = 1000

    def get_offset(self, request: Request) -> int:
        offset = super().get_offset(request)
        if offset > MAX_OFFSET:
            message = _("Ensure this value is less than or equal to %(limit_value)s.") % {
                "limit_value": MAX_OFFSET
            }
            raise exceptions.ValidationError(
                {self.offset_query_param: [ErrorDetail(message, code="max_value")]}
            )
        return offset

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.offset_query_param:
                parameter["schema"]["maximum"] = MAX_OFFSET
        return parameters


class CompanyApi(APIView):
    """The base of every company API view: token or session auth, company scoping, JSON only.

    A subclass sets ``write_scope`` (the token scope its unsafe methods need) and gets
    ``self.viewer`` (``None`` for a token) for ``orgs.access`` and the selectors.
    """

    permission_classes = [CompanyPermission]
    parser_classes = [JSONParser]
    pagination_class = CompanyPagination
    write_scope: str | None = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # PostHog's TeamAndOrgViewSetMixin: the tenancy check cannot be dropped by accident.
        if not any(issubclass(permission, CompanyPermission) for permission in cls.permission_classes):
            raise TypeError(f"{cls.__name__}.permission_classes must include CompanyPermission")

    @property
    def viewer(self) -> Member | None:
        return viewer_of(self.request)

    def serializer_context(self) -> dict:
        """Input serializers resolve ids through querysets scoped to this viewer."""
        return {"request": self.request, "view": self, "viewer": self.viewer}

    def validated(self, serializer_class, data) -> dict:
        """Validate a body or query string; ids resolve through querysets scoped to the viewer."""
        serializer = serializer_class(data=data, context=self.serializer_context())
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def paginated_response(self, queryset: QuerySet, serializer_class) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(serializer_class(page, many=True).data)


class CompanyTokenScheme(OpenApiAuthenticationExtension):
    """Describes ``Authorization: Bearer <token>`` in the OpenAPI schema (registered on import)."""

    target_class = "orgs.auth.CompanyTokenAuthentication"
    name = "companyToken"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Bearer",  # noqa: S106 - the HTTP auth scheme, not a secret
        )


def require(allowed: bool) -> None:
    """A person may see the object but not do this to it (O4): 403."""
    if not allowed:
        raise exceptions.PermissionDenied()
