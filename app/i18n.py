"""Languages: which one a request wants, its messages, the catalog and errors in it, and its font for exports.

Every message has one source, `app/locales/<locale>/LC_MESSAGES/messages.po`, a gettext catalog whose msgids
are the English text itself (see ARCHITECTURE.md, "Languages"). `python -m app.services.messages` extracts
them (the registry, the presets, the page's run settings and every error template in core/ and app/) and
updates each catalog with Babel; the web layer, the page (through the catalog it embeds or fetches) and the
exports all read the .po through this module, so there is no second copy to keep in step.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from babel.messages.pofile import read_po
from fastapi import Depends, Query, Request

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT = "en"
# The language tags the page, the API and the links use, each with its gettext locale directory.
LANGUAGES = {"en": None, "zh-CN": "zh_CN"}
NAMES = {"en": "English", "zh-CN": "简体中文"}
COOKIE = "lang"
ERROR = "error"  # the msgctxt of error templates

# The catalog keys whose string values are text for people; every other string (ids, LaTeX, queries,
# formulas, colours) is data and must stay as it is.
TEXT_KEYS = frozenset({"label", "help", "title", "question", "group_label"})


# --- which language ------------------------------------------------------------------------------

def supported(tag: str | None) -> str | None:
    """The supported language a tag asks for (zh, zh-Hans, zh_CN -> zh-CN; en-GB -> en), or None."""
    if not tag or not isinstance(tag, str):
        return None
    parts = tag.strip().replace("_", "-").lower().split("-")
    if parts[0] == "zh":
        # Readers of Traditional Chinese get Simplified rather than English until a zh-TW catalog exists.
        return "zh-CN"
    if parts[0] == "en":
        return "en"
    return None


def accepted(header: str | None) -> list[str]:
    """An Accept-Language header's tags, most wanted first (q=0 means "not this one"; ties keep their order)."""
    ranked = []
    for i, item in enumerate((header or "").split(",")):
        tag, _, params = item.strip().partition(";")
        q = 1.0
        m = re.search(r"q\s*=\s*([^;\s]*)", params)
        if m:
            try:
                q = float(m.group(1))
            except ValueError:
                q = 0.0  # a weight that is not a number: the tag is not asked for
        if tag and q > 0:
            ranked.append((-q, i, tag.strip()))
    return [tag for _, _, tag in sorted(ranked)]


def negotiate(query: str | None = None, cookie: str | None = None, accept_language: str | None = None) -> str:
    """The language of a request: the link's `lang`, else the cookie the page's switch sets, else the
    browser's Accept-Language, else English. A value nobody supports is passed over, not an error: a link
    that asks for a language this server lacks still opens."""
    for tag in (query, cookie, *accepted(accept_language)):
        if (lang := supported(tag)) is not None:
            return lang
    return DEFAULT


def request_lang(request: Request) -> str:
    """The language a request asks for (see `negotiate`)."""
    return negotiate(request.query_params.get("lang"), request.cookies.get(COOKIE),
                     request.headers.get("accept-language"))


def _lang_param(request: Request, lang: Annotated[str | None, Query(
        description="the language of labels, help and error messages: zh-CN or en (else the lang cookie, "
                    "else Accept-Language, else en)")] = None) -> str:
    return negotiate(lang, request.cookies.get(COOKIE), request.headers.get("accept-language"))


# A route's language, with `lang` in its OpenAPI parameters; error handlers call request_lang directly.
Lang = Annotated[str, Depends(_lang_param)]


def language_headers(lang: str) -> dict:
    """Headers of an answer whose text depends on the language: what it is in, and what caches must key on."""
    return {"content-language": lang, "vary": "Accept-Language, Cookie"}


# --- the messages ---------------------------------------------------------------------------------

def po_path(lang: str) -> Path:
    return LOCALES / LANGUAGES[lang] / "LC_MESSAGES" / "messages.po"


# Where the page's scripts live: their messages are the ones the page is sent (the templates are translated
# on the server, and the registry's text comes translated in the catalog).
SCRIPTS = "static/js/"


@lru_cache(maxsize=None)
def _read(lang: str) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    if LANGUAGES.get(lang) is None:
        return {}, {}, {}
    with po_path(lang).open("rb") as f:
        catalog = read_po(f)
    texts, errors, scripts = {}, {}, {}
    for m in catalog:
        if m.id and isinstance(m.id, str) and m.string and not m.fuzzy:
            (errors if m.context == ERROR else texts)[m.id] = m.string
            if m.context != ERROR and any(where.startswith(SCRIPTS) for where, _ in m.locations):
                scripts[m.id] = m.string
    return texts, errors, scripts


def messages(lang: str) -> dict[str, str]:
    """English text -> its translation, for every text translated and reviewed (fuzzy ones are left out,
    so a sentence whose English changed shows in English until someone translates it again)."""
    return _read(lang)[0]


def script_messages(lang: str) -> dict[str, str]:
    """The translations of the texts static/js/ writes with `t("...")`, which the page embeds for its scripts."""
    return _read(lang)[2]


def error_templates(lang: str) -> dict[str, str]:
    """English error template -> its translation (msgctxt "error"; see app/services/messages.py)."""
    return _read(lang)[1]


def placeholders(template: str) -> list[str]:
    """The {…} fields of a str.format template, in order."""
    return [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]


