"""The `gradscape` command: print the catalog, serve the app, export animations, train a network."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path


def catalog_markdown() -> str:
    """The registry as the README's catalog section: a table of optimizers per group, one of surfaces."""
    from core import OPTIMIZERS, SCHEDULES, SURFACES
    from core.spec import GROUPS

    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = []
    for group, title in GROUPS.items():
        specs = [spec for spec in OPTIMIZERS.values() if spec.group == group]
        if not specs:
            continue
        lines += [f"**{title}**", "", "| id | optimizer | hyperparameters (defaults) | reference |", "|---|---|---|---|"]
        for spec in specs:
            hp = ", ".join(f"`{h.name}`={h.default:g}" for h in spec.hyperparameters)
            lines.append(f"| `{spec.id}` | {cell(spec.label)}: {cell(spec.help)} | {hp} | {cell(spec.reference)} |")
        lines.append("")
    lines += ["| id | surface | default start | minima |", "|---|---|---|---|"]
    for spec in SURFACES.values():
        minima = ", ".join(f"({x:.4g}, {y:.4g})" for x, y in spec.minima) or "none"
        lines.append(f"| `{spec.id}` | {cell(spec.label)}: {cell(spec.help)} | ({spec.start[0]:g}, {spec.start[1]:g}) | {minima} |")
    lines += ["", "Schedules: " + ", ".join(f"`{s.id}` ({s.help})" for s in SCHEDULES.values())]
    return "\n".join(lines) + "\n"


def _catalog(args) -> int:
    if args.markdown:
        print(catalog_markdown(), end="")
        return 0
    from core import OPTIMIZERS, SURFACES

    from core.spec import GROUPS

    for group, title in GROUPS.items():
        specs = [spec for spec in OPTIMIZERS.values() if spec.group == group]
        if specs:
            print(f"Optimizers, {title.lower()}:")
        for spec in specs:
            hp = ", ".join(f"{h.name}={h.default:g}" for h in spec.hyperparameters)
            print(f"  {spec.id:18s} {spec.label} ({hp})")
    print("Surfaces:")
    for spec in SURFACES.values():
        print(f"  {spec.id:16s} {spec.label}: start {spec.start}, minima {list(spec.minima) or 'none'}")
    return 0


def _serve(args) -> int:
    import uvicorn

    from app.protocol import RequestDeadlineProtocol
    from app.settings import Settings

    settings = Settings()
    if args.workers > 1 and not os.environ.get("GRADSCAPE_EXPORT_DIR") and not os.environ.get("GRADSCAPE_REDIS_URL"):
        # The worker processes share export jobs through one directory: a fresh one for this server.
        import tempfile

        os.environ["GRADSCAPE_EXPORT_DIR"] = tempfile.mkdtemp(prefix="gradscape-exports-")
    if args.host not in ("0.0.0.0", "::", "") and "GRADSCAPE_TRUSTED_HOSTS" not in os.environ:
        # Serving on a named address means being reached by that name: trust it besides localhost.
        os.environ["GRADSCAPE_TRUSTED_HOSTS"] = f"{settings.trusted_hosts},{args.host}"
    uvicorn.run("app.main:create_app", factory=True, host=args.host, port=args.port, log_level=args.log_level,
                workers=args.workers, http=RequestDeadlineProtocol, timeout_keep_alive=settings.keep_alive_seconds,
                timeout_graceful_shutdown=settings.graceful_shutdown_seconds, proxy_headers=args.proxy_headers,
                forwarded_allow_ips=settings.forwarded_allow_ips)
    return 0


WORKER_RETRY_SECONDS = 1.0


