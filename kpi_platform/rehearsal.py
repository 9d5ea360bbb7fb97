"""A write tried and undone: how a form or an import row learns what a service would refuse
before anything is saved (STYLE section 4: the service stays the one place the rules live)."""

from collections.abc import Callable

from django.db import transaction


class _Rehearsal(Exception):
    """Raised to roll back the savepoint of a rehearsal that succeeded."""


def rehearse(call: Callable[[], object]) -> None:
    """Run ``call`` in a savepoint that is always rolled back. What it raises (a service's
    ``DomainError``, a model's ``ValidationError``) comes out unchanged; what it wrote is undone
    either way. A caller that changed objects in memory must read them again."""
    try:
        with transaction.atomic():
            call()
            raise _Rehearsal
    except _Rehearsal:
        pass
