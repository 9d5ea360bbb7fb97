"""The description / terms mini-language (PRODUCT K7): parsing, link problems and rendering."""

import re

import pytest
from django.utils.safestring import SafeString, mark_safe

from kpis import terms
from kpis.terms import (
    Link,
    LinkProblemReason,
    Text,
    find_link_errors,
    internal_targets,
    parse,
    render,
    render_plain,
)

EXTERNAL_ATTRS = 'rel="noopener noreferrer nofollow" target="_blank"'


def external(url: str, title: str) -> str:
    return f'<a href="{url}" {EXTERNAL_ATTRS}>{title}</a>'


# parse


def test_plain_text_is_one_text_segment():
    assert parse("Calls made, [draft] see (a) and [b]") == [Text("Calls made, [draft] see (a) and [b]")]


def test_empty_text_has_no_segments():
    assert parse("") == []


def test_an_external_link_splits_the_text():
    # when
    segments = parse("See [the guide](https://ok.example/guide?x=1#top) first.")

    # then
    assert segments == [
        Text("See "),
        Link(title="the guide", kind="external", url="https://ok.example/guide?x=1#top"),
        Text(" first."),
    ]


def test_an_internal_link_carries_its_section_and_id():
    assert parse("[Sales](internal:kpis/12)") == [
        Link(title="Sales", kind="internal", section="kpis", target_id=12)
    ]


@pytest.mark.parametrize(
    "text",
    [
        "[draft]",
        "see (a) and [b]",
        "[a] (https://ok.example)",  # "](" must be adjacent
        "[a]\n(https://ok.example)",
        "(https://ok.example)",
        "https://ok.example",  # a bare URL is text, not a link
        "[a](https://ok.example",  # never closed
        "[x](https://[::1]/)",  # a bracket in the target ends the candidate
        '<a href="https://ok.example">a</a>',
    ],
)
def test_text_that_is_not_a_link_candidate_stays_text(text):
    assert parse(text) == [Text(text)]
    assert find_link_errors(text) == []


def test_nested_brackets_make_the_innermost_candidate_the_link():
    # when
    segments = parse("[[a](https://x.example)]")

    # then
    assert segments == [Text("["), Link(title="a", kind="external", url="https://x.example"), Text("]")]


def test_a_link_in_the_target_of_another_is_the_link():
    assert parse("[a]([b](https://x.example))") == [
        Text("[a]("),
        Link(title="b", kind="external", url="https://x.example"),
        Text(")"),
    ]


def test_an_invalid_candidate_is_merged_into_the_surrounding_text():
    assert parse("a [x](javascript:alert(1)) b") == [Text("a [x](javascript:alert(1)) b")]


def test_a_title_is_trimmed_and_its_whitespace_collapsed():
    assert parse("[  Monthly\n  report ](https://ok.example)") == [
        Link(title="Monthly report", kind="external", url="https://ok.example")
    ]


def test_spaces_around_a_target_are_ignored():
    assert parse("[t](  https://ok.example/a  )") == [
        Link(title="t", kind="external", url="https://ok.example/a")
    ]


def test_the_scheme_and_host_are_lower_cased_and_the_path_kept():
    assert parse("[t](HTTPS://OK.Example:8443/Path?Q=A)") == [
        Link(title="t", kind="external", url="https://ok.example:8443/Path?Q=A")
    ]


def test_a_non_ascii_url_is_encoded_for_the_href():
    # given
    text = "[Вики](https://пример.рф/wiki/Ключ?q=а)"

    # when
    (link,) = parse(text)

    # then
    assert link.url == "https://xn--e1afmkfd.xn--p1ai/wiki/%D0%9A%D0%BB%D1%8E%D1%87?q=%D0%B0"


def test_the_internal_scheme_is_case_insensitive():
    assert parse("[t](Internal:kpis/7)") == [Link(title="t", kind="internal", section="kpis", target_id=7)]


