"""Spreadsheet cells made safe to open (PRODUCT I3, I4): the one formula escape of every export.

Text that a spreadsheet would run as a formula (first character ``=``, ``+``, ``-``, ``@``, tab or
carriage return; OWASP "CSV injection") gets a leading apostrophe on export, and an import takes it
off again, so an exported file imports as it was. Other values pass unchanged.
"""

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"


def escape_formula(value):
    """``value``, with a leading apostrophe if it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return ESCAPE + value
    return value


def unescape_formula(value: str) -> str:
    """The inverse of ``escape_formula``, so an exported file imports as it was."""
    if value.startswith(ESCAPE) and value[1:2] and value[1] in FORMULA_TRIGGERS:
        return value[1:]
    return value
