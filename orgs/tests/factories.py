"""Factories for the organization. Rows take their company from the current company context
(``in_company``), so related rows always agree on their company."""

import factory

from orgs.models import Company, Department, Member, Role, Team, User


class CompanyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Company
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Company {n}")
    slug = factory.Sequence(lambda n: f"company-{n}")
    languages = factory.LazyFunction(lambda: ["en", "ru"])
    default_language = "en"
    time_zone = "Europe/Moscow"


class DepartmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Department

    name = factory.Sequence(lambda n: f"Department {n}")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    department = factory.SubFactory(DepartmentFactory)


class MemberFactory(factory.Factory):
    """Creates the user and the member through the real service (Zulip: avoids false positives)."""

    class Meta:
        model = Member

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    role = Role.MEMBER
    department = None
    team = None
    external_id = ""
    password = "pass-2026-word"

    @classmethod
    def _create(cls, model_class, **kwargs):
        from orgs.services import member_create

        return member_create(**kwargs)


def user_of(member: Member) -> User:
    return member.user
