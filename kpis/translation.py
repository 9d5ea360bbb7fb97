"""Localized fields (django-modeltranslation): one column per platform language (D6, K1, K3)."""

from modeltranslation.translator import TranslationOptions, register

from kpis.models import Kpi, Unit


@register(Unit)
class UnitTranslationOptions(TranslationOptions):
    fields = ("name",)


@register(Kpi)
class KpiTranslationOptions(TranslationOptions):
    fields = ("name", "description")
