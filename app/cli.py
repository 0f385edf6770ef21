"""The `gradscape` command: print the catalog, serve the app, export animations."""

from __future__ import annotations

import argparse
import sys


def _catalog(args) -> int:
    from core import OPTIMIZERS, SURFACES

    print("Optimizers:")
    for spec in OPTIMIZERS.values():
        hp = ", ".join(f"{h.name}={h.default:g}" for h in spec.hyperparameters)
        print(f"  {spec.id:16s} {spec.label} ({hp})")
    print("Surfaces:")
    for spec in SURFACES.values():
        print(f"  {spec.id:16s} {spec.label}: start {spec.start}, minima {list(spec.minima) or 'none'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradscape", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("catalog", help="list every optimizer and surface").set_defaults(func=_catalog)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
