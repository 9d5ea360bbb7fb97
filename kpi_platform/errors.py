"""One error type for the domain and one renderer for the API (STYLE section 7).

Every 4xx body is ``{"errors": [{"code", "field", "message", "index"}]}``. The domain says what
went wrong (a code); which HTTP status answers it is decided here, by ``STATUS_OF_CODE``.
"""

from collections.abc import Iterable
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, RequestDataTooBig
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


class CommonErrorCode(StrEnum):
    REQUIRED = "required"
    INVALID = "invalid"
    UNIQUE = "unique"
    NOT_FOUND = "not_found"
    PERMISSION_DENIED = "permission_denied"
    NOT_AUTHENTICATED = "not_authenticated"
    PARSE_ERROR = "parse_error"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    THROTTLED = "throttled"
    CONFLICT = "conflict"
    BODY_TOO_LARGE = "body_too_large"


class DomainError(Exception):
    """A rule of the product refused the input. Raised by the domain; rendered as a 4xx.

    One error is one entry of the answer. ``DomainError.many`` raises several at once (a batch, a
    form: all reported, nothing written); ``errors`` lists the entries either way.
    """

    def __init__(
        self, code: StrEnum | str, message: str, *, field: str | None = None, index: int | None = None
    ):
        super().__init__(message)
        self.code, self.message, self.field, self.index = str(code), str(message), field, index
        self.errors: list[DomainError] = [self]

    @classmethod
    def many(cls, errors: Iterable["DomainError"]) -> "DomainError":
        """One error of several entries, in their order (one entry is returned as it is). Its code,
        and so its status, is the first entry's: a batch's entries are of one kind."""
        errors = list(errors)
        if len(errors) == 1:
            return errors[0]
        error = cls(errors[0].code, "; ".join(each.message for each in errors))
        error.errors = errors
        return error

    @property
    def status_code(self) -> int:
        """The HTTP status the API answers with (``STATUS_OF_CODE``)."""
        return status_of_code(self.code)

    def as_dict(self) -> dict:
        return {"code": self.code, "field": self.field, "message": self.message, "index": self.index}


# The statuses of the codes that are not a 400, by the codes' values (the apps' enums are above
# this module: ``RatingErrorCode``, ``ImportErrorCode``). A test keeps every key a real code.
STATUS_OF_CODE: dict[str, int] = {
    CommonErrorCode.PERMISSION_DENIED: status.HTTP_403_FORBIDDEN,  # a service's own role check (O5)
    "external_id_conflict": status.HTTP_409_CONFLICT,  # R4: recorded before with other content
    "file_too_large": status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,  # an import's upload
    CommonErrorCode.BODY_TOO_LARGE: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,  # any request's body
    "unsupported_file_type": status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,  # an import's upload
    "queue_unavailable": status.HTTP_503_SERVICE_UNAVAILABLE,  # the broker is down
}


def status_of_code(code: str) -> int:
    return STATUS_OF_CODE.get(code, status.HTTP_400_BAD_REQUEST)


def _normalise_code(code: str | None) -> str:
    # Saleor's rule: Django's many spellings of "missing" and "duplicate" become one code each.
    if code in {"required", "blank", "null", "null_characters_not_allowed_required"}:
        return CommonErrorCode.REQUIRED
    if code and code.startswith("unique"):
        return CommonErrorCode.UNIQUE
    if code in {"does_not_exist", "not_found"}:
        return CommonErrorCode.NOT_FOUND
    return code or CommonErrorCode.INVALID


_DRF_FIELD_CODES = {
    "invalid": CommonErrorCode.INVALID,
    "does_not_exist": CommonErrorCode.NOT_FOUND,
    "incorrect_type": CommonErrorCode.INVALID,
    "invalid_choice": CommonErrorCode.INVALID,
    "max_length": "max_length",
    "min_length": "min_length",
    "not_a_list": CommonErrorCode.INVALID,
    "max_string_length": "max_length",
}


