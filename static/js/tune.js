// "Tune lr": a fair race. Every ticked optimizer's lr is swept across its range on the current surface,
// start, steps, schedule and noise (POST /api/tune); each gets the best lr by the chosen criterion, and a
// small plot shows the result against lr. Which optimizers are tuned, and by what, is part of the state
// (`tuned`, `tuned.by`), so a link keeps the legend's "tuned"; state.js's withValue drops an optimizer's mark
// when its settings or the problem change.

import { ApiError, describe } from "./api.js";
import { el } from "./map.js";
import { TUNE_CRITERIA as CRITERIA, requestBody, tunedOf, valueOf, withValue } from "./state.js";
import { $, announce, fmt, put } from "./util.js";
import { CONFIG, FONT, fontSize } from "./views.js";
import { t, withLang } from "./i18n.js";

// The criteria's names as the menu and the status read them.
const CRITERION_LABELS = { final_loss: t("final loss"), steps_to_tol: t("steps to tolerance") };

const NUM = 64;

export class TunePanel {
  /** `root` is an empty element in the optimizers' section; `onError(lines)` shows a refusal. */
  constructor(root, scene, onError) {
    this.scene = scene;
    this.catalog = scene.catalog;
    this.onError = onError;
    this.button = el("button", { type: "button", class: "tune-button" }, t("Tune lr"));
    this.button.title = t("Sweep each ticked optimizer's lr over {0} values across its range and keep the best", NUM);
    this.criterion = el("select", { "aria-label": t("Tune by") });
    for (const id of Object.keys(CRITERIA)) this.criterion.append(el("option", { value: id }, t("by {0}", CRITERION_LABELS[id])));
    const row = el("div", { class: "tune-row" });
    row.append(this.button, this.criterion);
    this.status = el("p", { class: "hint tune-status", role: "status", "aria-live": "polite" });
    this.undo = el("button", { type: "button", class: "small", hidden: "" }, t("Restore the previous learning rates"));
    this.plot = el("div", { class: "plot tune-plot", hidden: "" });
    root.append(row, this.status, this.undo, this.plot);
    this.button.addEventListener("click", () => this.run());
    this.undo.addEventListener("click", () => this.restore());
    this.marks = new TunedMarks(scene);
  }

  markLegend() { this.marks.mark(); }

  /** Show a state: the criterion of the tuning it holds, and its legend's marks. */
  sync(s) {
    if (s["tuned.by"] in CRITERIA) put(this.criterion, "value", s["tuned.by"]);
    this.markLegend();
  }

