import hashlib
import time

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from kpi_platform.cache import cache_get, cache_set

# The accounts a right password opened, kept for the second step (never the password itself).
CHOICE_SESSION_KEY = "sign_in_choice"
CHOICE_SECONDS = 600
BACKEND = "orgs.auth.EmailBackend"


class EmailAuthenticationForm(AuthenticationForm):
    """Sign in by e-mail (the user model's USERNAME_FIELD), case-insensitively, to one company.

    The same e-mail may have accounts in several companies (O3, issue 17). When the password opens
    more than one, the first step keeps those accounts' ids in the session for ten minutes and
    the form asks which company; the second step posts the e-mail and the chosen company, and
    signs in to that company's account. Only companies whose account the password opened are
    offered: the choice reveals nothing the password did not prove.
    """

    company = forms.TypedChoiceField(
        label=_("Company"),
        coerce=int,
        empty_value=None,
        required=False,  # the first step has no company; the page asks for one in the second
        choices=(),
        widget=forms.RadioSelect(attrs={"required": True}),
    )

    error_messages = {
        **AuthenticationForm.error_messages,
        "choose_company": _(
            "Your e-mail address has accounts in several companies. Choose the one to sign in to."
        ),
        "choice_expired": _("Please sign in again: the choice of company has expired."),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("E-mail")
        self.fields["username"].widget.input_type = "email"
        self.second_step = self.is_bound and bool(self.data.get("company")) and not self.data.get("password")
        if self.second_step:
            self.fields["password"].required = False  # proved by the first step, if there was one
            choice = self._pending_choice()
            if choice is not None:
                self._offer_choices(choice["accounts"])

    # --- The choice of company ---------------------------------------------------------------------

    def _session(self):
        return getattr(self.request, "session", None)

    def _pending_choice(self) -> dict | None:
        session = self._session()
        choice = session.get(CHOICE_SESSION_KEY) if session is not None else None
        if not choice or choice.get("until", 0) < time.time():
            return None
        return choice

    def _offer_choices(self, account_ids: list[int]) -> None:
        accounts = get_user_model().objects.filter(id__in=account_ids).select_related("company")
        self.fields["company"].choices = [
            (account.company_id, account.company.name)
            for account in sorted(accounts, key=lambda account: (account.company.name, account.id))
            if account.company_id is not None
        ]

    def _remember_choice(self, email: str, accounts: list) -> None:
        session = self._session()
        if session is None:
            return
        session[CHOICE_SESSION_KEY] = {
            "email": email,
            "accounts": [account.id for account in accounts],
            "until": time.time() + CHOICE_SECONDS,
        }
        self._offer_choices(session[CHOICE_SESSION_KEY]["accounts"])

    def _chosen_account(self, email: str, company_id: int):
        choice = self._pending_choice()
        if choice is None or choice["email"] != email:
            return None
        account = (
            get_user_model()
            .objects.filter(id__in=choice["accounts"], company_id=company_id, is_active=True)
            .first()
        )
        if account is not None:
            del self._session()[CHOICE_SESSION_KEY]
            account.backend = BACKEND
        return account

    @property
    def asks_company(self) -> bool:
        return bool(self.fields["company"].choices)

    # --- Validation ----------------------------------------------------------------------------------

    def clean(self):
        from orgs.auth import CompanyChoiceRequired

        username = (self.cleaned_data.get("username") or "").strip().lower()
        if username:
            self.cleaned_data["username"] = username
        password = self.cleaned_data.get("password")
        company = self.cleaned_data.get("company")
        if self.second_step:
            self.user_cache = self._chosen_account(username, company) if username and company else None
            if self.user_cache is None:
                self.fields["company"].choices = []
                raise ValidationError(self.error_messages["choice_expired"], code="choice_expired")
        elif username and password:
            try:
                self.user_cache = authenticate(
                    self.request, username=username, password=password, company=company
                )
            except CompanyChoiceRequired as needed:
                self._remember_choice(username, needed.accounts)
                raise ValidationError(self.error_messages["choose_company"], code="choose_company") from None
            if self.user_cache is None:
                raise self.get_invalid_login_error()
            if self._session() is not None:
                self._session().pop(CHOICE_SESSION_KEY, None)  # an earlier, unfinished choice
        else:
            return self.cleaned_data
        self.confirm_login_allowed(self.user_cache)
        return self.cleaned_data


class AdminEmailAuthenticationForm(EmailAuthenticationForm, AdminAuthenticationForm):
    """The admin site's sign-in: the same, for company admins (staff) only."""

    error_messages = {**EmailAuthenticationForm.error_messages, **AdminAuthenticationForm.error_messages}


class ThrottledPasswordResetForm(PasswordResetForm):
    """Django's reset by e-mail (a signed link that expires after PASSWORD_RESET_TIMEOUT), sent
    to every active account of the address, one mail per company, each naming its company (one
    e-mail may have an account in several, issue 17). At most ``RESET_MAILS_PER_ADDRESS`` mails an
    hour go to one address and ``RESET_REQUESTS_PER_IP`` requests an hour count from one client;
    past that nothing is sent. The page after is the same whether the address is known, unknown
    or throttled, so it tells no one whether an account exists (issue 18)."""

    def __init__(self, *args, client_ip: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.client_ip = client_ip

    def save(self, *args, **kwargs) -> None:
        email = self.cleaned_data["email"].strip().lower()
        if _over_limit(f"reset-ip:{self.client_ip}", RESET_REQUESTS_PER_IP):
            return
        if _over_limit(
            f"reset-address:{hashlib.sha256(email.encode()).hexdigest()}", RESET_MAILS_PER_ADDRESS
        ):
            return
        super().save(*args, **kwargs)

    def send_mail(
        self,
        subject_template_name,
        email_template_name,
        context,
        from_email,
        to_email,
        html_email_template_name=None,
    ):
        context["company"] = context["user"].company
        super().send_mail(
            subject_template_name,
            email_template_name,
            context,
            from_email,
            to_email,
            html_email_template_name,
        )


RESET_MAILS_PER_ADDRESS = 3
RESET_REQUESTS_PER_IP = 20
RESET_WINDOW = 60 * 60


def _over_limit(key: str, limit: int) -> bool:
    """Counts one more request under ``key`` for an hour; True once past ``limit``. Without the
    cache nothing is counted (the reset still works; the cache holds only what may be lost)."""
    count = cache_get(key, 0) + 1
    cache_set(key, count, RESET_WINDOW)
    return count > limit
