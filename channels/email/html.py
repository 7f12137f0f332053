"""Turn an HTML mail body into readable text, once with quoted history and once without.

Mail clients put the quoted conversation of an HTML reply into well-known containers, so removing
those elements is more reliable than guessing quote boundaries in the rendered text. `selectolax`
(lexbor) does the removal because it is fast and tolerant; `inscriptis` renders the layout
(paragraphs, lists, tables) because raw node text loses it. `html2text` is not used: it is GPL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from inscriptis import get_text
from inscriptis.css_profiles import CSS_PROFILES
from inscriptis.model.config import ParserConfig
from selectolax.lexbor import LexborHTMLParser

# Mails above this are newsletters or pasted logs; rendering them costs more than they are worth
# and a pathological document must not stall the mailbox poller.
MAX_HTML_CHARS = 512 * 1024

# Never readable text, whatever the client.
_INVISIBLE_SELECTOR = "head, script, style, title, template, noscript"

# The containers mail clients wrap quoted history in:
# Gmail `.gmail_quote`; Apple Mail and Thunderbird `blockquote[type=cite]`; Outlook (desktop and
# web) `#divRplyFwdMsg` for the "From: … Sent: …" block and `#appendonsend` as the marker before it.
_QUOTE_SELECTOR = (
    ".gmail_quote, blockquote[type=cite], #divRplyFwdMsg, #appendonsend, "
    ".moz-cite-prefix, .yahoo_quoted, #mail-editor-reference-message-container"
)

# The strict profile: the default "relaxed" one indents every nested <div> by two spaces and pads
# <span>s with blanks, which turns Outlook's deeply nested markup into ragged text.
_LAYOUT = ParserConfig(css=CSS_PROFILES["strict"])

# lxml refuses NUL and most C0 controls; they carry no text anyway.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*){2,}")


@dataclass(frozen=True)
class HtmlText:
    """Readable text of one HTML body: `full` keeps quoted history, `new` drops it."""

    full: str
    new: str


def convert_html(html: str) -> HtmlText:
    """Render an HTML body to text twice, with and without quoted blocks, parsing it only once.

    The second rendering is skipped when the document has no quote containers, which is the
    common case for a first message, so that most mails pay for one layout pass only.
    """
    html = _CONTROL_CHARS.sub("", html[:MAX_HTML_CHARS])
    tree = LexborHTMLParser(html)
    for node in tree.css(_INVISIBLE_SELECTOR):
        node.decompose()
    full = render_layout(tree)
    quotes = tree.css(_QUOTE_SELECTOR)
    if not quotes:
        return HtmlText(full=full, new=full)
    for node in quotes:
        node.decompose()
    return HtmlText(full=full, new=render_layout(tree))


def render_layout(tree: LexborHTMLParser) -> str:
    """Lay out a cleaned tree as text; fall back to bare node text if the layout engine fails.

    inscriptis re-parses with lxml and walks the tree recursively: a hostile or deeply nested
    document can exhaust the stack, and lxml silently drops content nested past its depth limit.
    A plain rendering is better than no body at all.
    """
    try:
        text = get_text(tree.html or "", _LAYOUT)
    except (RecursionError, ValueError, TypeError, LookupError):
        text = ""
    if not text.strip():
        body = tree.body
        text = body.text(separator="\n") if body is not None else ""
    return tidy_rendered(text)


def tidy_rendered(text: str) -> str:
    """Strip trailing blanks on each line and collapse long runs of empty lines."""
    text = "\n".join(line.rstrip() for line in text.replace("\xa0", " ").splitlines())
    return _BLANK_RUNS.sub("\n\n", text).strip()