def _worker(args) -> int:
    """An rq worker for the export queue: one job at a time, each in a work horse forked for it."""
    from app.settings import get_export_settings

    settings = get_export_settings()
    if not settings.redis_url:
        args.parser.error("set GRADSCAPE_REDIS_URL (e.g. redis://localhost:6379/0): the worker takes its jobs "
                          "from Redis, and the servers must use the same URL and GRADSCAPE_EXPORT_DIR")
    import time

    from redis import Redis
    from redis.exceptions import ConnectionError, TimeoutError
    from rq import Queue, Worker

    import core
    from app.exports.jobs import QUEUE

    core.warm()  # before the first fork, so no work horse compiles a kernel
    waiting = False
    while True:
        # A connection of its own, without the servers' short socket timeout: a worker blocks on the
        # queue for minutes at a time. When Redis goes away the worker waits for it and starts again.
        redis = Redis.from_url(settings.redis_url)
        try:
            redis.ping()
            waiting = False
            Worker([Queue(QUEUE, connection=redis)], connection=redis, name=args.name).work(
                logging_level=args.log_level.upper())
            return 0
        except (ConnectionError, TimeoutError) as exc:
            if not waiting:
                print(f"gradscape worker: Redis at {settings.redis_url} does not answer ({type(exc).__name__}); "
                      "waiting for it", file=sys.stderr, flush=True)
            waiting = True
            time.sleep(WORKER_RETRY_SECONDS)


# OPTIMIZER.PARAM=VALUE, where an optimizer given as module:Class may hold dots and a colon itself.
_HYPER = re.compile(r"[A-Za-z_][A-Za-z0-9_.:]*=\S+")
_LINK_KEYS = ("sched", "noise", "noise_seed", "seed")
_FLAGS = {"surface": "--surface", "opt": "--optimizers", "steps": "--steps", "start": "--start", "f": "--formula",
          "domain": "--domain"}


def _state_query(args, parser) -> tuple[str, dict]:
    """The shared link's query string with the flags laid over it, and which flag gave each key."""
    from urllib.parse import parse_qsl, urlencode, urlsplit

    from core import OPTIMIZERS as REGISTRY
    from core import external

    state = (args.state or "").strip()
    if "?" in state:
        state = urlsplit(state).query if "://" in state else state.split("?", 1)[1]
    params = dict(parse_qsl(state, keep_blank_values=True))
    flags = {}
    for key, flag in _FLAGS.items():
        value = getattr(args, flag[2:])
        if value is not None:
            params[key], flags[key] = value, flag
    if args.formula is not None:
        params["surface"] = "custom"
    enabled = params["opt"].split(",") if "opt" in params else []
    # The command line is the operator's own: an optimizer it names as module:Class is imported and offered.
    try:
        external.offer([o for o in enabled if external.is_external(o)])
    except external.ExternalError as e:
        parser.error(f"--optimizers: {e.reason}")
    OPTIMIZERS = {**REGISTRY, **external.OFFERED}
    hyper = []
    for item in args.hyper or []:
        if not _HYPER.fullmatch(item):
            parser.error(f"--hyper {item!r} is not KEY=VALUE, e.g. adam.lr=0.05 or surface.kappa=100")
        key, value = item.split("=", 1)
        params[key], flags[key] = value, f"--hyper {key}"
        hyper.append(item)
    for item in hyper:  # once all are set: sched.t_max depends on sched=cosine
        key = item.split("=", 1)[0]
        owner, _, name = key.rpartition(".") if "." in key else (key, "", "")
        if owner in OPTIMIZERS and owner not in enabled:
            parser.error(f"--hyper {item}: {owner} is not among the optimizers ({', '.join(enabled) or 'none'})")
        if not name and owner not in _LINK_KEYS:
            parser.error(f"--hyper {item}: unknown key {key!r}; allowed: OPTIMIZER.PARAM, surface.PARAM, "
                         f"sched.PARAM, {', '.join(_LINK_KEYS)}")
        if name and owner not in OPTIMIZERS and owner not in ("surface", "sched"):
            parser.error(f"--hyper {item}: unknown key {key!r}; before the dot comes an optimizer id, surface or sched")
        if name:
            who, allowed = _hyper_keys(owner, params)
            if name not in allowed:
                takes = ", ".join(allowed) or "no parameters"
                parser.error(f"--hyper {item}: unknown key {key!r}; {who} takes {takes}")
    return urlencode(params, safe=","), flags


