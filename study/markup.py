"""Markdown that staff write, made safe to show to trainees (DESIGN §9, "Text that staff write").

Module pages, arm descriptions and the consent text are written in Markdown by coordinators and
read by trainees. They are rendered with markdown-it-py with raw HTML switched off, and the HTML
that comes out is then cleaned by nh3 (the ammonia sanitizer) against an allow-list of tags,
attributes and link schemes. Nothing here escapes by hand: markdown-it escapes what it does not
turn into markup, and nh3 removes whatever is not on the list, whatever produced it.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from markupsafe import Markup

# What a page of plain prose needs. No images: the Content-Security-Policy allows images from
# this site only, and a picture from elsewhere would tell another server who read the page.
# No h1: the page's own title is its h1.
ALLOWED_TAGS = frozenset({
    "p", "br", "hr", "strong", "em", "code", "pre", "blockquote",
    "ul", "ol", "li", "h2", "h3", "h4", "a",
})
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def render_markdown(text: str | None) -> Markup:
    """``text`` (Markdown) as clean HTML, ready for a template.

    Raw HTML in the source is shown as text; links keep only ``http``, ``https`` and ``mailto``
    addresses (``javascript:`` and ``data:`` links lose their ``href``) and open with
    ``rel="noopener noreferrer"``; every attribute not on the list (``onclick``, ``style``) goes.
    A heading ``#`` becomes an ``h2`` so that the page keeps one ``h1``.
    """
    if not text:
        return Markup("")
    html = _markdown.render(text).replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    cleaned = nh3.clean(html, tags=set(ALLOWED_TAGS), attributes=ALLOWED_ATTRIBUTES,
                        url_schemes=set(ALLOWED_SCHEMES), link_rel="noopener noreferrer",
                        strip_comments=True)
    return Markup(cleaned)  # noqa: S704  (cleaned by nh3 against the allow-list above)
