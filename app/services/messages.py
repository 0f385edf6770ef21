"""Every message Gradscape shows, collected from where it is written, and the catalogs kept in step with them.

Two kinds of message, both with the English text as msgid:
- texts: the registry's labels, help texts and group titles, the schedules', the presets' titles and
  questions, the page's run settings and view names (everything `app.i18n.TEXT_KEYS` marks in the catalog);
  the templates' `t("...")` calls (read with Jinja's own extractor) and the scripts' `t("...")` calls in
  static/js/ (a double-quoted literal, values as {0}, {1}…); the exports' and the CLI's `t("...")` calls;
- errors (msgctxt "error"): the sentences of core's `InvalidInput` and the API's `Invalid`, read from the
  source: an f-string becomes a str.format template with positional fields, `{0} = {1} is outside [{2}, {3}]`,
  whose values `app.i18n.Translator.error` carries over from the English sentence untouched.

`python -m app.services.messages` rewrites `app/locales/<locale>/LC_MESSAGES/messages.po` with Babel: new
messages are added untranslated, a message whose English changed keeps its old translation marked fuzzy (so it
is shown in English until reviewed), messages no longer used become obsolete. tests/test_i18n.py fails while
any message lacks a translation.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from app import i18n
from app.presets import PRESETS
from app.services.catalog import VIEW_LABELS, registry, run_settings
from app.services.formulas import custom_surface_entry
from app.services.networks import network_surface_entry
from core.spec import GROUPS

ROOT = Path(__file__).resolve().parents[2]
ERROR = "error"
# The exceptions whose message a person reads, and which argument holds it.
ERROR_CALLS = {"InvalidInput": 1, "Invalid": 1, "FormulaError": 0, "ExternalError": 0, "Busy": 0, "error": 0,
               "ValueError": 0}
# Where they are raised; the exports' and the CLI's too, though only their routes' 422s are translated today.
ERROR_SOURCES = ("core", "app")


HEADER = """\
# Gradscape's messages. The msgids are the English text; regenerate with `python -m app.services.messages`.
# A message whose English changed comes back fuzzy with its old translation: review it, then drop the flag.
#"""


@dataclass(frozen=True)
class Message:
    id: str
    context: str | None
    where: tuple[str, int]
    note: str = ""


def page_texts() -> dict:
    """The parts of the page's catalog that hold text, as the page receives them."""
    return {
        **registry(),
        "surfaces": [*registry()["surfaces"], custom_surface_entry(), network_surface_entry()],
        "run_settings": list(run_settings()),
        "presets": [p.as_dict() for p in PRESETS],
        "groups": [{"label": label} for label in GROUPS.values()],
        "views": [{"label": label} for label in VIEW_LABELS.values()],
    }


def texts() -> list[Message]:
    seen, out = set(), []
    for text in i18n.catalog_texts(page_texts()):
        if text not in seen:
            seen.add(text)
            out.append(Message(text, None, ("catalog", 0)))
    return out


# A script's message: t("English text", value, ...), its text one double-quoted JavaScript literal (read as JSON,
# whose escapes are JavaScript's for the characters a sentence holds).
SCRIPT_CALL = re.compile(r'(?<![\w.$])t\(\s*("(?:[^"\\\n]|\\.)*")')
# Any call of t(...) at all (not its definition), to find those whose text is not a literal (which could not be
# extracted).
ANY_SCRIPT_CALL = re.compile(r'(?<![\w.$])(?<!function )t\(')
TEMPLATES = ROOT / "templates"
SCRIPTS = ROOT / "static" / "js"
# The Python modules whose own words are drawn or printed through `t("...")`: the exports and the CLI.
PYTHON_TEXTS = ("app/exports", "app/cli.py")


def script_texts(path: Path) -> list[Message]:
    import json

    source = path.read_text(encoding="utf-8")
    where = path.relative_to(ROOT).as_posix()
    return [Message(json.loads(m.group(1)), None, (where, source.count("\n", 0, m.start()) + 1))
            for m in SCRIPT_CALL.finditer(source)]


