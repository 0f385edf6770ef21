"""The page templates, shared by the page and API-docs routers: Jinja2 over templates/, and the filter
that writes a hyperparameter's LaTeX symbol as HTML."""

from __future__ import annotations

import re
import unicodedata

from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from app.settings import TEMPLATES

templates = Jinja2Templates(directory=TEMPLATES)


def symbol_html(tex: str) -> Markup:
    r"""A hyperparameter's LaTeX symbol as HTML for a slider label: \beta_1 -> β<sub>1</sub>.

    Symbols are a letter (Latin or a named Greek one) with an optional
    sub- or superscript; anything else is shown as it is written.
    """
    m = re.fullmatch(r"\\?([A-Za-z]+)(?:_\{?([^{}^]+)\}?)?(?:\^\{?([^{}]+)\}?)?", tex.strip())
    if not m:
        return Markup.escape(tex)
    base, sub, sup = m.groups()
    if tex.startswith("\\"):
        try:
            # Unicode spells lambda "LAMDA".
            name = {"LAMBDA": "LAMDA"}.get(base.upper(), base.upper())
            base = unicodedata.lookup(f"GREEK {'CAPITAL' if base[0].isupper() else 'SMALL'} LETTER {name}")
        except KeyError:
            return Markup.escape(tex)
    html = Markup("<i>{}</i>").format(base)
    if sub:
        html += Markup("<sub>{}</sub>").format(sub)
    if sup:
        html += Markup("<sup>{}</sup>").format(sup)
    return html


templates.env.filters["symbol"] = symbol_html
