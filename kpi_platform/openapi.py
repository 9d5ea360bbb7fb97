"""The OpenAPI schema says how the API fails, not only how it succeeds (API.md Basics).

drf-spectacular documents each operation's success. Every error has one shape
(``kpi_platform.errors``), and which statuses an operation can answer follows from what it takes:
any may refuse its input (400), its caller (401, 403) or its rate (429); one with an id in its
path or a cursor may find nothing (404); one that writes may conflict (409); one with a body may find it too
large (413) or of the wrong type (415); and any may find the database (or, for an upload, the
queue) briefly out of reach (503, ``kpi_platform.views.server_error``). A postprocessing hook adds
them, so a client generated from the schema (and schemathesis, in the tests) knows them all.
"""

from django.utils.translation import gettext_lazy as _

ERROR_COMPONENT = "Error"
ERROR_RESPONSE_COMPONENT = "ErrorResponse"

_ERROR_SCHEMAS = {
    ERROR_COMPONENT: {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "machine-readable, e.g. not_found or name_taken"},
            "field": {"type": "string", "nullable": True, "description": "the input field, e.g. name.ru"},
            "message": {"type": "string", "description": "for people, in the request's language"},
            "index": {"type": "integer", "nullable": True, "description": "the position in a batch"},
        },
        "required": ["code", "field", "message", "index"],
    },
    ERROR_RESPONSE_COMPONENT: {
        "type": "object",
        "properties": {
            "errors": {"type": "array", "items": {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}}
        },
        "required": ["errors"],
    },
}

_DESCRIPTIONS = {
    "400": _("The input is invalid or a rule refused it."),
    "401": _("No valid API token or session."),
    "403": _("The token's scopes or the user's role do not allow this."),
    "404": _("Not found, or another company's (the same answer)."),
    "409": _("Conflicts with what is stored."),
    "413": _("The request body is too large."),
    "415": _("The request body's content type is not accepted."),
    "429": _("Too many requests with this token; retry after Retry-After seconds."),
    "503": _("Briefly unavailable (the database, or the queue for an upload); retry after a while."),
}
_WRITES = {"post", "put", "patch", "delete"}


def _error_statuses(method: str, operation: dict) -> list[str]:
    statuses = ["400", "401", "403", "429", "503"]
    parameters = operation.get("parameters", [])
    # an id in the path, or a list's cursor (DRF answers an unknown one "Invalid cursor", 404)
    if any(p["in"] == "path" or (p["in"], p["name"]) == ("query", "cursor") for p in parameters):
        statuses.append("404")
    if method in _WRITES:
        statuses.append("409")
    if "requestBody" in operation:
        statuses += ["413", "415"]
    return sorted(statuses)


def _error_response(status: str) -> dict:
    response = {
        "description": str(_DESCRIPTIONS[status]),
        "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{ERROR_RESPONSE_COMPONENT}"}}
        },
    }
    if status in ("429", "503"):
        response["headers"] = {
            "Retry-After": {"schema": {"type": "integer"}, "description": "seconds to wait before retrying"}
        }
    return response


def add_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular postprocessing hook: the error envelope on every operation that lacks one."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(_ERROR_SCHEMAS)
    for item in result.get("paths", {}).values():
        for method, operation in item.items():
            responses = operation.setdefault("responses", {})
            for status in _error_statuses(method, operation):
                responses.setdefault(status, _error_response(status))
    return result
