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


def _serve(args) -> int:
    import uvicorn

    uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradscape", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("catalog", help="list every optimizer and surface").set_defaults(func=_catalog)
    serve = sub.add_parser("serve", help="serve the app with uvicorn (kernels are warmed before the first request)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(func=_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
