"""``manage.py create_company``: a company (tenant) for a platform operator (API.md, O1)."""

import argparse

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from kpi_platform.errors import DomainError
from orgs.models import Company, Member, Role
from orgs.services import company_create, member_create, member_update
from orgs.tenancy import company_context


def language_list(value: str) -> list[str]:
    codes = [code.strip() for code in value.split(",") if code.strip()]
    if not codes:
        raise argparse.ArgumentTypeError("give at least one language code, e.g. en,ru")
    return codes


def validation_message(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in error.message_dict.items())
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Create a company with its defaults and, with --admin-email, its first administrator. "
        "An existing slug (or administrator) is left as it is."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug", help="the company's slug, e.g. acme")
        parser.add_argument("--name", required=True, help="the company's name")
        parser.add_argument(
            "--languages", type=language_list, default=["en"], help="enabled content languages, e.g. en,ru"
        )
        parser.add_argument("--timezone", default="UTC", help="time zone, e.g. Europe/Moscow")
        parser.add_argument("--admin-email", help="e-mail of a company admin to create")

    @transaction.atomic  # a refused administrator leaves no company behind
    def handle(self, *args, slug: str, name: str, languages: list[str], timezone: str, **options) -> None:
        try:
            company, created = company_create(slug=slug, name=name, languages=languages, time_zone=timezone)
        except ValidationError as error:
            raise CommandError(f"The company was not created: {validation_message(error)}") from error
        admin_report = self.ensure_admin(company, options["admin_email"]) if options["admin_email"] else []
        # Reported once everything has succeeded: a CommandError above rolls the company back.
        if created:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Created company {company.name!r} ({company.slug}): languages "
                    f"{', '.join(company.languages)}, time zone {company.time_zone}."
                )
            )
        else:
            self.stdout.write(f"Company {company.slug!r} exists ({company.name}); left unchanged.")
        for line in admin_report:
            self.stdout.write(line)

    def ensure_admin(self, company: Company, email: str) -> list[str]:
        with company_context(company.id):
            member = Member.objects.select_related("user").filter(user__email__iexact=email.strip()).first()
            try:
                if member is None:
                    member = member_create(email=email, role=Role.ADMIN)
                    done = self.style.SUCCESS(f"Created the company admin {member.user.email}.")
                elif member.role != Role.ADMIN:
                    member_update(member=member, role=Role.ADMIN)
                    done = self.style.SUCCESS(f"{member.user.email} is now a company admin.")
                else:
                    return [f"{member.user.email} is a company admin already; nothing changed."]
            except DomainError as error:
                raise CommandError(f"{email}: {error.message}") from error
            except ValidationError as error:
                raise CommandError(f"{email}: {validation_message(error)}") from error
        command = f"python manage.py changepassword {member.user.email} --company {company.slug}"
        return [done, f"Set their password with: {command}"]
