"""The page templates, shared by the page and API-docs routers: Jinja2 over templates/, and the filter
that writes a hyperparameter's LaTeX symbol as HTML."""

from __future__ import annotations

import re
import unicodedata

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app.settings import TEMPLATES

templates = Jinja2Templates(directory=TEMPLATES)


def _greek(name: str) -> str | None:
    """A named Greek letter (alpha, Delta) as its character; None for any other name."""
    try:
        # Unicode spells lambda "LAMDA".
        upper = {"LAMBDA": "LAMDA"}.get(name.upper(), name.upper())
        return unicodedata.lookup(f"GREEK {'CAPITAL' if name[0].isupper() else 'SMALL'} LETTER {upper}")
    except KeyError:
        return None


def _plain(tex: str, script: bool = False) -> str:
    r"""LaTeX as text: \mathrm{dec} -> dec, \times -> ×, \alpha -> α, braces dropped; in a sub- or
    superscript (`script`) the marks of nested ones too, so T_{\alpha,\beta_3} reads α,β3 below the T."""
    text = re.sub(r"\\mathrm\{([^{}]*)\}", r"\1", tex).replace("\\times", "×")
    text = re.sub(r"\\([A-Za-z]+)", lambda m: _greek(m.group(1)) or m.group(0), text)
    text = text.replace("{", "").replace("}", "")
    return text.replace("_", "").replace("^", "") if script else text


def symbol_html(tex: str) -> Markup:
    r"""A hyperparameter's LaTeX symbol as HTML for a slider label: \beta_1 -> β<sub>1</sub>.

    Symbols are a letter (Latin or a named Greek one) with an optional sub- or
    superscript, which may hold Greek letters too (T_{\alpha,\beta_3}); any
    other symbol (\mathrm{dec}, A{\times}B) is shown as upright text.
    """
    tex = tex.strip()
    m = re.fullmatch(r"(\\?[A-Za-z]+)(?:_(\{(?:[^{}]|\{[^{}]*\})*\}|[^{}^_]))?(?:\^(\{[^{}]*\}|[^{}^_]))?", tex)
    base = None if not m else _greek(m.group(1)[1:]) if m.group(1).startswith("\\") else m.group(1)
    if base is None:
        return Markup.escape(_plain(tex))
    _, sub, sup = m.groups()
    html = Markup("<i>{}</i>").format(base)
    if sub:
        html += Markup("<sub>{}</sub>").format(_plain(sub, script=True))
    if sup:
        html += Markup("<sup>{}</sup>").format(_plain(sup, script=True))
    return html


templates.env.filters["symbol"] = symbol_html
