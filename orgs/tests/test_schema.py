"""Scale-out readiness (PRODUCT X4): every company-owned table can be distributed by company."""

from django.apps import apps
from django.db import models

from orgs.tenancy import CompanyScopedModel


def _company_models():
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if issubclass(model, CompanyScopedModel) and not model._meta.proxy
    ]


def _auto_m2m_tables_of_company_models():
    return [
        field.remote_field.through._meta.label
        for model in _company_models()
        for field in model._meta.local_many_to_many
        if field.remote_field.through._meta.auto_created
    ]


def test_every_company_table_carries_company_id():
    assert _company_models(), "no company-owned model found"
    for model in _company_models():
        field = model._meta.get_field("company")
        assert field.column == "company_id", model
        assert not field.null, model
    # many-to-many links between company rows are explicit models, so they carry company_id too
    assert _auto_m2m_tables_of_company_models() == []


def test_every_unique_constraint_of_a_company_table_includes_company():
    offenders = []
    for model in _company_models():
        for constraint in model._meta.constraints:
            if isinstance(constraint, models.UniqueConstraint):
                columns = list(constraint.fields) + [
                    getattr(expression, "name", None) for expression in constraint.expressions
                ]
                if "company" not in columns:
                    offenders.append(f"{model._meta.label}.{constraint.name}")
        for field in model._meta.local_fields:
            # a single-column unique (or the primary key) would stop distribution by company,
            # except a key that is itself the global row's id (Member.user: one row per user).
            if field.unique and not field.primary_key:
                offenders.append(f"{model._meta.label}.{field.name}")
        if model._meta.unique_together:
            offenders.extend(
                f"{model._meta.label}.{fields}"
                for fields in model._meta.unique_together
                if "company" not in fields
            )
    assert offenders == []