class Translator:
    """One language's messages: `t(text)` for the registry's and the page's text, `error(msg)` for an
    error sentence, `catalog(obj)` for a whole catalog."""

    def __init__(self, lang: str):
        self.lang = lang
        self.messages = messages(lang)
        self._errors = _error_patterns(lang)

    def __call__(self, text: str, *values) -> str:
        """`text` in this language; with values, its {0}, {1}… filled in after translation (a translation may
        put them in another order)."""
        out = self.messages.get(text, text)
        return out.format(*values) if values else out

    t = gettext = __call__

    def error(self, msg: str, depth: int = 2) -> str:
        """An error sentence in this language: the template it was made from, translated, with the same
        values (field names, numbers and limits are kept exactly as the English sentence has them).

        A value that is itself a whole error sentence (the map's "the map (view=map): {0}" wraps core's) is
        translated too; a sentence no template makes stays English rather than half translated."""
        if not self._errors or not isinstance(msg, str):
            return msg
        for pattern, names, translated in self._errors:
            m = pattern.fullmatch(msg)
            if m is not None:
                values = [""] * len(names)
                for name, value in zip(names, m.groups()):
                    values[int(name)] = self.error(value, depth - 1) if depth > 0 else value
                return translated.format(*values)
        return msg

    def catalog(self, obj):
        """A copy of a catalog (dicts and lists) with every text value translated."""
        if not self.messages:
            return obj
        return _walk(obj, self)


def _walk(obj, t: Translator, key: str | None = None):
    if isinstance(obj, dict):
        return {k: _walk(v, t, k) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_walk(v, t, key) for v in obj]
    if isinstance(obj, str) and key in TEXT_KEYS:
        return t(obj)
    return obj


def catalog_texts(obj, key: str | None = None) -> list[str]:
    """Every text in a catalog that `Translator.catalog` translates, in the order it meets them."""
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in catalog_texts(v, k)]
    if isinstance(obj, (list, tuple)):
        return [s for v in obj for s in catalog_texts(v, key)]
    return [obj] if isinstance(obj, str) and key in TEXT_KEYS and obj else []


def template_pattern(template: str) -> tuple[re.Pattern, list[str]]:
    """A regular expression that matches the sentences a template makes, and its fields in group order."""
    parts, names = [], []
    for literal, name, _, _ in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append("(.*?)")
            names.append(name)
    return re.compile("".join(parts), re.DOTALL), names


@lru_cache(maxsize=None)
def _error_patterns(lang: str) -> tuple:
    out = []
    for msgid, msgstr in error_templates(lang).items():
        pattern, names = template_pattern(msgid)
        out.append((len(re.sub(r"\{\d+\}", "", msgid)), pattern, names, msgstr))
    # The template with the most fixed text first: "{0} is not a whole number" before "{0} is not {1}".
    out.sort(key=lambda p: -p[0])
    return tuple(p[1:] for p in out)


@lru_cache(maxsize=None)
def translator(lang: str) -> Translator:
    """The translator for a supported language (English: every text as it is)."""
    if lang not in LANGUAGES:
        raise KeyError(f"unsupported language {lang!r}; supported: {', '.join(LANGUAGES)}")
    return Translator(lang)


def translate_errors(errors: list[dict], lang: str) -> list[dict]:
    """FastAPI-shaped error items with their `msg` in this language; `loc` and `type` stay as they are."""
    t = translator(lang)
    return [{**e, "msg": t.error(e["msg"])} if isinstance(e.get("msg"), str) else e for e in errors]


# --- fonts for the exports -------------------------------------------------------------------------

# Families with Simplified Chinese glyphs, best first; the Dockerfile and scripts/test install the first's
# package (fonts-wqy-microhei). Each is tried as matplotlib names the family.
CJK_FAMILIES = ("WenQuanYi Micro Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC")
# matplotlib draws each glyph from the first family in the list that has it: Latin, Greek and the math signs
# from its own DejaVu Sans as in English, the Han characters from the CJK font.
BASE_FAMILY = "DejaVu Sans"


@lru_cache(maxsize=1)
def cjk_font() -> tuple[str, str] | None:
    """(family, file) of an installed font with Chinese glyphs, or None.

    matplotlib's font list is cached on disk; a font installed after that cache was built is missing from
    it, so the system's font files are looked through once more before giving up.
    """
    from matplotlib import font_manager

    def find():
        by_name = {f.name: f.fname for f in font_manager.fontManager.ttflist}
        return next(((name, by_name[name]) for name in CJK_FAMILIES if name in by_name), None)

    found = find()
    if found is None:
        for path in font_manager.findSystemFonts():
            if re.search(r"wqy|noto.*cjk|sourcehan|notosanssc", Path(path).name, re.IGNORECASE):
                font_manager.fontManager.addfont(path)
        found = find()
    return found


def font_families(lang: str) -> list[str]:
    """matplotlib's font.family for text in this language: DejaVu Sans first, then a CJK font for Chinese."""
    if lang == "zh-CN" and (font := cjk_font()) is not None:
        return [BASE_FAMILY, font[0]]
    return [BASE_FAMILY]


def font_rc(lang: str) -> dict:
    """rcParams for `matplotlib.rc_context` so an export's text in this language has every glyph."""
    return {"font.family": font_families(lang), "axes.unicode_minus": True}