def _hyper_keys(owner: str, params: dict) -> tuple[str, list[str]]:
    """Who `owner` names, and what --hyper may set under it: its parameters."""
    from core import OPTIMIZERS, SCHEDULES, SURFACES
    from core.external import OFFERED

    if owner in OPTIMIZERS or owner in OFFERED:
        return owner, [h.name for h in {**OPTIMIZERS, **OFFERED}[owner].hyperparameters]
    if owner == "surface":
        spec = SURFACES.get(params.get("surface"), next(iter(SURFACES.values())))
        return f"surface {spec.id}", [h.name for h in spec.params]
    name = params.get("sched") or "constant"
    return f"schedule {name}", [h.name for h in SCHEDULES[name].params] if name in SCHEDULES else []


def _lang(tag: str | None, parser) -> str | None:
    """--lang as a supported language, or None when not given."""
    from app.i18n import LANGUAGES, supported

    if tag is None:
        return None
    if supported(tag) is None:
        parser.error(f"--lang: {tag!r} is not a language Gradscape speaks; give one of {', '.join(LANGUAGES)}")
    return supported(tag)


def _build_site(args) -> int:
    from app.site import build_site

    if args.dir.exists() and not args.dir.is_dir():
        args.parser.error(f"DIR {args.dir}: is a file, not a folder")
    written = build_site(args.dir)
    size = sum(p.stat().st_size for p in written)
    print(f"wrote {args.dir}: {len(written)} files, {size / 1e6:.1f} MB; serve the folder as it is, e.g. "
          f"python -m http.server -d {args.dir}")
    return 0


