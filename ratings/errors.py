from enum import StrEnum


class RatingErrorCode(StrEnum):
    """The codes of API.md "Actions" and "Ratings"."""

    UNKNOWN_KPI = "unknown_kpi"
    KPI_INACTIVE = "kpi_inactive"
    KPI_IS_CALCULATED = "kpi_is_calculated"  # K11: a calculated KPI's figure comes from others
    UNKNOWN_USER = "unknown_user"
    NOT_IN_AUDIENCE = "not_in_audience"
    VALUE_INVALID = "value_invalid"
    OCCURRED_AT_INVALID = "occurred_at_invalid"
    BATCH_TOO_LARGE = "batch_too_large"
    EXTERNAL_ID_CONFLICT = "external_id_conflict"
    EXTERNAL_ID_INVALID = "external_id_invalid"
    COMMENT_INVALID = "comment_invalid"
    INVALID = "invalid"
    REQUIRED = "required"
    ALREADY_VOIDED = "already_voided"
    PERIOD_INVALID = "period_invalid"
    SCOPE_INVALID = "scope_invalid"