def unextracted_script_calls(path: Path) -> list[int]:
    """Lines of t(...) calls in a script whose text is not a double-quoted literal."""
    source = path.read_text(encoding="utf-8")
    literal = {m.start() for m in SCRIPT_CALL.finditer(source)}
    return [source.count("\n", 0, m.start()) + 1 for m in ANY_SCRIPT_CALL.finditer(source) if m.start() not in literal]


def template_texts(path: Path) -> list[Message]:
    from jinja2 import Environment
    from jinja2.ext import extract_from_ast

    where = path.relative_to(ROOT).as_posix()
    tree = Environment().parse(path.read_text(encoding="utf-8"))
    return [Message(text, None, (where, line)) for line, _, text in extract_from_ast(tree, gettext_functions=("t",))
            if isinstance(text, str)]


def python_texts(path: Path) -> list[Message]:
    """t("...") and scene.t("...") calls in Python: a literal first argument (values go as further arguments)."""
    where = path.relative_to(ROOT).as_posix()
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = getattr(node, "func", None)
        name = name.id if isinstance(name, ast.Name) else getattr(name, "attr", None)
        if (isinstance(node, ast.Call) and name == "t" and node.args
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            out.append(Message(node.args[0].value, None, (where, node.lineno)))
    return out


def generated_texts(path: Path = SCRIPTS / "generated" / "kernels.js") -> list[Message]:
    """The reasons app/jsgen.py gives, in the module it writes, for leaving a kernel to the server: the page shows
    them beside a run the server computes (static/js/i18n.js `translated`)."""
    import json

    source = path.read_text(encoding="utf-8")
    m = re.search(r"export const REFUSED = (\{.*?\n\});", source, re.DOTALL)
    line = source.count("\n", 0, m.start()) + 1
    reasons = dict.fromkeys(r for kind in json.loads(m.group(1)).values() for r in kind.values())
    return [Message(r, None, (path.relative_to(ROOT).as_posix(), line)) for r in reasons]


def page_messages() -> list[Message]:
    """The texts the templates, the scripts, the exports and the CLI write themselves, in file order."""
    out = [m for path in sorted(TEMPLATES.glob("*.html")) for m in template_texts(path)]
    out += [m for path in sorted(SCRIPTS.rglob("*.js")) if "generated" not in path.parts for m in script_texts(path)]
    out += generated_texts()
    for source in PYTHON_TEXTS:
        paths = [ROOT / source] if source.endswith(".py") else sorted((ROOT / source).rglob("*.py"))
        out += [m for path in paths for m in python_texts(path)]
    return out


def template_of(node) -> tuple[str, list[str]] | None:
    """An error message's source as a str.format template and the source of each field, or None when the
    message is not written where it is raised (a variable, another error's reason)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.replace("{", "{{").replace("}", "}}"), []
    if isinstance(node, ast.JoinedStr):
        text, fields = "", []
        for part in node.values:
            if isinstance(part, ast.Constant):
                text += part.value.replace("{", "{{").replace("}", "}}")
            else:
                text += "{%d}" % len(fields)
                fields.append(ast.unparse(part.value))
        return text, fields
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = template_of(node.left), template_of(node.right)
        if left and right:
            shift = len(left[1])
            renumbered = right[0]
            for k in reversed(range(len(right[1]))):
                renumbered = renumbered.replace("{%d}" % k, "{%d}" % (k + shift))
            return left[0] + renumbered, left[1] + right[1]
    return None


def errors_in(path: Path) -> list[Message]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Dict):  # an error item or a stream's error line written out as a dict
            found = next((template_of(v) for k, v in zip(node.keys, node.values)
                          if isinstance(k, ast.Constant) and k.value in ("msg", "message")), None)
        elif isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            at = ERROR_CALLS.get(name)
            found = template_of(node.args[at]) if at is not None and len(node.args) > at else None
        else:
            continue
        if found is None:
            continue
        text, fields = found
        note = ", ".join(f"{{{k}}}: {src}" for k, src in enumerate(fields))
        out.append(Message(text, ERROR, (path.relative_to(ROOT).as_posix(), node.lineno), note))
    return out


# pydantic's errors that a request to this API can meet (wrong types, missing or extra keys, bad JSON); their
# sentences are pydantic's own, read from pydantic-core's list of them.
PYDANTIC_TYPES = (
    "missing", "extra_forbidden", "json_invalid", "json_type", "model_type", "model_attributes_type", "dict_type",
    "list_type", "string_type", "bool_type", "bool_parsing", "int_type", "int_parsing", "int_from_float",
    "float_type", "float_parsing", "finite_number", "greater_than", "greater_than_equal", "less_than",
    "less_than_equal", "too_short", "too_long", "string_too_short", "string_too_long", "enum", "literal_error",
    "value_error", "union_tag_invalid", "union_tag_not_found",
)


def pydantic_errors() -> list[Message]:
    """pydantic's message templates for PYDANTIC_TYPES, their named fields made positional like the others."""
    from pydantic_core._pydantic_core import list_all_errors

    known = {e["type"]: e["message_template_python"] for e in list_all_errors()}
    out = []
    for kind in PYDANTIC_TYPES:
        names = []

        def field(m):
            names.append(m.group(1))
            return "{%d}" % (len(names) - 1)

        text = re.sub(r"\{(\w+)\}", field, known[kind])
        out.append(Message(text, ERROR, (f"pydantic-core: {kind}", 0), ", ".join(f"{{{k}}}: {n}" for k, n in enumerate(names))))
    return out


def errors() -> list[Message]:
    """Every error template once: those raised in core/ and app/, then pydantic's (enum and literal_error share
    "Input should be {0}")."""
    raised = [m for source in ERROR_SOURCES for path in sorted((ROOT / source).rglob("*.py")) for m in errors_in(path)
              # "{0}: {1}" has no words to translate, and as a pattern would match any sentence with a colon.
              if re.search(r"[A-Za-z]", re.sub(r"\{\d+\}", "", m.id))]
    seen, out = set(), []
    for m in raised + pydantic_errors():
        if m.id not in seen:
            seen.add(m.id)
            out.append(m)
    return out


def collect() -> list[Message]:
    """Every message, texts first; a text met in several places is one message with each place as a location."""
    return texts() + page_messages() + errors()


def template() -> Catalog:
    """The messages as a catalog with no translations (what a .pot holds)."""
    catalog = Catalog(project="Gradscape", fuzzy=False)
    for m in collect():
        catalog.add(m.id, context=m.context, locations=[m.where] if m.where[1] else [],
                    auto_comments=[m.note] if m.note else [])
    return catalog


def update(lang: str) -> tuple[int, int]:
    """Bring one language's catalog in step with the messages; (messages, untranslated) after."""
    path = i18n.po_path(lang)
    if path.exists():
        with path.open("rb") as f:
            catalog = read_po(f, locale=i18n.LANGUAGES[lang])
    else:
        catalog = Catalog(locale=i18n.LANGUAGES[lang], project="Gradscape", fuzzy=False, header_comment=HEADER)
    created = catalog.creation_date
    catalog.update(template(), no_fuzzy_matching=False, update_header_comment=False)
    catalog.project, catalog.version = "Gradscape", "1"
    catalog.msgid_bugs_address = catalog.last_translator = catalog.language_team = "Gradscape"
    # Kept, so that running the extraction with nothing changed leaves the file as it was.
    catalog.creation_date = created
    catalog.obsolete.clear()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        # No line numbers: an edit above a raise would otherwise rewrite every location below it.
        write_po(f, catalog, width=120, sort_output=False, include_previous=True, include_lineno=False)
    todo = sum(1 for m in catalog if m.id and (not m.string or m.fuzzy))
    return len([m for m in catalog if m.id]), todo


def main(argv: list[str]) -> int:
    for lang, locale in i18n.LANGUAGES.items():
        if locale is None:
            continue
        total, todo = update(lang)
        print(f"{i18n.po_path(lang).relative_to(ROOT)}: {total} messages, {todo} to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