def _export(args) -> int:
    import time
    from pathlib import Path

    from app.exports.formats import FORMATS, check, export
    from app.exports.link import options_for, read_state, subject_from_state
    from app.services.validation import Invalid
    from app.settings import get_settings
    from core import InvalidInput

    parser = args.parser
    out = Path(args.out)
    if out.is_dir():
        parser.error(f"--out {out}: is a directory; give a file name such as {out / 'gradscape.gif'}")
    suffix = out.suffix.lstrip(".").lower()
    fmt = args.format or {"zip": "beamer"}.get(suffix, suffix)  # Beamer's frames come zipped
    if fmt not in FORMATS:
        parser.error(f"--format: give one of {', '.join(FORMATS)}, or an --out ending in one of them")
    if not out.parent.is_dir():
        parser.error(f"--out {out}: the directory {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        parser.error(f"--out {out}: not writable")
    query, flags = _state_query(args, parser)

    def link_error(exc: Invalid):
        loc = [str(p) for p in exc.errors[0]["loc"][1:]]
        key = ".".join(loc)
        head = loc[0] if loc else ""
        if exc.errors[0]["loc"][0] == "deck":
            where = "--deck"
        else:
            where = flags.get(key) or flags.get(head) or (f"--state {key}" if args.state else _FLAGS.get(head, key))
        parser.error(f"{where}: {exc.errors[0]['msg']}")

    try:
        body, display = read_state(query, need_runs=False)
        if body["surface"] == "network" and fmt not in NETWORK_FORMATS:
            parser.error(f"--format {fmt}: a network link exports as one of {', '.join(NETWORK_FORMATS)}")
        opts = options_for(display, fmt, args.view, frames=args.frames, fps=args.fps, width=args.width,
                           height=args.height, step=args.step, annotate=args.annotate, tolerance=args.tolerance,
                           subtitle=args.subtitle, deck=args.deck, origin=args.origin, lang=_lang(args.lang, parser),
                           frames_only=args.frames_only)
        scene = subject_from_state(query, opts, get_settings())
        check(scene, opts)
    except Invalid as exc:
        link_error(exc)
    except InvalidInput as exc:
        parser.error(f"--{exc.field.replace('_', '-')}: {exc.reason}")

    total = 0 if FORMATS[fmt].still or fmt == "html" else opts.frame_count(scene.steps)
    show = sys.stderr.isatty() and total > 1

    def progress(fraction: float) -> None:
        if show:
            print(f"\rexporting {out.name}: {fraction:4.0%} of {total} frames", end="", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    try:
        export(scene, opts, out, progress)
    except Exception as exc:  # a teacher needs the reason in one line, not a traceback
        if show:
            print(file=sys.stderr)
        print(f"gradscape export: error: could not write {out}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if show:
        print(file=sys.stderr)
    frames = f"{total} frames at {opts.fps} fps, " if total else ""
    print(f"wrote {out}: {out.stat().st_size / 1e3:,.0f} kB, {frames}{opts.view} view, "
          f"{opts.width}x{opts.height}, in {time.perf_counter() - t0:.1f} s")
    return 0


def _network(args) -> int:
    """Train a network with several optimizers; write the API's answer (runs and plane) as JSON, or draw it."""
    from pathlib import Path

    from app.services.networks import network_json
    from app.services.validation import Invalid
    from app.settings import get_settings

    parser = args.parser
    spec = {"data": args.data, "samples": args.samples, "activation": args.activation, "seed": args.seed}
    try:
        spec["hidden"] = [int(w) for w in args.hidden.split(",") if w.strip()] if args.hidden else []
    except ValueError:
        parser.error(f"--hidden {args.hidden}: give widths such as 16,16")
    for key in ("noise", "batch_size"):
        if getattr(args, key) is not None:
            spec[key] = getattr(args, key)
    runs = [{"optimizer": o.strip(), "hyperparameters": {}} for o in args.optimizers.split(",") if o.strip()]
    for item in args.hyper or []:
        key, _, value = item.partition("=")
        owner, _, name = key.partition(".")
        hit = [r for r in runs if r["optimizer"] == owner]
        if not hit or not name or not value:
            parser.error(f"--hyper {item}: give OPTIMIZER.NAME=VALUE for one of --optimizers")
        try:
            hit[0]["hyperparameters"][name] = float(value)
        except ValueError:
            parser.error(f"--hyper {item}: {value!r} is not a number")
    body = {"network": spec, "steps": args.steps, "runs": runs, "seed": args.seed, "weights": args.weights}
    if args.plane:
        body["plane"] = {"kind": args.plane, "resolution": args.resolution, "centre": args.centre}
    out = Path(args.out)
    fmt = out.suffix.lstrip(".").lower()
    if fmt not in ("json", *NETWORK_FORMATS):
        parser.error(f"--out {out}: give a file ending in .json or one of .{', .'.join(NETWORK_FORMATS)}")

    def request_error(exc: Invalid):
        loc = [str(p) for p in exc.errors[0]["loc"][1:]]
        flag = {"network": f"--{loc[1].replace('_', '-')}" if len(loc) > 1 else "--data", "runs": "--optimizers",
                "plane": f"--{loc[1]}" if len(loc) > 1 else "--plane"}.get(loc[0] if loc else "", f"--{'.'.join(loc)}")
        parser.error(f"{flag}: {exc.errors[0]['msg']}")

    if fmt != "json":
        return _network_export(args, body, out, fmt, request_error)
    try:
        data = network_json(body, get_settings())
    except Invalid as exc:
        request_error(exc)
    out.write_bytes(data)
    print(f"wrote {out}: {len(data) / 1e3:,.0f} kB, {len(runs)} runs x {args.steps} steps"
          f"{f', a {args.resolution}x{args.resolution} {args.plane} plane' if args.plane else ''}")
    return 0


# What a network's export draws: the plane's contour or 3-D surface with the paths on it, or the loss curves.
NETWORK_FORMATS = ("gif", "mp4", "png", "svg")


def _network_export(args, body: dict, out, fmt: str, request_error) -> int:
    """Draw the runs on the plane (random when --plane is omitted) through the export formats."""
    import time

    from app.exports.formats import check, export, make_options
    from app.exports.scene import NetworkScene
    from app.services.validation import Invalid
    from app.settings import get_settings
    from core import InvalidInput

    body.setdefault("plane", {"kind": "random", "resolution": args.resolution, "centre": args.centre})
    t0 = time.perf_counter()
    try:
        opts = make_options(fmt, args.view, frames=args.frames, fps=args.fps, width=args.width, height=args.height,
                            step=args.step)
        scene = NetworkScene.from_request(body, get_settings(), ("body",))
        check(scene, opts)
    except Invalid as exc:
        request_error(exc)
    except InvalidInput as exc:
        args.parser.error(f"--{exc.field}: {exc.reason}")
    export(scene, opts, out)
    print(f"wrote {out}: {out.stat().st_size / 1e3:,.0f} kB, {opts.view} view of {len(scene.runs)} runs on a "
          f"{body['plane']['kind']} plane, {opts.width}x{opts.height}, in {time.perf_counter() - t0:.1f} s")
    return 0


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _formatter(t, defaults: bool):
    """argparse's help formatter saying its own words ("usage:", "(default: ...)") through `t`."""
    base = argparse.ArgumentDefaultsHelpFormatter if defaults else argparse.HelpFormatter

    class Formatter(base):
        def add_usage(self, usage, actions, groups, prefix=None):
            return super().add_usage(usage, actions, groups, t("usage: ") if prefix is None else prefix)

        def _get_help_string(self, action):
            text = super()._get_help_string(action)
            return text.replace(" (default: %(default)s)", t(" (default: %(default)s)")) if defaults else text

    return Formatter


def _speak(parser: argparse.ArgumentParser, t) -> None:
    """The rest of argparse's own words in a parser's help (its section titles and -h's help), and its errors."""
    parser.formatter_class = _formatter(t, parser.formatter_class is argparse.ArgumentDefaultsHelpFormatter)
    parser._positionals.title = t("positional arguments")
    parser._optionals.title = t("options")
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            action.help = t("show this help message and exit")
    # The command's own refusals are the catalog's error sentences (argparse's own stay as argparse words them).
    error = parser.error
    parser.error = lambda reason: error(t.error(reason))


def cli_lang(argv: list[str], environ=os.environ) -> str:
    """The language of the command's help: --lang where given, else GRADSCAPE_LANG, else the locale's
    (LANGUAGE, LC_ALL, LC_MESSAGES, LANG, as gettext looks), else English."""
    from app.i18n import DEFAULT, supported

    for i, arg in enumerate(argv):
        if arg == "--lang" and i + 1 < len(argv):
            return supported(argv[i + 1]) or DEFAULT
        if arg.startswith("--lang="):
            return supported(arg.partition("=")[2]) or DEFAULT
    for name in ("GRADSCAPE_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        if environ.get(name):
            # "zh_CN.UTF-8", "zh_CN:en": the first language, without its encoding.
            return supported(environ[name].split(":")[0].split(".")[0]) or DEFAULT
    return DEFAULT


def build_parser(lang: str = "en") -> argparse.ArgumentParser:
    from app.i18n import translator

    t = translator(lang)
    parser = argparse.ArgumentParser(
        prog="gradscape", description=t("The gradscape command: print the catalog, serve the app, export animations, "
                                         "train a network."))
    parser.add_argument("--lang", dest="help_lang", metavar="TAG",
                        help=t("the language of this help: en or zh-CN; GRADSCAPE_LANG or the locale's when omitted"))
    sub = parser.add_subparsers(dest="command", required=True)
    catalog = sub.add_parser("catalog", help=t("list every optimizer and surface"))
    catalog.add_argument("--markdown", action="store_true", help=t("as the README's catalog tables"))
    catalog.set_defaults(func=_catalog)
    serve = sub.add_parser(
        "serve", help=t("serve the app with uvicorn (kernels are warmed before the first request)"),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=t("Serve the page and the HTTP API with uvicorn. Limits and start-up behaviour come from "
        "GRADSCAPE_* environment variables (see the README's tables); each worker process warms the kernels "
        "before it accepts a request."))
    serve.add_argument("--host", default="127.0.0.1",
                       help=t("address to listen on; 0.0.0.0 for every interface (then set GRADSCAPE_TRUSTED_HOSTS to "
                       "the names students type). A named address is trusted as a Host automatically"))
    serve.add_argument("--port", type=int, default=8000, help=t("TCP port to listen on"))
    serve.add_argument("--workers", type=_positive, default=os.cpu_count() or 1,
                       help=t("processes serving the one port, this machine's CPU count by default; with several, "
                       "exports are shared through GRADSCAPE_EXPORT_DIR or GRADSCAPE_REDIS_URL"))
    serve.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug", "trace"],
                       help=t("uvicorn's log level; info shows start-up (and a cold compile) and each request"))
    serve.add_argument("--proxy-headers", action="store_true",
                       help=t("trust X-Forwarded-For/-Proto from the addresses in GRADSCAPE_FORWARDED_ALLOW_IPS "
                       "(behind a reverse proxy)"))
    serve.set_defaults(func=_serve)
    site = sub.add_parser(
        "build-site", help=t("write the page as static files for any static host (a class website, a course's pages)"),
        description=t("Write DIR/index.html, the embed view, their assets, catalog.json and presets.json, with relative "
        "URLs, so the folder works from any static host under any sub-path. The page computes ordinary runs in "
        "the browser there; maps, basins, Tune lr, networks, exports and the optimizers only the server steps "
        "say that they need the Gradscape server."))
    site.add_argument("dir", type=Path, metavar="DIR", help=t("the folder to write (created if missing)"))
    site.set_defaults(func=_build_site, parser=site)
    worker = sub.add_parser(
        "worker", help=t("make export jobs queued in Redis (GRADSCAPE_REDIS_URL), for servers on one or more machines"),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=t("Take export jobs from the Redis queue at GRADSCAPE_REDIS_URL and write their files to "
        "GRADSCAPE_EXPORT_DIR, which every server replica must also see. Run as many as there are cores to spare."))
    worker.add_argument("--name", default=None, help=t("the worker's name in rq (a random one when omitted)"))
    worker.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                        help=t("rq's log level"))
    worker.set_defaults(func=_worker, parser=worker)
    _add_export(sub, t)
    _add_network(sub, t)
    for each in (parser, *sub.choices.values()):
        _speak(each, t)
    return parser


def _add_network(sub, t) -> None:
    net = sub.add_parser(
        "network", help=t("train a small network with several optimizers and write its runs and landscape as JSON"),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        description=t("Train a multilayer perceptron on a data set made from a seed, every optimizer from the same "
        "initial weights and batches, and write what /api/networks/trajectories answers."))
    net.add_argument("--data", default="moons", help=t("moons, circles, spirals, xor, blobs or digits"))
    net.add_argument("--samples", type=int, default=200, help=t("data points"))
    net.add_argument("--hidden", default="16,16", help=t("hidden layer widths, comma-separated"))
    net.add_argument("--activation", default="tanh", help=t("tanh or relu"))
    net.add_argument("--noise", type=float, help=t("input noise; the data set's default when omitted"))
    net.add_argument("--batch-size", type=int, dest="batch_size", help=t("minibatch size; full batch when omitted"))
    net.add_argument("--seed", type=int, default=0, help=t("seed of the data, the initial weights and the batches"))
    net.add_argument("--optimizers", default="sgd,momentum,adam", help=t("comma-separated optimizer ids"))
    net.add_argument("--steps", type=int, default=200, help=t("steps per run"))
    net.add_argument("--hyper", action="append", metavar="OPT.NAME=VALUE", help=t("a hyperparameter, repeatable: adam.lr=0.01"))
    net.add_argument("--plane", choices=("random", "pca", "points"), help=t("the landscape's plane; none when omitted"))
    net.add_argument("--resolution", type=int, default=31, help=t("grid points per axis of the plane"))
    net.add_argument("--centre", default="initial", choices=("initial", "final"), help=t("the plane's centre"))
    net.add_argument("--weights", action="store_true", help=t("include every run's weights at every step"))
    net.add_argument("--out", required=True, metavar="FILE",
                     help=t("where to write: .json for the API's answer, or .gif, .mp4, .png or .svg for a picture of "
                          "the runs on the plane (random when --plane is omitted) or of their losses (--view loss)"))
    net.add_argument("--view", choices=("contour", "surface3d", "loss"), help=t("what a picture draws; contour when omitted"))
    net.add_argument("--frames", type=int, help=t("an animation's frames; one per step up to a limit when omitted"))
    net.add_argument("--fps", type=int, help=t("an animation's frames per second"))
    net.add_argument("--width", type=int, help=t("a picture's width in pixels"))
    net.add_argument("--height", type=int, help=t("a picture's height in pixels"))
    net.add_argument("--step", type=int, help=t("for png and svg: the step to draw; the last when omitted"))
    net.set_defaults(func=_network, parser=net)


def _add_export(sub, t) -> None:
    from app.exports.formats import FORMATS
    from app.exports.options import DEFAULT_SIZE, LIMITS, VIEWS

    export = sub.add_parser(
        "export", help=t("write a state as a GIF, MP4, HTML page, PowerPoint slide, Beamer frames, PNG or SVG, "
                       "as the page's export buttons do"),
        description=t("Write the trajectories of a state as a file for slides. Give the state as flags, or as the "
        "query string of a shared link with --state (flags given as well override it)."),
    )
    export.add_argument("--state", metavar="QUERY",
                        help=t("a shared link, or its query string: 'surface=beale&opt=adam,sgd'"))
    export.add_argument("--surface", help=t("surface id; see `gradscape catalog`"))
    export.add_argument("--formula", metavar="F",
                        help=t("your own surface f(x, y) instead of --surface, e.g. '(1-x)^2 + 100*(y-x^2)^2'"))
    export.add_argument("--domain", metavar="X0,X1,Y0,Y1", help=t("the formula's domain; -5,5,-5,5 when omitted"))
    export.add_argument("--optimizers", metavar="IDS", help=t("comma-separated optimizer ids, in legend order; an "
                        "optimizer may be any torch.optim.Optimizer class given as module:Class (needs torch)"))
    export.add_argument("--steps", help=t("optimizer steps per run"))
    export.add_argument("--start", metavar="X,Y",
                        help=t("start point, the surface's default when omitted; --start=-1,2 for a negative x"))
    export.add_argument("--hyper", action="append", metavar="KEY=VALUE",
                        help=t("a setting as in a shared link, repeatable: adam.lr=0.05, surface.kappa=100, sched=cosine"))
    export.add_argument("--format", choices=tuple(FORMATS), help=t("the file type; taken from --out's extension when omitted"))
    export.add_argument("--out", required=True, metavar="FILE", help=t("where to write"))
    export.add_argument("--view", choices=VIEWS, help=t("the state's view when omitted; contour if it has none"))
    lim = {k: f"[{lo}, {hi}]" for k, (lo, hi) in LIMITS.items()}
    export.add_argument("--frames", type=int,
                        help=t("animation frames {0}; one per step, at most 300, when omitted", lim["frames"]))
    export.add_argument("--fps", type=int, help=t("frames per second {0}; 30 when omitted", lim["fps"]))
    export.add_argument("--width", type=int, help=t("pixels {0}; {1} when omitted", lim["width"], DEFAULT_SIZE[0]))
    export.add_argument("--height", type=int, help=t("pixels {0}; {1} when omitted", lim["height"], DEFAULT_SIZE[1]))
    export.add_argument("--step", type=int, help=t("for png and svg: the step to draw; the last when omitted"))
    export.add_argument("--annotate", action="store_true",
                        help=t("legends say at which step each run reached a minimum (within --tolerance)"))
    export.add_argument("--frames-only", action="store_true",
                        help=t("html: the precomputed frames alone, without the runs' sliders that recompute them "
                             "in the file"))
    export.add_argument("--tolerance", type=float, help=t("how near a minimum counts as reached; 0.01 when omitted"))
    export.add_argument("--subtitle", help=t("a line of your own under the title"))
    export.add_argument("--deck", metavar="PRESETS",
                        help=t("pptx: one more slide per preset, comma-separated, each PRESET or PRESET:VIEW"))
    export.add_argument("--origin", default="", metavar="URL",
                        help=t("the server's address, so a slide's notes link to the live view, e.g. https://gradscape.example"))
    export.add_argument("--lang", metavar="TAG",
                        help=t("the language of titles, legends and notes: en or zh-CN; the link's lang, else en, "
                        "when omitted"))
    export.set_defaults(func=_export, parser=export)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(cli_lang(argv)).parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