  async run() {
    const s = this.scene.s;
    if (!s.opt.length) {
      this.onError([t("Tick at least one optimizer to tune.")]);
      return;
    }
    const base = requestBody(s);
    const steps = Math.min(s.steps, this.catalog.raw.limits?.max_sweep_steps ?? s.steps);
    const body = {
      surface: base.surface, start: base.start, steps, schedule: base.schedule, noise: base.noise, seed: base.seed,
      criterion: this.criterion.value, num: NUM,
      optimizers: base.runs.map((r) => {
        const hp = { ...r.hyperparameters };
        delete hp.lr;
        return { optimizer: r.optimizer, hyperparameters: hp, ...(r.schedule ? { schedule: r.schedule } : {}) };
      }),
    };
    this.button.disabled = true;
    put(this.status, "textContent", s.opt.length > 1 ? t("Tuning {0} optimizers…", s.opt.length) : t("Tuning 1 optimizer…"));
    try {
      const resp = await fetch(withLang("/api/tune"), { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
      const answer = await resp.json().catch(() => null);
      if (!resp.ok) {
        const names = body.optimizers.map((o) => this.catalog.optimizer(o.optimizer).label);
        throw new ApiError(answer?.detail !== undefined ? describe(answer.detail, names) : [t("Tuning failed: {0}.", resp.status)], resp.status);
      }
      this.show(answer, s);
    } catch (err) {
      put(this.status, "textContent", "");
      this.onError(err instanceof ApiError ? err.lines : [t("Tuning failed: {0}", err.message)]);
    } finally {
      this.button.disabled = false;
    }
  }

  /** Set each optimizer's tuned lr, say how it was chosen, and plot the curves. */
  show(answer, s) {
    let n = this.scene.s;
    this.previous = Object.fromEntries(answer.results.map((r) => [r.optimizer, n.hp[r.optimizer]?.lr]));
    const tuned = [];
    const notes = [];
    for (const r of answer.results) {
      const label = this.catalog.optimizer(r.optimizer).label;
      if (r.best_lr === null) { notes.push(t("{0} diverged at every lr.", label)); continue; }
      n = withValue(`${r.optimizer}.lr`, r.best_lr, n, this.catalog);
      tuned.push(r.optimizer);
      if (!r.met) notes.push(t("{0} never got within {1} of f*: picked by final loss.", label, answer.tol));
    }
    n = { ...n, tuned: tuned.join(","), "tuned.by": tuned.length ? answer.criterion : "" };
    const seeds = answer.seeds.length ? ` ${t("Noise is on: each lr is the mean of {0} noise seeds ({1}–{2}).", answer.seeds.length, answer.seeds[0], answer.seeds.at(-1))}` : "";
    put(this.status, "textContent", `${t("Tuned by {0} after {1} steps, over {2} learning rates each.", CRITERION_LABELS[answer.criterion], answer.steps, NUM)}${seeds} ${notes.join(" ")}`.trim());
    this.scene.update(n);
    this.scene.replay();
    put(this.undo, "hidden", false);
    this.drawCurves(answer).then(() => this.plot.scrollIntoView({ block: "nearest" }));
    this.markLegend();
    announce("tuned", { results: answer.results.length });
  }

  /** Put back the learning rates from before the tuning (defaults where there were none). */
  restore() {
    let n = this.scene.s;
    for (const [id, lr] of Object.entries(this.previous ?? {})) {
      n = withValue(`${id}.lr`, lr ?? this.catalog.optimizer(id).hyperparameters.find((h) => h.name === "lr").default, n, this.catalog);
    }
    put(this.undo, "hidden", true);
    this.scene.update(n);
    this.scene.replay();
  }

  drawCurves(answer) {
    const fStar = answer.minimum_value;
    const bySteps = answer.criterion === "steps_to_tol";
    const y = (r) => (bySteps ? r.steps_to_tol : r.final_losses.map((f) => (f === null ? null : fStar === null ? f : Math.max(f - fStar, 1e-16))));
    const traces = [];
    for (const r of answer.results) {
      const { colour, dash } = this.catalog.optimizer(r.optimizer).style;
      const label = this.catalog.optimizer(r.optimizer).label;
      const ys = y(r);
      traces.push({ type: "scatter", mode: "lines", x: r.lr, y: ys, name: label, line: { color: colour, dash, width: 2 },
        hovertemplate: `${label}<br>lr %{x:.3g}<br>%{y:.3g}<extra></extra>` });
      if (r.best_index !== null) {
        traces.push({ type: "scatter", mode: "markers", x: [r.lr[r.best_index]], y: [ys[r.best_index]], name: t("{0} tuned", label),
          marker: { color: colour, size: 9, line: { color: "#000", width: 1 } }, hovertemplate: `${t("{0} tuned: lr {1}", label, "%{x:.3g}")}<extra></extra>` });
      }
    }
    const f = fontSize() - 1;
    const title = bySteps ? t("steps to f* + {0}", answer.tol) : fStar === null ? t("final loss") : t("final f − f*");
    let range;
    if (!bySteps && fStar !== null) {
      // Up to ten times the loss at the start: the runs that blew up to 1e300 would flatten every other curve.
      const ys = traces.flatMap((t) => t.y).filter((v) => v !== null && Number.isFinite(v));
      const start = this.scene.runs[0]?.losses[0];
      const top = Number.isFinite(start) ? Math.log10(Math.max(start - fStar, 1e-16)) + 1 : Math.log10(Math.max(...ys));
      range = [Math.log10(Math.min(...ys)) - 0.3, top];
    }
    const layout = {
      height: 190, margin: { l: 5.4 * f, r: 6, t: 6, b: 3.2 * f }, font: { family: FONT, size: f }, showlegend: false,
      xaxis: { type: "log", title: { text: "lr" }, exponentformat: "power", fixedrange: true },
      yaxis: { type: bySteps || fStar === null ? "linear" : "log", title: { text: title }, exponentformat: "power", fixedrange: true, range },
      paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff", hovermode: "closest",
    };
    put(this.plot, "hidden", false);
    put(this.plot, "ariaLabel", `${title} against lr, one line per optimizer; dots mark the tuned lr`);
    return Plotly.react(this.plot, traces, layout, { ...CONFIG, displayModeBar: false });
  }

}

/** "tuned" beside each legend entry whose optimizer the state marks as tuned (the page's legend, and the embed's). */
export class TunedMarks {
  constructor(scene) {
    this.scene = scene;
    this.catalog = scene.catalog;
    // Mark the legend again whenever it may have been rebuilt, and after every recompute (a changed lr).
    const legend = $("#legend");
    if (legend) new MutationObserver(() => this.mark()).observe(legend, { childList: true });
    document.addEventListener("gradscape:drawn", (e) => { if (e.detail.kind === "data") this.mark(); });
  }

  mark() {
    const legend = $("#legend");
    if (!legend) return;
    const s = this.scene.s;
    const tuned = tunedOf(s);
    this.scene.runs.forEach((run, i) => {
      const item = legend.children[i];
      if (!item) return;
      const on = tuned.includes(run.optimizer);
      const title = on && t("lr {0}: the best of {1} by {2} on this surface, start, steps, schedule and noise",
        fmt(valueOf(`${run.optimizer}.lr`, s, this.catalog), 4), NUM, CRITERION_LABELS[s["tuned.by"]]);
      let badge = item.querySelector(".tuned");
      if (on && !badge) {
        badge = el("span", { class: "tuned" }, t("tuned"));
        item.append(badge);
      } else if (!on && badge) {
        badge.remove();
      }
      if (badge && on) put(badge, "title", title);
    });
  }
}