def test_limits_are_inclusive():
    # given
    title = "t" * terms.MAX_TITLE_LENGTH
    url = "https://ok.example/" + "a" * (terms.MAX_URL_LENGTH - len("https://ok.example/"))

    # when
    segments = parse(f"[{title}]({url})")

    # then
    assert segments == [Link(title=title, kind="external", url=url)]


# find_link_errors


@pytest.mark.parametrize(
    ("target", "reason"),
    [
        ("javascript:alert(1", LinkProblemReason.SCHEME),
        ("JAVASCRIPT:alert(1", LinkProblemReason.SCHEME),
        ("  javascript:alert(1", LinkProblemReason.SCHEME),
        (" JaVaScRiPt:alert(1", LinkProblemReason.SCHEME),
        ("java\tscript:alert(1", LinkProblemReason.SCHEME),
        ("java\nscript:alert(1", LinkProblemReason.SCHEME),
        ("\x01javascript:alert(1", LinkProblemReason.SCHEME),
        ("java\u200bscript:alert(1", LinkProblemReason.SCHEME),
        ("java&#x09;script:alert(1", LinkProblemReason.SCHEME),
        ("data:text/html;base64,PHNjcmlwdD4=", LinkProblemReason.SCHEME),
        ("vbscript:msgbox", LinkProblemReason.SCHEME),
        ("ftp://ok.example/file", LinkProblemReason.SCHEME),
        ("mailto:a@ok.example", LinkProblemReason.SCHEME),
        ("/x", LinkProblemReason.SCHEME),
        ("//evil.example", LinkProblemReason.SCHEME),
        ("\\\\evil.example", LinkProblemReason.SCHEME),
        ("ok.example/page", LinkProblemReason.SCHEME),
        ("", LinkProblemReason.TARGET_EMPTY),
        ("   ", LinkProblemReason.TARGET_EMPTY),
        ("https:evil.example", LinkProblemReason.HOST),
        ("https:/evil.example", LinkProblemReason.HOST),
        ("https://", LinkProblemReason.HOST),
        ("https:///path", LinkProblemReason.HOST),
        ("https://-bad.example", LinkProblemReason.HOST),
        ("https://a..example", LinkProblemReason.HOST),
        ("https://ok.example:99999/", LinkProblemReason.HOST),
        ("https://ok.example:/", LinkProblemReason.HOST),
        ("https://ok.example%2f@evil.example", LinkProblemReason.USERINFO),
        ("https://bank.example@evil.example/", LinkProblemReason.USERINFO),
        ("https://user:pass@ok.example/", LinkProblemReason.USERINFO),
        ('https://ok.example/" onclick="x', LinkProblemReason.URL_WHITESPACE),
        ("https://ok.example/a b", LinkProblemReason.URL_WHITESPACE),
        ("https://ok.example/\u202egnp.exe", LinkProblemReason.URL_WHITESPACE),
        ('https://ok.example/"onclick="x', LinkProblemReason.URL_CHARACTER),
        ("https://ok.example/'onclick='x", LinkProblemReason.URL_CHARACTER),
        ("https://ok.example/<script>", LinkProblemReason.URL_CHARACTER),
        ("https://ok.example/a_(b", LinkProblemReason.URL_CHARACTER),
        ("https://ok.example\\@evil.example", LinkProblemReason.URL_CHARACTER),
        ("https://ok.example/{x}", LinkProblemReason.URL_CHARACTER),
        ("https://ok.example/%zz", LinkProblemReason.URL_CHARACTER),
        ("https://ok.example/" + "a" * terms.MAX_URL_LENGTH, LinkProblemReason.URL_TOO_LONG),
        ("internal:kpis/abc", LinkProblemReason.INTERNAL_ID),
        ("internal:kpis/0", LinkProblemReason.INTERNAL_ID),
        ("internal:kpis/-1", LinkProblemReason.INTERNAL_ID),
        ("internal:kpis/1.5", LinkProblemReason.INTERNAL_ID),
        ("internal:kpis/12/", LinkProblemReason.INTERNAL_ID),
        ("internal:kpis/", LinkProblemReason.INTERNAL_ID),
        ("internal:kpis/١٢", LinkProblemReason.INTERNAL_ID),  # Arabic-Indic digits, which int() accepts
        ("internal:kpis/99999999999999999999", LinkProblemReason.INTERNAL_ID),
        ("internal:kpis/9223372036854775808", LinkProblemReason.INTERNAL_ID),
        ("internal:secret/1", LinkProblemReason.INTERNAL_SECTION),
        ("internal:KPIS/1", LinkProblemReason.INTERNAL_SECTION),
        ("internal:/1", LinkProblemReason.INTERNAL_SECTION),
        ("internal:kpis", LinkProblemReason.INTERNAL_FORMAT),
        ("internal:", LinkProblemReason.INTERNAL_FORMAT),
        # a section with slashes needs its whole name and an id
        ("internal:dashboards/teams/", LinkProblemReason.INTERNAL_ID),
        ("internal:dashboards/teams/4/", LinkProblemReason.INTERNAL_ID),
        ("internal:dashboards/4", LinkProblemReason.INTERNAL_SECTION),
        ("internal:leaderboard/4", LinkProblemReason.INTERNAL_SECTION),
        ("internal:dashboards/secret/4", LinkProblemReason.INTERNAL_SECTION),
    ],
)
def test_a_candidate_with_an_invalid_target_is_a_problem_and_text(target, reason):
    # given
    text = f"Before [x]({target}) after"

    # when
    problems = find_link_errors(text)

    # then
    assert [problem.reason for problem in problems] == [reason]
    assert problems[0].raw == f"[x]({target})"
    assert problems[0].start == len("Before ")
    assert not any(isinstance(segment, Link) for segment in parse(text))
    assert "<a" not in render(text)


