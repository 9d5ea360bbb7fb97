"""``manage.py create_api_token``: an API token of a company (API.md, I2).

Prints the token and nothing else on stdout, so that ``TOKEN=$(manage.py create_api_token ...)``
works; everything else goes to stderr. Only the token's SHA-256 is stored.
"""

from django.core.management.base import BaseCommand, CommandError

from kpi_platform.errors import DomainError
from orgs.models import Company, TokenScope
from orgs.services import api_token_create
from orgs.tenancy import company_context


def comma_list(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Create an API token of a company and print it (only once: only its hash is stored)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--company", required=True, help="the company's slug")
        parser.add_argument("--name", required=True, help="what the token is for, e.g. CRM")
        parser.add_argument(
            "--scopes",
            type=comma_list,
            default=[TokenScope.READ.value],
            help=f"comma-separated, some of: {','.join(TokenScope.values)} (default: read)",
        )

    def handle(self, *args, company: str, name: str, scopes: list[str], **options) -> None:
        unknown = sorted(set(scopes) - set(TokenScope.values))
        if unknown or not scopes:
            given = ", ".join(unknown) or "(none given)"
            raise CommandError(f"Unknown scope {given}: choose from {', '.join(TokenScope.values)}.")
        company_obj = Company.objects.filter(slug=company).first()
        if company_obj is None:
            raise CommandError(f"No company with the slug {company!r}.")
        with company_context(company_obj.id):
            try:
                new = api_token_create(name=name, scopes=scopes)
            except DomainError as error:
                raise CommandError(error.message) from error
        self.stderr.write(
            f"Created the API token {new.token.name!r} ({new.token.prefix}…) of {company_obj.name} with "
            f"scopes {', '.join(new.token.scopes)}. It is shown once; keep it secret.",
            style_func=self.style.SUCCESS,
        )
        self.stdout.write(new.secret)
