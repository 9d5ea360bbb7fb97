"""Django's ``changepassword``, for an e-mail that may have an account in several companies
(O3, issue 17): ``--company <slug>`` says whose account; without it, the e-mail's only account
(or the platform operator's)."""

from django.contrib.auth.management.commands import changepassword
from django.core.management.base import CommandError

from orgs.auth import accounts_of


class Command(changepassword.Command):
    help = "Change the password of an account: an e-mail and, when it has several, --company."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--company", help="the slug of the company whose account it is")

    def handle(self, *args, **options):
        username = options["username"]
        if not username:
            raise CommandError("Give the account's e-mail.")
        accounts = list(accounts_of(username).using(options["database"]))
        slug = options["company"]
        if slug:
            accounts = [account for account in accounts if account.company and account.company.slug == slug]
        elif len(accounts) > 1:
            accounts = [account for account in accounts if account.company_id is None] or accounts
        if not accounts:
            raise CommandError(f"No account of {username}" + (f" in the company {slug!r}." if slug else "."))
        if len(accounts) > 1:
            slugs = ", ".join(account.company.slug for account in accounts)
            raise CommandError(
                f"{username} has accounts in several companies ({slugs}): say which with --company."
            )
        return self._change(accounts[0])

    def _change(self, account):
        # The prompt loop of Django's command (django/contrib/auth/management/commands/changepassword.py),
        # with the account already found.
        from django.contrib.auth.password_validation import validate_password
        from django.core.exceptions import ValidationError

        where = f" ({account.company.name})" if account.company_id else ""
        self.stdout.write(f"Changing password for user '{account.email}'{where}")
        max_tries, count, p1, p2, validated = 3, 0, 1, 2, False
        while (p1 != p2 or not validated) and count < max_tries:
            p1 = self._get_pass()
            p2 = self._get_pass("Password (again): ")
            if p1 != p2:
                self.stdout.write("Passwords do not match. Please try again.")
                count += 1
                continue
            try:
                validate_password(p2, account)
            except ValidationError as err:
                self.stderr.write("\n".join(err.messages))
                count += 1
            else:
                validated = True
        if count == max_tries:
            raise CommandError(f"Aborting password change for user '{account.email}' after {count} attempts")
        account.set_password(p1)
        account.save(update_fields=["password"])
        return f"Password changed successfully for user '{account.email}'{where}"