@pytest.mark.parametrize(
    ("title", "reason"),
    [
        ("", LinkProblemReason.TITLE_EMPTY),
        ("   ", LinkProblemReason.TITLE_EMPTY),
        ("\n", LinkProblemReason.TITLE_EMPTY),
        ("\u200b", LinkProblemReason.TITLE_EMPTY),
        ("t" * (terms.MAX_TITLE_LENGTH + 1), LinkProblemReason.TITLE_TOO_LONG),
    ],
)
def test_a_candidate_with_an_invalid_title_is_a_problem_and_text(title, reason):
    # given
    text = f"[{title}](https://ok.example)"

    # when
    problems = find_link_errors(text)

    # then
    assert [problem.reason for problem in problems] == [reason]
    assert parse(text) == [Text(text)]


def test_valid_links_have_no_problems():
    assert find_link_errors("[a](https://ok.example) [b](http://ok.example/x) [c](internal:kpis/1)") == []


def test_a_candidate_with_a_bad_title_and_target_reports_both():
    assert [problem.reason for problem in find_link_errors("[](javascript:1)")] == [
        LinkProblemReason.SCHEME,
        LinkProblemReason.TITLE_EMPTY,
    ]


def test_problems_come_in_the_order_of_the_text():
    # given
    text = "[a](internal:secret/1) ok [b](https://ok.example) [c](ftp://ok.example)"

    # when
    problems = find_link_errors(text)

    # then
    assert [(problem.raw, problem.start) for problem in problems] == [
        ("[a](internal:secret/1)", 0),
        ("[c](ftp://ok.example)", text.index("[c]")),
    ]


def test_a_problem_message_names_the_link_and_the_rule():
    # when
    (problem,) = find_link_errors("[x](JavaScript:alert(1))")

    # then
    assert problem.message == (
        'Link "[x](JavaScript:alert(1)": Only http and https links are allowed, not "javascript".'
    )


def test_a_problem_message_shortens_a_long_link():
    # when
    (problem,) = find_link_errors("[x](internal:kpis/" + "9" * 100 + ")")

    # then
    assert problem.message.startswith('Link "[x](internal:kpis/999')
    assert '…": The id in an internal link' in problem.message


