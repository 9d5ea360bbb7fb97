"""Which language a person reads content in (PRODUCT D6), for fields localized with
django-modeltranslation (``name_en``, ``name_ru``, ...).

A person sees a text in their own language (``User.language``) or, when they have not chosen one,
in the language of the interface they are using; failing that, in the company's default language,
then in any language that has it. Content that is required in every enabled language (an Active
KPI's name, K5) always has the first; the rest of the chain is for drafts and optional texts.
"""

from collections.abc import Sequence

from django.conf import settings
from django.utils import translation

from orgs.models import Company, User

PLATFORM_LANGUAGES = [code for code, _name in settings.LANGUAGES]


def _platform_language(code: str | None) -> str | None:
    if not code:
        return None
    code = code.lower()
    if code in PLATFORM_LANGUAGES:
        return code
    base = code.split("-")[0]
    return base if base in PLATFORM_LANGUAGES else None


def content_languages(user: User | None, company: Company | None) -> list[str]:
    """The languages to try, in order, for ``user`` of ``company``; every platform language is in it."""
    chain = [
        _platform_language(getattr(user, "language", None)),
        _platform_language(translation.get_language()),
        _platform_language(company.default_language if company else None),
        *(company.languages if company else []),
        *PLATFORM_LANGUAGES,
    ]
    return list(dict.fromkeys(code for code in chain if code in PLATFORM_LANGUAGES))


def localized(obj, field: str, languages: Sequence[str]) -> str:
    """The first non-empty ``field_<language>`` of ``obj`` in the order of ``languages``, or ""."""
    for language in languages:
        value = getattr(obj, f"{field}_{language}", None)
        if value:
            return value
    return ""
