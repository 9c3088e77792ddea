"""Markdown and self-contained HTML writers for the report's block list (see :mod:`obliviate.report.doc`).

The HTML has its CSS inline and its figures embedded as base64 PNG: no scripts, fonts, stylesheets or any other
external resource, so it opens offline and can be mailed as one file.
"""

from __future__ import annotations

import base64
import html
import re

from obliviate.report.doc import Block, Bullets, Cell, Figure, Heading, Note, Para, Table

_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\((#[a-z0-9\-]+)\)")  # internal anchors only: the page stays self-contained


def slug(text: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", text.lower()).strip().replace(" ", "-")


# ---------------------------------------------------------------------------------------------------- Markdown
def _md_cell(c: Cell) -> str:
    text = c.text.replace("|", "\\|")
    return f"**{text}**" if c.bold and text else text


def _md_table(t: Table) -> list[str]:
    align = ["---" if i < t.numeric_from else "---:" for i in range(len(t.header))]
    lines = ["| " + " | ".join(h.replace("|", "\\|") for h in t.header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    if t.caption:
        lines += ["", f"*{t.caption}*"]
    return lines


def to_markdown(blocks: list[Block]) -> str:
    """The report as GitHub-flavoured Markdown; figures link to ``figures/<name>.png``."""
    out: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text]
        elif isinstance(b, Para):
            out += [b.text]
        elif isinstance(b, Note):
            out += [f"> **{b.prefix}:** {b.text}"]
        elif isinstance(b, Table):
            out += _md_table(b)
        elif isinstance(b, Figure):
            out += [f"![{b.caption}](figures/{b.name}.png)", "", f"*{b.caption}*"]
        elif isinstance(b, Bullets):
            out += [f"- {item}" for item in b.items]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


# ---------------------------------------------------------------------------------------------------- HTML
def inline(text: str) -> str:
    """Escape ``text`` for HTML, then render `code`, **bold** and [internal](#links)."""
    s = html.escape(text, quote=False)
    s = _CODE.sub(r"<code>\1</code>", s)
    s = _BOLD.sub(r"<strong>\1</strong>", s)
    return _LINK.sub(r'<a href="\2">\1</a>', s)


def _html_table(t: Table) -> str:
    head = "".join(
        f'<th class="{"num" if i >= t.numeric_from else ""}">{inline(h)}</th>' for i, h in enumerate(t.header)
    )
    body = []
    for r, row in enumerate(t.rows):
        role = t.row_roles[r] if r < len(t.row_roles) else "run"
        cells = []
        for i, c in enumerate(row):
            cls = " ".join(x for x in ("num" if i >= t.numeric_from else "", "muted" if c.muted else "") if x)
            content = f"<strong>{inline(c.text)}</strong>" if c.bold else inline(c.text)
            cells.append(f'<td class="{cls}">{content}</td>' if cls else f"<td>{content}</td>")
        body.append(f'<tr class="role-{role}">{"".join(cells)}</tr>')
    caption = f"<caption>{inline(t.caption)}</caption>" if t.caption else ""
    return (
        f'<div class="tablewrap"><table>{caption}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _html_block(b: Block) -> str:
    if isinstance(b, Heading):
        return f'<h{b.level} id="{slug(b.text)}">{inline(b.text)}</h{b.level}>'
    if isinstance(b, Para):
        return f"<p>{inline(b.text)}</p>"
    if isinstance(b, Note):
        return f'<p class="note"><span class="tag">{html.escape(b.prefix)}:</span> {inline(b.text)}</p>'
    if isinstance(b, Table):
        return _html_table(b)
    if isinstance(b, Figure):
        data = base64.b64encode(b.png).decode("ascii")
        alt = html.escape(b.caption)
        return (
            f'<figure><img src="data:image/png;base64,{data}" alt="{alt}">'
            f"<figcaption>{inline(b.caption)}</figcaption></figure>"
        )
    if isinstance(b, Bullets):
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in b.items) + "</ul>"
    raise TypeError(f"unknown block {b!r}")


_CSS = """
:root { --fg:#1d2330; --muted:#8a93a6; --line:#dde2ea; --head:#f3f5f9; --gold:#fbf3dc; --orig:#eef0f3;
  --accent:#2f5fb3; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f7fa; color: var(--fg);
  font: 15px/1.5 -apple-system, "Segoe UI", "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
main { max-width: 1180px; margin: 24px auto; background: #fff; padding: 28px 40px 40px; border: 1px solid var(--line);
  border-radius: 8px; }
h1 { font-size: 28px; margin: 0 0 4px; } h2 { font-size: 21px; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); } h3 { font-size: 17px; margin: 24px 0 8px; }
code { font: 13px/1.4 "DejaVu Sans Mono", Menlo, Consolas, monospace; background: #f1f3f7; padding: 1px 4px;
  border-radius: 3px; }
.tablewrap { overflow-x: auto; margin: 10px 0 8px; }
table { border-collapse: collapse; font-size: 13.5px; min-width: 50%; }
caption { caption-side: bottom; text-align: left; color: var(--muted); font-size: 12.5px; padding-top: 4px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; white-space: nowrap; }
th { background: var(--head); font-weight: 600; border-bottom: 2px solid #c9d0dc; white-space: normal;
  max-width: 10em; vertical-align: bottom; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td.muted { color: var(--muted); }
tr.role-gold td { background: var(--gold); } tr.role-original td { background: var(--orig); }
tbody tr:hover td { background: #eef4ff; }
figure { margin: 14px 0 18px; } figure img { max-width: 100%; height: auto; border: 1px solid var(--line);
  border-radius: 4px; } figcaption { color: #566074; font-size: 13px; margin-top: 4px; }
p.note { background: #fff6e5; border-left: 4px solid #e0a030; padding: 6px 10px; margin: 8px 0; font-size: 14px; }
p.note .tag { font-weight: 600; color: #a0650a; }
nav.toc { background: var(--head); border-radius: 6px; padding: 8px 14px; margin: 14px 0; font-size: 14px; }
nav.toc a { color: var(--accent); text-decoration: none; margin-right: 16px; } a { color: var(--accent); }
.meta { color: var(--muted); font-size: 13px; }
"""


def to_html(blocks: list[Block], *, title: str) -> str:
    """The report as one self-contained HTML page (inline CSS, base64 images, no scripts)."""
    toc = "".join(
        f'<a href="#{slug(b.text)}">{inline(b.text)}</a>' for b in blocks if isinstance(b, Heading) and b.level == 2
    )
    parts = []
    for b in blocks:
        if isinstance(b, Heading) and b.level == 2 and toc:
            parts.append(f'<nav class="toc">{toc}</nav>')  # the table of contents goes before the first section
            toc = ""
        parts.append(_html_block(b))
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<link rel="icon" href="data:,"><title>{html.escape(title)}</title><style>{_CSS}</style></head>\n'
        f"<body><main>\n{chr(10).join(parts)}\n</main></body></html>\n"
    )
