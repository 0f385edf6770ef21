"""Driving Debian's Chromium with Playwright, shared by the browser tests and bench/page_bench.py.

Playwright's own browser download does not work offline, so Chromium is the
system one. The page announces what it draws with a `gradscape:drawn` DOM
event (kind "data" after a recompute, "frame" per animation step,
"first-frame" once); INIT_SCRIPT records them in window.__drawn so a test can
wait for an event instead of sleeping.
"""

from __future__ import annotations

import shutil

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 720}

INIT_SCRIPT = """
window.__drawn = [];
document.addEventListener("gradscape:drawn", (e) => window.__drawn.push(e.detail));
"""


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


# A module of browser tests drives a real server from Debian's Chromium.
BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.server,
    pytest.mark.skipif(chromium() is None, reason="Debian's chromium is not installed"),
]


def launch(playwright, user_data_dir: str | None = None):
    """A headless Chromium browser, or a persistent context when a profile directory is given."""
    if user_data_dir is not None:
        return playwright.chromium.launch_persistent_context(
            user_data_dir, executable_path=chromium(), args=CHROMIUM_ARGS, viewport=VIEWPORT)
    return playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)


def watch(page) -> list[str]:
    """Install the draw recorder on a page; returns the list its console errors and uncaught exceptions go to."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"uncaught: {e}"))
    page.add_init_script(INIT_SCRIPT)
    return errors


def drawn_count(page, kind: str) -> int:
    return page.evaluate("(kind) => window.__drawn.filter((e) => e.kind === kind).length", kind)


def wait_drawn(page, kind: str = "data", after: int = 0, timeout: float = 30_000):
    """Wait until more than `after` events of this kind were announced; returns the newest one."""
    page.wait_for_function(
        "([kind, after]) => window.__drawn.filter((e) => e.kind === kind).length > after", arg=[kind, after], timeout=timeout)
    return page.evaluate("(kind) => window.__drawn.filter((e) => e.kind === kind).at(-1)", kind)


# Move a slider to `position` as a person would (an input event), and resolve with the time from the
# event to the page's own "data" announcement (every view has drawn the change) and to just after the
# next frame, when the browser has painted it.
SLIDER_LATENCY_JS = """
async ([key, position]) => {
  const el = document.querySelector(`input[type="range"][data-key="${key}"]`);
  const drawn = new Promise((resolve, reject) => {
    const late = setTimeout(() => reject(new Error(`no redraw after moving ${key} to ${position}`)), 10000);
    document.addEventListener("gradscape:drawn", function seen(e) {
      if (e.detail.kind !== "data") return;
      document.removeEventListener("gradscape:drawn", seen);
      clearTimeout(late);
      resolve(e.detail);
    });
  });
  el.value = String(position);
  const event = new Event("input", { bubbles: true });
  el.dispatchEvent(event);
  const detail = await drawn;
  await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
  return { drawn: detail.at - event.timeStamp, painted: performance.now() - event.timeStamp };
}
"""


# A plot's traces as drawn, by the id of its Plotly element: Plotly's own and, for a view's front
# layer (`…-fg`, which holds the landmarks), the runs drawn on the canvases laid in the same stack
# (`…-lines`, then the heads and arrows of `…-marks`), in the same shape.
PLOT_TRACES_JS = """(id) => {
  const el = document.getElementById(id);
  if (!el) return [];
  const canvases = id.endsWith("-fg") ? ["-lines", "-marks"].map((s) => document.getElementById(id.replace(/-fg$/, s))) : [];
  return [...(el.data || []), ...canvases.flatMap((c) => c?.data || [])];
}"""
