"""The domain's one error type and the status the API answers each code with (STYLE 7)."""

from integrations.errors import ImportErrorCode
from kpi_platform.errors import STATUS_OF_CODE, CommonErrorCode, DomainError
from kpis.errors import KpiErrorCode
from orgs.errors import OrgErrorCode
from ratings.errors import RatingErrorCode


def test_every_code_given_a_status_of_its_own_is_a_code_of_an_app():
    codes = {
        str(code)
        for enum in (CommonErrorCode, OrgErrorCode, KpiErrorCode, RatingErrorCode, ImportErrorCode)
        for code in enum
    }
    assert set(STATUS_OF_CODE) <= codes


def test_several_errors_are_raised_as_one_with_every_entry_and_the_status_of_the_first():
    # given two conflicts of a batch
    first = DomainError(RatingErrorCode.EXTERNAL_ID_CONFLICT, "a", field="external_id", index=3)
    second = DomainError(RatingErrorCode.EXTERNAL_ID_CONFLICT, "b", field="external_id", index=5)

    # when they are raised together, or one alone
    both, alone = DomainError.many([first, second]), DomainError.many([first])

    # then one error carries both entries, in order; one entry is raised as itself
    assert both.errors == [first, second]
    assert (both.code, both.status_code, str(both)) == ("external_id_conflict", 409, "a; b")
    assert alone is first
    assert alone.errors == [first]
    assert DomainError(RatingErrorCode.UNKNOWN_KPI, "c").status_code == 400
