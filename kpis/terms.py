"""The mini-language of a KPI's description / terms (PRODUCT K7, API "KPIs").

Two kinds of link are markup; everything else is plain text:

- ``[title](https://example.com/page)``: an external link, ``http`` or ``https`` only;
- ``[title](internal:SECTION/ID)``: a link to a page of the application, e.g. ``internal:kpis/12``;
  the sections (``INTERNAL_SECTIONS``) are a KPI, the company's, a department's or a team's dashboard,
  a person's profile and the leaderboard of the company, a department or a team, e.g.
  ``internal:dashboards/teams/4`` or ``internal:leaderboard/company/1`` (the company's own id).

A *link candidate* is ``[`` title ``](`` target ``)`` with no ``[`` or ``]`` in the title or the target
and no ``)`` in the target. Bracketed text of any other shape (``[draft]``, ``[a] (b)``) is text. In
nested brackets (``[[a](https://x.example)]``) the innermost candidate is the link and the outer
brackets stay text. A candidate that is not a valid link is never rendered as a link: it is shown as
text, and ``find_link_errors`` reports it so that services can refuse the text with ``link_invalid``.

A URL ends at the first ``)``: ``[t](https://x.example/a_(b))`` is refused (its target
``https://x.example/a_(b`` holds a ``(``); parentheses are written ``%28`` and ``%29``. Spaces around a
target are ignored. URL characters are limited to a safe set: no quotes, ``<>``, backslashes, spaces,
control or invisible characters (a bracket ends the candidate, so ``[x](https://[::1]/)`` is text).
Letters and digits of any alphabet are allowed and percent-encoded when rendered; a non-ASCII host
is rendered in punycode. A user name or password in a URL (``https://bank.example@evil.example``)
is refused.

Pure functions of the text: no database access. Whether an internal target exists in the company is
the caller's check, on ``internal_targets(text)``; so is whether the reader may open it: ``render``
takes the set of targets to link (``kpis.links``), and shows every other internal link as its title.
"""

import dataclasses
import re
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from django.urls import reverse
from django.utils.encoding import iri_to_uri
from django.utils.html import escape, format_html
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import normalize_newlines
from django.utils.translation import gettext

MAX_TITLE_LENGTH = 200
MAX_URL_LENGTH = 2000
# Internal ids end up in a query; a value beyond a bigint would fail there instead of being refused here.
MAX_TARGET_ID = 2**63 - 1


def _page(name: str) -> Callable[[int], str]:
    return lambda target_id: reverse(name, args=[target_id])


def _company_page(name: str) -> Callable[[int], str]:
    return lambda _company_id: reverse(name)


def _leaderboard(kind: str) -> Callable[[int], str]:
    def url(target_id: int) -> str:
        scope = "company" if kind == "company" else f"{kind}:{target_id}"
        return f"{reverse('leaderboard')}?{urlencode({'scope': scope})}"

    return url


# Section name in ``internal:SECTION/ID`` -> the URL of the page for the id, built at render time.
# The company's own pages take its id, so that another company's is refused like any other id.
INTERNAL_SECTIONS: dict[str, Callable[[int], str]] = {
    "kpis": _page("kpi-page"),
    "dashboards/company": _company_page("dashboard-company"),
    "dashboards/departments": _page("dashboard-department"),
    "dashboards/teams": _page("dashboard-team"),
    "people": _page("profile"),
    "leaderboard/company": _leaderboard("company"),
    "leaderboard/departments": _leaderboard("department"),
    "leaderboard/teams": _leaderboard("team"),
}

_CANDIDATE = re.compile(r"\[(?P<title>[^\[\]]*)\]\((?P<target>[^\[\])]*)\)")
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*:")
_INTERNAL = re.compile(r"internal:(?P<section>[^/]*)/(?P<id>.*)", re.IGNORECASE | re.DOTALL)
# RFC 3986 unreserved and reserved characters, less quotes, brackets and parentheses.
_URL_ASCII_CHARS = frozenset(string.ascii_letters + string.digits + "-._~:/?#@!$&*+,;=%")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_AUTHORITY = re.compile(r"//(?P<authority>[^/?#]*)(?P<tail>.*)", re.DOTALL)
_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_\-]{1,63}(?<!-)")


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Link:
    title: str
    kind: Literal["external", "internal"]
    url: str | None = None  # external: the normalised, ASCII href
    section: str | None = None  # internal
    target_id: int | None = None  # internal


Segment = Text | Link


class LinkProblemReason(StrEnum):
    SCHEME = "scheme"
    TARGET_EMPTY = "target_empty"
    URL_TOO_LONG = "url_too_long"
    URL_WHITESPACE = "url_whitespace"
    URL_CHARACTER = "url_character"
    HOST = "host"
    USERINFO = "userinfo"
    INTERNAL_FORMAT = "internal_format"
    INTERNAL_SECTION = "internal_section"
    INTERNAL_ID = "internal_id"
    TITLE_EMPTY = "title_empty"
    TITLE_TOO_LONG = "title_too_long"


