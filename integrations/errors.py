from enum import StrEnum


class ImportErrorCode(StrEnum):
    """The codes of API.md "Imports" (the upload; row errors are listed on the job)."""

    FILE_TOO_LARGE = "file_too_large"
    UNSUPPORTED_FILE_TYPE = "unsupported_file_type"
    KIND_INVALID = "kind_invalid"
    NOT_RECORDABLE = "not_recordable"
    QUEUE_UNAVAILABLE = "queue_unavailable"  # 503: the broker is down; nothing was stored
    NOT_FOUND = "not_found"  # a row names a role, department or team the company does not have


class SourceErrorCode(StrEnum):
    """The codes of the integration sources API (issue 20)."""

    KIND_INVALID = "kind_invalid"
    SETTINGS_INVALID = "settings_invalid"
    MAPPING_INVALID = "mapping_invalid"
    NAME_TAKEN = "unique"
