from enum import StrEnum


class OrgErrorCode(StrEnum):
    NAME_REQUIRED = "required"
    NAME_LENGTH = "name_length"
    NAME_TAKEN = "name_taken"
    EMAIL_TAKEN = "email_taken"
    EXTERNAL_ID_TAKEN = "external_id_taken"
    TEAM_NOT_IN_DEPARTMENT = "team_not_in_department"
    LANGUAGE_INVALID = "language_invalid"
    SCOPE_INVALID = "scope_invalid"
    COMPANY_EXISTS = "company_exists"
    TIME_ZONE_INVALID = "time_zone_invalid"
    DEFAULT_LANGUAGE_NOT_ENABLED = "default_language_not_enabled"
    REPORT_HOUR_INVALID = "report_hour_invalid"
