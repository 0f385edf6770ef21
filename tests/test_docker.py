"""The Dockerfile, checked without a Docker engine: its essentials, and its warm-up run for real.

The image itself is not built here; what matters about it is checked from the
file, and the build's warm-up command is run as written in a fresh cache.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def env_of(steps) -> dict[str, str]:
    env = {}
    for word, rest in steps:
        if word == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(rest))
    return env


def warm_up_index(steps) -> int:
    runs = [i for i, (word, rest) in enumerate(steps) if word == "RUN" and "core.warm()" in rest]
    assert len(runs) == 1, "the Dockerfile needs one RUN that calls core.warm()"
    return runs[0]


def test_the_image_serves_the_app_on_port_8000():
    steps = instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert ("EXPOSE", "8000") in steps
    [cmd] = [rest for word, rest in steps if word == "CMD"]
    assert json.loads(cmd) == ["gradscape", "serve", "--host", "0.0.0.0", "--port", "8000"]


def test_the_numba_cache_is_compiled_at_build_time_where_the_server_reads_it():
    steps = instructions()
    i = warm_up_index(steps)
    env = env_of(steps[:i])
    assert env["GRADSCAPE_CACHE_DIR"].startswith("/") and env["NUMBA_CACHE_DIR"].startswith("/")
    before = [rest for _, rest in steps[:i]]
    # After the code and its install, so it compiles what the image runs ...
    assert any(rest.startswith("core ") for word, rest in steps[:i] if word == "COPY")
    assert any("pip install" in rest and "-e ." in rest for rest in before)
    # ... and as the user that serves, with no later change to where the caches are.
    users = [rest for word, rest in steps if word == "USER"]
    assert users and [w for w, _ in steps[:i]].count("USER") == len(users)
    assert env_of(steps[i:]) == {}


def test_the_image_gets_everything_the_app_reads_and_no_local_state():
    steps = instructions()
    sources = [shlex.split(rest)[:-1] for word, rest in steps if word == "COPY"]
    copied = {s for group in sources for s in group}
    for needed in ("core", "app", "templates", "static", "pyproject.toml"):
        assert needed in copied, needed
    for source in copied:
        assert (ROOT / source).exists(), source
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".git", "**/__pycache__", "tests"} <= ignored
    assert not copied & ignored


@pytest.mark.slow
def test_the_build_warm_up_fills_a_fresh_cache_and_the_next_process_starts_warm(tmp_path):
    steps = instructions()
    i = warm_up_index(steps)
    command = shlex.split(steps[i][1])
    assert command[:2] == ["python", "-c"]
    # The image's cache directories, moved under tmp_path.
    env = {**os.environ}
    for key, value in env_of(steps[:i]).items():
        env[key] = str(tmp_path / value.lstrip("/")) if value.startswith("/var/") else value
    env.pop("PYTHONPATH", None)
    build = subprocess.run([sys.executable, *command[1:]], cwd=ROOT, env=env, capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    assert list(Path(env["NUMBA_CACHE_DIR"]).rglob("*.nbc")), "no numba cache was written"
    assert list(Path(env["MPLCONFIGDIR"]).glob("fontlist-*.json")), "no matplotlib font cache was written"

    probe = (
        "import json, core\n"
        "core.warm()\n"
        "k, net = core.engine.kernels(), core.network.loops()\n"
        "loops = [(k, n) for n in ('run_trajectory', 'run_sweep', 'run_whole_trajectory', 'run_whole_sweep', 'surface_grid')]\n"
        "loops += [(net, n) for n in ('run_scalar', 'run_whole', 'run_tensors')]\n"
        "print(json.dumps({n: [sum(getattr(m, n).stats.cache_hits.values()), "
        "sum(getattr(m, n).stats.cache_misses.values())] for m, n in loops}))\n"
    )
    serve = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True)
    assert serve.returncode == 0, serve.stderr
    stats = json.loads(serve.stdout.splitlines()[-1])
    for name, (hits, misses) in stats.items():
        assert hits >= 1 and misses == 0, f"{name} was compiled again: {hits} cache hits, {misses} misses"


def test_the_image_documents_both_ways_of_making_exports():
    text = (ROOT / "Dockerfile").read_text()
    env = env_of(instructions())
    assert env["GRADSCAPE_EXPORT_DIR"].startswith("/")
    assert ("VOLUME", env["GRADSCAPE_EXPORT_DIR"]) in instructions()
    for needed in ("GRADSCAPE_REDIS_URL", "gradscape worker", "GRADSCAPE_TRUSTED_HOSTS", "SQLite"):
        assert needed in text, needed


def test_the_readme_shows_a_compose_file_of_replicas_behind_one_port():
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```yaml\n", readme.index("## Deployment"))
    compose = readme[start + 8:readme.index("```", start + 8)]
    services = re.findall(r"^  ([a-z0-9-]+):(?:\s|$)", compose, flags=re.M)
    assert {"redis", "worker", "proxy"} <= set(services) and sum(s.startswith("web") for s in services) >= 2
    assert compose.count("GRADSCAPE_REDIS_URL") >= 2 and 'command: ["gradscape", "worker"]' in compose
    assert re.search(r'ports:\s*\n\s*- "?8000:', compose), "one port for everyone"


def test_the_test_script_installs_redis_and_counts_no_tests_as_failure():
    script = (ROOT / "scripts" / "test").read_text()
    assert "missing+=(redis-server)" in script
    run = subprocess.run(["bash", "-c", 'status=0; (exit 5) || status=$?; [ "$status" -ne 0 ] && exit "$status"'])
    assert run.returncode == 5
    assert script.count('[ "$status" -ne 0 ]') == 2