def test_a_problem_message_lists_the_known_sections():
    (problem,) = find_link_errors("[t](internal:secret/1)")
    assert problem.message.endswith(
        "Unknown section secret in an internal link; use one of: dashboards/company, "
        "dashboards/departments, dashboards/teams, kpis, leaderboard/company, leaderboard/departments, "
        "leaderboard/teams, people."
    )


@pytest.mark.parametrize(
    ("target", "href"),
    [
        ("internal:kpis/12", "/kpis/12/"),
        ("internal:dashboards/company/1", "/dashboards/company/"),
        ("internal:dashboards/departments/3", "/dashboards/departments/3/"),
        ("internal:dashboards/teams/4", "/dashboards/teams/4/"),
        ("internal:people/5", "/people/5/"),
        ("internal:leaderboard/company/1", "/leaderboard/?scope=company"),
        ("internal:leaderboard/departments/3", "/leaderboard/?scope=department%3A3"),
        ("internal:leaderboard/teams/4", "/leaderboard/?scope=team%3A4"),
    ],
)
def test_every_section_a_person_opens_can_be_linked(target, href):
    # given
    text = f"[t]({target})"
    section, _slash, target_id = target.removeprefix("internal:").rpartition("/")

    # then
    assert find_link_errors(text) == []
    assert internal_targets(text) == [(section, int(target_id))]
    assert render(text) == f'<a href="{href.replace("&", "&amp;")}">t</a>'


def test_render_links_only_the_targets_the_reader_may_open():
    # given
    text = (
        "See [the team](internal:dashboards/teams/4) and [Ann](internal:people/5) & [w](https://ok.example)"
    )

    # when
    html = render(text, openable={("dashboards/teams", 4)})

    # then the person's profile is its title, as text; external links stay links
    assert html == (
        'See <a href="/dashboards/teams/4/">the team</a> and Ann &amp; '
        '<a href="https://ok.example" rel="noopener noreferrer nofollow" target="_blank">w</a>'
    )


# internal_targets


def test_internal_targets_are_the_valid_internal_links_once_each_in_order():
    # given
    text = (
        "[a](internal:kpis/12) [b](https://ok.example) [c](internal:kpis/3) "
        "[d](internal:kpis/12) [e](internal:secret/4) [f](internal:kpis/x) [](internal:kpis/5)"
    )

    # then
    assert internal_targets(text) == [("kpis", 12), ("kpis", 3)]


def test_a_text_without_internal_links_has_no_internal_targets():
    assert internal_targets("[b](https://ok.example) plain") == []


# render


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("a &amp; b", "a &amp;amp; b"),
        ('it\'s "quoted"', "it&#x27;s &quot;quoted&quot;"),
        ("one\ntwo\r\nthree\rfour", "one<br>two<br>three<br>four"),
        ("[draft] see (a) and [b]", "[draft] see (a) and [b]"),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
        ("[x](JAVASCRIPT:alert(1))", "[x](JAVASCRIPT:alert(1))"),
        ("[x](  javascript:alert(1))", "[x](  javascript:alert(1))"),
        ("[x](java&#x09;script:alert(1))", "[x](java&amp;#x09;script:alert(1))"),
        (
            "[x](data:text/html,<script>alert(1)</script>)",
            "[x](data:text/html,&lt;script&gt;alert(1)&lt;/script&gt;)",
        ),
        ('[t](https://ok.example/" onclick="x)', "[t](https://ok.example/&quot; onclick=&quot;x)"),
        ("[t](https://ok.example/a_(b))", "[t](https://ok.example/a_(b))"),
        ("[t](internal:kpis/abc)", "[t](internal:kpis/abc)"),
        ("[t](internal:secret/1)", "[t](internal:secret/1)"),
        ("[](https://ok.example)", "[](https://ok.example)"),
        ("[t](https://ok.example)", external("https://ok.example", "t")),
        (
            "[<b onmouseover=alert(1)>](https://ok.example)",
            external("https://ok.example", "&lt;b onmouseover=alert(1)&gt;"),
        ),
        ('["><script>](https://ok.example)', external("https://ok.example", "&quot;&gt;&lt;script&gt;")),
        (
            "[Q&amp;A](https://ok.example/?a=1&b=2)",
            external("https://ok.example/?a=1&amp;b=2", "Q&amp;amp;A"),
        ),
        ("[t](internal:kpis/12)", '<a href="/kpis/12/">t</a>'),
        ("[[a](https://x.example)]", "[" + external("https://x.example", "a") + "]"),
        (
            "Call <b>[the desk](https://ok.example/desk)</b>\nthen [report](internal:kpis/3).",
            "Call &lt;b&gt;"
            + external("https://ok.example/desk", "the desk")
            + '&lt;/b&gt;<br>then <a href="/kpis/3/">report</a>.',
        ),
    ],
)
def test_render(text, html):
    assert render(text) == html


HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[x](javascript:alert(1))",
    "[x](JAVASCRIPT:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[<script>alert(1)</script>](https://ok.example)",
    "[<b onmouseover=alert(1)>](https://ok.example)",
    '[t](https://ok.example/" onclick="x)',
    '[t](https://ok.example/"onclick="x)',
    "[t](https://ok.example/'onclick='x)",
    '[t](https://ok.example/"><script>alert(1)</script>)',
    '[" onclick="x](https://ok.example)',
    "[[a](https://x.example)](javascript:alert(1))",
]

_OUR_MARKUP = re.compile(rf'<a href="(?:https?://|/)[^"<>\s]*"(?: {EXTERNAL_ATTRS})?>|</a>|<br>')


@pytest.mark.parametrize("text", HOSTILE)
def test_rendered_html_contains_only_our_markup(text):
    # when
    html = render(text)

    # then
    assert "<script" not in html
    assert "javascript:" not in "".join(re.findall(r'href="[^"]*"', html))
    assert not re.search(r'[<>"]', _OUR_MARKUP.sub("", html))


def test_render_returns_a_safe_string():
    assert isinstance(render("[t](https://ok.example) & more"), SafeString)


def test_render_escapes_input_marked_safe():
    # given: a caller mistakenly passes a SafeString
    text = mark_safe("<i>x</i> [<b>t</b>](https://ok.example)")  # the mistake under test

    # then
    assert render(text) == "&lt;i&gt;x&lt;/i&gt; " + external("https://ok.example", "&lt;b&gt;t&lt;/b&gt;")


def test_render_uses_the_kpi_page_url_when_it_is_routed(monkeypatch):
    # given
    monkeypatch.setattr(terms, "reverse", lambda name, args: f"/app/{name}/{args[0]}/")

    # then
    assert render("[t](internal:kpis/12)") == '<a href="/app/kpi-page/12/">t</a>'


def test_render_uses_the_section_url_builder(monkeypatch):
    # given
    monkeypatch.setitem(
        terms.INTERNAL_SECTIONS, "materials", lambda target_id: f"/materials/{target_id}/?a=1&b=2"
    )

    # then
    assert render("[m](internal:materials/4)") == '<a href="/materials/4/?a=1&amp;b=2">m</a>'
    assert internal_targets("[m](internal:materials/4)") == [("materials", 4)]


# render_plain


def test_render_plain_writes_links_as_title_and_url():
    # given
    text = "Call <b>[the desk](https://ok.example/desk)</b> & [report](internal:kpis/3)\n[x](javascript:1)"

    # then
    assert (
        render_plain(text)
        == "Call <b>the desk (https://ok.example/desk)</b> & report (/kpis/3/)\n[x](javascript:1)"
    )


def test_render_plain_puts_the_base_url_before_internal_links():
    assert render_plain("[r](internal:kpis/3) [e](https://ok.example)", base_url="https://app.example/") == (
        "r (https://app.example/kpis/3/) e (https://ok.example)"
    )
