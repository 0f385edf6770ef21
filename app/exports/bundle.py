"""The page's ES modules as one classic script, for a file opened from disk.

A page opened from file:// cannot import modules (each import is a request, and Chromium refuses
file:// module requests anyway), so an export inlines the modules it needs: each module becomes a
function scope whose exports are returned as an object, and each import reads that object. Only the
static forms the page's modules use are taken; anything else (a default export, `export *`, a
dynamic import) is refused with the module and line rather than bundled with another meaning.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

_IMPORT_ALL = re.compile(r'^import \* as (\w+) from "([^"]+)";$')
_IMPORT_NAMES = re.compile(r'^import \{([^}]*)\} from "([^"]+)";$')
_EXPORT_DECL = re.compile(r"^export (?:async )?(?:function\*? |class |const |let )(\w+)")
_EXPORT_LIST = re.compile(r"^export \{([^}]*)\};$")
_FORBIDDEN = re.compile(r"^\s*export\b|\bimport\s*\(|^\s*import\b")


class BundleError(ValueError):
    """A module uses a form the bundler does not take."""


def _names(clause: str) -> list[tuple[str, str]]:
    """`a, b as c` as [(a, a), (b, c)]: each name before and after `as`."""
    out = []
    for part in filter(None, (p.strip() for p in clause.split(","))):
        name, _, local = part.partition(" as ")
        out.append((name.strip(), (local or name).strip()))
    return out


def bundle(root: Path, entries: list[str], expose: str) -> str:
    """One classic script defining `expose` as an object of the entry modules' exports, merged.

    `entries` are paths under `root` (the page's static/js); their imports are followed, each
    module is included once, before every module that imports it.
    """
    order: list[str] = []
    texts: dict[str, str] = {}

    def visit(rel: str, chain: tuple[str, ...]) -> None:
        if rel in texts:
            return
        if rel in chain:
            raise BundleError(f"{rel}: an import circle through {' -> '.join(chain)}")
        texts[rel] = ""  # claimed, so a diamond is read once
        lines, body, exported = (root / rel).read_text(encoding="utf-8").splitlines(), [], []
        for number, line in enumerate(lines, 1):
            if m := _IMPORT_ALL.match(line):
                dep = _resolve(rel, m[2])
                visit(dep, (*chain, rel))
                body.append(f"const {m[1]} = modules[{json.dumps(dep)}];")
            elif m := _IMPORT_NAMES.match(line):
                dep = _resolve(rel, m[2])
                visit(dep, (*chain, rel))
                pairs = ", ".join(name if name == local else f"{name}: {local}" for name, local in _names(m[1]))
                body.append(f"const {{ {pairs} }} = modules[{json.dumps(dep)}];")
            elif m := _EXPORT_LIST.match(line):
                exported.extend((name, local) for local, name in _names(m[1]))  # `local as name`
            elif m := _EXPORT_DECL.match(line):
                exported.append((m[1], m[1]))
                body.append(line[len("export "):])
            elif _FORBIDDEN.search(line):
                raise BundleError(f"{rel}, line {number}: only `import ... from` and named exports are bundled: "
                                  f"{line.strip()}")
            else:
                body.append(line)
        # Exports are named after the declarations run, so a module's own order is kept.
        names = ", ".join(name if name == local else f"{name}: {local}" for name, local in exported)
        texts[rel] = "\n".join(body) + f"\nreturn {{ {names} }};"
        order.append(rel)

    for entry in entries:
        visit(entry, ())
    parts = [f"modules[{json.dumps(rel)}] = (() => {{\n{texts[rel]}\n}})();" for rel in order]
    merged = ", ".join(f"...modules[{json.dumps(e)}]" for e in entries)
    return (f"const {expose} = (() => {{\n\"use strict\";\nconst modules = {{}};\n" + "\n".join(parts)
            + f"\nreturn Object.freeze({{ {merged} }});\n}})();\n")


def _resolve(importer: str, spec: str) -> str:
    if not spec.startswith("."):
        raise BundleError(f"{importer}: {spec!r} is not a relative import")
    parts: list[str] = []
    for part in (*PurePosixPath(importer).parent.parts, *PurePosixPath(spec).parts):
        if part == "..":
            if not parts:
                raise BundleError(f"{importer}: {spec!r} leads outside the page's modules")
            parts.pop()
        elif part != ".":
            parts.append(part)
    return "/".join(parts)
