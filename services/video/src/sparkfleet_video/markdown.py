"""The host's NOTES.md as safe HTML for the dashboard: markdown-it-py (CommonMark + tables), then nh3 (ammonia).

The markdown may hold HTML (the template's "Ansible managed" comment): markdown-it passes it through and nh3
keeps only harmless tags and attributes, drops comments, scripts and event handlers, and allows only http(s) and
mailto links. Headings move one level down: the page already has its own h1 and h2.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

URL_SCHEMES = {"http", "https", "mailto"}


def _demote_headings(state) -> None:
    for token in state.tokens:
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{min(6, int(token.tag[1]) + 1)}"


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True}).enable("table")
    md.core.ruler.push("demote_headings", _demote_headings)
    return md


_MD = _parser()


def to_html(text: str) -> str:
    html = _MD.render(text)
    return nh3.clean(html, url_schemes=URL_SCHEMES, link_rel="noopener noreferrer")