@dataclass(frozen=True)
class LinkProblem:
    raw: str  # the candidate's markup as written
    start: int  # its offset in the text
    reason: LinkProblemReason
    message: str  # translated, for the error the caller raises (code link_invalid)


class _Invalid(Exception):
    def __init__(self, reason: LinkProblemReason, message: str):
        super().__init__(message)
        self.reason, self.message = reason, message


def _is_invisible(char: str) -> bool:
    # Whitespace, control and format characters (tab, zero-width space, bidi overrides): browsers drop
    # some of them inside a scheme, so "java\tscript:" must be read as "javascript:".
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def _is_url_char(char: str) -> bool:
    if char in _URL_ASCII_CHARS:
        return True
    return ord(char) > 127 and unicodedata.category(char)[0] in "LNM"


def _short(raw: str) -> str:
    return raw if len(raw) <= 60 else raw[:59] + "…"


def _external_url(target: str) -> str:
    """Validate an external target and return its href, or raise ``_Invalid``."""
    visible = "".join(char for char in target if not _is_invisible(char)).lower()
    if visible.startswith("//"):
        raise _Invalid(
            LinkProblemReason.SCHEME, gettext("A link address must start with http:// or https://.")
        )
    scheme = _SCHEME.match(visible)
    if scheme is None:
        raise _Invalid(
            LinkProblemReason.SCHEME, gettext("A link address must start with http:// or https://.")
        )
    if scheme.group() not in ("http:", "https:"):
        raise _Invalid(
            LinkProblemReason.SCHEME,
            gettext('Only http and https links are allowed, not "%(scheme)s".')
            % {"scheme": scheme.group().removesuffix(":")},
        )
    if len(target) > MAX_URL_LENGTH:
        raise _Invalid(
            LinkProblemReason.URL_TOO_LONG,
            gettext("A link address can have at most %(max)d characters.") % {"max": MAX_URL_LENGTH},
        )
    if any(_is_invisible(char) for char in target):
        raise _Invalid(
            LinkProblemReason.URL_WHITESPACE,
            gettext("A link address cannot contain spaces or invisible characters."),
        )
    bad = next((char for char in target if not _is_url_char(char)), None)
    if bad is not None:
        raise _Invalid(
            LinkProblemReason.URL_CHARACTER,
            gettext("A link address cannot contain the character %(char)s; percent-encode it.")
            % {"char": bad},
        )
    if _BAD_PERCENT.search(target):
        raise _Invalid(
            LinkProblemReason.URL_CHARACTER,
            gettext("In a link address, a percent sign must be followed by two hexadecimal digits."),
        )

    scheme_name, _, rest = target.partition(":")
    if not rest.startswith("//"):
        raise _Invalid(LinkProblemReason.HOST, gettext("A link address must name a host: https://host/…"))
    authority, tail = _AUTHORITY.match(rest).group("authority", "tail")
    if "@" in authority:
        raise _Invalid(
            LinkProblemReason.USERINFO, gettext("A link address cannot contain a user name or password.")
        )
    host, colon, port = authority.partition(":")
    if colon and not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
        raise _Invalid(LinkProblemReason.HOST, gettext("The port of a link address is not valid."))
    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        ascii_host = ""
    labels = ascii_host.removesuffix(".").split(".")
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        raise _Invalid(LinkProblemReason.HOST, gettext("The host of a link address is not valid."))
    return f"{scheme_name.lower()}://{ascii_host}{colon}{port}{iri_to_uri(tail)}"


def _check_target(target: str) -> Link:
    """Return the link a stripped target points to (its title left empty), or raise ``_Invalid``."""
    if not target:
        raise _Invalid(LinkProblemReason.TARGET_EMPTY, gettext("A link needs an address."))
    internal = _INTERNAL.fullmatch(target)
    if internal is None and target.lower().startswith("internal:"):
        raise _Invalid(
            LinkProblemReason.INTERNAL_FORMAT,
            gettext("An internal link is written internal:SECTION/ID, for example internal:kpis/12."),
        )
    if internal is None:
        return Link(title="", kind="external", url=_external_url(target))
    section, raw_id = internal.group("section", "id")
    # A section may hold slashes (``dashboards/teams``): the longest one the target starts with.
    path = f"{section}/{raw_id}"
    known = [name for name in INTERNAL_SECTIONS if path.startswith(f"{name}/")]
    if known:
        section = max(known, key=len)
        raw_id = path.removeprefix(f"{section}/")
    else:
        raise _Invalid(
            LinkProblemReason.INTERNAL_SECTION,
            gettext("Unknown section %(section)s in an internal link; use one of: %(sections)s.")
            % {"section": section, "sections": ", ".join(sorted(INTERNAL_SECTIONS))},
        )
    # Not str.isdigit(): it accepts digits of other scripts, which int() would then convert.
    if not re.fullmatch(r"[0-9]{1,19}", raw_id) or not 0 < int(raw_id) <= MAX_TARGET_ID:
        raise _Invalid(
            LinkProblemReason.INTERNAL_ID,
            gettext("The id in an internal link must be a positive whole number, not %(id)s.")
            % {"id": raw_id},
        )
    return Link(title="", kind="internal", section=section, target_id=int(raw_id))