def _flatten(detail, field: str | None = None, index: int | None = None) -> list[dict]:
    """DRF's nested error detail → flat list of error dicts, with dotted field paths."""
    if isinstance(detail, dict):
        errors = []
        for key, value in detail.items():
            if key == "non_field_errors":
                sub_field = field
            elif field:
                sub_field = f"{field}.{key}"
            else:
                sub_field = str(key)
            errors.extend(_flatten(value, sub_field, index))
        return errors
    if isinstance(detail, list):
        errors = []
        for position, value in enumerate(detail):
            if isinstance(value, dict | list) and field is None and index is None:
                errors.extend(_flatten(value, None, position))  # many=True: the position is the index
            elif isinstance(value, dict | list):
                errors.extend(_flatten(value, f"{field}.{position}" if field else str(position), index))
            else:
                errors.extend(_flatten(value, field, index))
        return errors
    code = getattr(detail, "code", None)
    code = _DRF_FIELD_CODES.get(code, _normalise_code(code))
    return [{"code": str(code), "field": field, "message": str(detail), "index": index}]


def _django_validation_error_to_dicts(error: DjangoValidationError) -> list[dict]:
    errors = []
    if hasattr(error, "error_dict"):
        for field, field_errors in error.error_dict.items():
            for item in field_errors:
                errors.append(
                    {
                        "code": _normalise_code(item.code),
                        "field": None if field == "__all__" else field,
                        "message": " ".join(item.messages),
                        "index": None,
                    }
                )
    else:
        for item in error.error_list:
            errors.append(
                {
                    "code": _normalise_code(item.code),
                    "field": None,
                    "message": " ".join(item.messages),
                    "index": None,
                }
            )
    return errors


def _body(errors: list[dict]) -> dict:
    return {"errors": errors}


_STATUS_CODES = {
    status.HTTP_401_UNAUTHORIZED: CommonErrorCode.NOT_AUTHENTICATED,
    status.HTTP_403_FORBIDDEN: CommonErrorCode.PERMISSION_DENIED,
    status.HTTP_404_NOT_FOUND: CommonErrorCode.NOT_FOUND,
    status.HTTP_405_METHOD_NOT_ALLOWED: CommonErrorCode.METHOD_NOT_ALLOWED,
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: CommonErrorCode.UNSUPPORTED_MEDIA_TYPE,
    status.HTTP_429_TOO_MANY_REQUESTS: CommonErrorCode.THROTTLED,
}


def exception_handler(exc, context):
    """DRF's handler, then one shape for every error (HackSoft: reuse DRF, then adjust)."""
    if isinstance(exc, DomainError):
        response = Response(_body([error.as_dict() for error in exc.errors]), status=exc.status_code)
        if exc.status_code == status.HTTP_503_SERVICE_UNAVAILABLE:
            response["Retry-After"] = "60"  # a service of ours is down (the queue): a minute or so
        return response
    if isinstance(exc, DjangoValidationError):
        return Response(_body(_django_validation_error_to_dicts(exc)), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, RequestDataTooBig):  # Django's own answer would be an HTML 400
        message = _("The request is larger than %(mb)d MB: send it in smaller batches.") % {
            "mb": settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024)
        }
        error = {"code": CommonErrorCode.BODY_TOO_LARGE, "field": None, "message": message, "index": None}
        return Response(_body([error]), status=status_of_code(CommonErrorCode.BODY_TOO_LARGE))
    if isinstance(exc, ObjectDoesNotExist | Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug: a 500, reported, never swallowed

    if isinstance(exc, exceptions.ValidationError):
        errors = _flatten(exc.detail)
    elif isinstance(exc, exceptions.ParseError):
        errors = [
            {"code": CommonErrorCode.PARSE_ERROR, "field": None, "message": str(exc.detail), "index": None}
        ]
    else:
        code = _STATUS_CODES.get(response.status_code, _normalise_code(getattr(exc, "default_code", None)))
        errors = [{"code": str(code), "field": None, "message": str(exc.detail), "index": None}]
    response.data = _body(errors)
    return response
