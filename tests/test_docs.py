"""The docs derive from the registry: the README's catalog is what `gradscape catalog --markdown` prints."""

from pathlib import Path

import core
from app.cli import catalog_markdown

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_catalog_is_generated_from_the_registry():
    text = README.read_text()
    section = text.split("<!-- catalog:start -->\n", 1)[1].split("<!-- catalog:end -->", 1)[0]
    assert section == catalog_markdown(), "README catalog is stale: paste `gradscape catalog --markdown` between the markers"


def test_catalog_names_every_optimizer_and_surface():
    table = catalog_markdown()
    for oid in list(core.OPTIMIZERS) + list(core.SURFACES):
        assert f"| `{oid}` |" in table