def _check_title(title: str) -> None:
    if all(_is_invisible(char) for char in title):  # a zero-width space is no title either
        raise _Invalid(LinkProblemReason.TITLE_EMPTY, gettext("A link needs a title."))
    if len(title) > MAX_TITLE_LENGTH:
        raise _Invalid(
            LinkProblemReason.TITLE_TOO_LONG,
            gettext("A link title can have at most %(max)d characters.") % {"max": MAX_TITLE_LENGTH},
        )


def _scan(text: str) -> list[Segment | LinkProblem]:
    """Split the text into text, valid links, and the problems of invalid candidates (in order;
    an invalid candidate also appears as text)."""
    items: list[Segment | LinkProblem] = []
    position = 0
    for match in _CANDIDATE.finditer(text):
        # Titles may wrap lines in the source; a link's title is one line.
        title = " ".join(match.group("title").split())
        problems = []
        link = None
        try:
            link = _check_target(match.group("target").strip())
        except _Invalid as invalid:
            problems.append(invalid)
        try:
            _check_title(title)
        except _Invalid as invalid:
            problems.append(invalid)
        items.append(Text(text[position : match.start()]))
        if problems:
            raw = match.group()
            for problem in problems:
                message = gettext('Link "%(link)s": %(problem)s') % {
                    "link": _short(raw),
                    "problem": problem.message,
                }
                items.append(
                    LinkProblem(raw=raw, start=match.start(), reason=problem.reason, message=message)
                )
            items.append(Text(raw))
        else:
            items.append(dataclasses.replace(link, title=title))
        position = match.end()
    items.append(Text(text[position:]))
    return items


def parse(text: str) -> list[Segment]:
    """The text as plain-text and link segments; adjacent text is merged and empty text dropped."""
    segments: list[Segment] = []
    # A run of text is joined once: appending piece by piece is quadratic on many invalid candidates.
    run: list[str] = []
    for item in [*_scan(text), None]:
        if isinstance(item, Text):
            run.append(item.value)
        elif item is None or isinstance(item, Link):
            if value := "".join(run):
                segments.append(Text(value))
            run = []
            if item is not None:
                segments.append(item)
    return segments


def find_link_errors(text: str) -> list[LinkProblem]:
    """Every problem of every candidate that is not a valid link, in the order of the text."""
    return [item for item in _scan(text) if isinstance(item, LinkProblem)]


def internal_targets(text: str) -> list[tuple[str, int]]:
    """The distinct (section, id) pairs of the valid internal links, in the order of the text."""
    targets = [
        (segment.section, segment.target_id)
        for segment in parse(text)
        if isinstance(segment, Link) and segment.kind == "internal"
    ]
    return list(dict.fromkeys(targets))


def _href(link: Link) -> str:
    if link.kind == "internal":
        return INTERNAL_SECTIONS[link.section](link.target_id)
    return link.url


Target = tuple[str, int]


def render(text: str, *, openable: set[Target] | None = None) -> SafeString:
    """The text as HTML: text escaped with line breaks as <br>, valid links as <a>, invalid ones as
    text. With ``openable``, an internal link to a target not in it (one the reader may not open, or
    not of their company) is shown as its title, never as a link to a 404."""
    pieces = []
    for segment in parse(text):
        if isinstance(segment, Text):
            pieces.append(escape(normalize_newlines(segment.value)).replace("\n", "<br>"))
        elif segment.kind == "external":
            # escape() rather than format_html's conditional_escape alone: a title sliced from a
            # SafeString input must not be trusted as HTML.
            pieces.append(
                format_html(
                    '<a href="{}" rel="noopener noreferrer nofollow" target="_blank">{}</a>',
                    escape(_href(segment)),
                    escape(segment.title),
                )
            )
        elif openable is not None and (segment.section, segment.target_id) not in openable:
            pieces.append(escape(segment.title))
        else:
            pieces.append(format_html('<a href="{}">{}</a>', escape(_href(segment)), escape(segment.title)))
    return mark_safe("".join(pieces))  # noqa: S308  # every piece is escaped text or format_html output


def render_plain(text: str, *, base_url: str = "") -> str:
    """The text for e-mail text parts and exports: links as "title (url)". ``base_url`` (e.g.
    "https://app.example") is put before internal links' paths, which are relative."""
    parts = []
    for segment in parse(text):
        if isinstance(segment, Text):
            parts.append(segment.value)
        elif segment.kind == "internal":
            parts.append(f"{segment.title} ({base_url.rstrip('/')}{_href(segment)})")
        else:
            parts.append(f"{segment.title} ({_href(segment)})")
    return "".join(parts)
