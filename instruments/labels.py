"""Item labels written as HTML, as REDCap allows: sanitized once, when a definition is loaded.

REDCap shows field labels, section headers and field notes as HTML, and data dictionaries carry
what their authors typed: ``<b>Past month</b>``, ``<div style="margin-left: 5em;">``, now and then
a ``<script>`` pasted from elsewhere. An item marked ``html`` keeps its markup through
:func:`clean_label`, an allow-list applied by nh3 (the ammonia sanitizer): the tags a label needs
for emphasis, line breaks, lists and links, no attributes but a link's address and title, no
``style`` (a label's layout is the page's business) and no event handlers. The cleaned text is
what the definition stores and fingerprints, so the trainee page may show it as markup as it is.

:func:`plain_label` is the same text for places that are not HTML: the codebook, CSV headers, SPSS
variable labels, the PDF report's tables.
"""

from __future__ import annotations

import html
import re

import nh3

ALLOWED_TAGS = frozenset({
    "b", "i", "em", "strong", "u", "br", "p", "span", "div", "center", "ul", "ol", "li", "a",
})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}}
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
# A tag (<b>, </div>, <br/>) or an entity (&amp;, &#39;): what makes a REDCap label HTML.
MARKUP = re.compile(r"<\s*/?\s*[A-Za-z][^>]*>|&(#\d+|#x[0-9A-Fa-f]+|[A-Za-z]+);")
# Tags that end a line or a block: their words must not run into the next ones.
BREAKS = re.compile(r"<\s*/?\s*(br|p|div|li|center)\b[^>]*>", re.IGNORECASE)


def looks_like_html(text: str) -> bool:
    """True when ``text`` holds a tag or an entity, so it reads differently as HTML."""
    return MARKUP.search(text) is not None


def clean_label(text: str) -> str:
    """``text`` with every tag, attribute and link scheme not on the allow-list removed.

    Content of removed ``script`` and ``style`` elements goes with them; other removed tags keep
    their text. Cleaning clean text changes nothing, so a definition loads to the same fingerprint
    however often it is written and read.
    """
    return nh3.clean(
        text,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(ALLOWED_SCHEMES),
        link_rel="noopener noreferrer",
        strip_comments=True,
    ).strip()


def plain_label(text: str | None, html_text: bool = True) -> str:
    """The words of a label, without markup and with runs of white space made one space."""
    if text is None:
        return ""
    if html_text:
        text = BREAKS.sub(" ", text)
        text = html.unescape(nh3.clean(text, tags=set(), clean_content_tags={"script", "style"}))
    return " ".join(text.split())
