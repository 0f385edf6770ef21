// The inspector: what one optimizer did at every step, and its update rule with the values filled in.
// Everything is read from the run and the registry: the state slots plotted are the spec's own.

import { fillIn, typeset } from "./math.js";
import { $, fmt, put } from "./util.js";
import { CONFIG, FONT, View, fontSize, headIndex, linearTicks, tickCount } from "./views.js";
import { t } from "./i18n.js";

const PLAYING_INTERVAL_MS = 100; // while playing, the step marker moves at 10 Hz: enough to follow

// −Δx/g is negative where a step went uphill in that coordinate (momentum can do that): not on a log axis.
const positive = (a) => a.map((v) => (v > 0 ? v : null));
const XY = "(x —, y ···)";
const PLOT_HEIGHT = 190;
const MARGIN = { l: 56, r: 8, t: 26, b: 30 };
// The lr applied is a grey dashed line: the optimizer's own colour (black for Adam) is its step size.
const LR_LINE = { color: "#8a8a8a", width: 3, dash: "dash" };

export class Inspector extends View {
  constructor(root, ctx) {
    super(ctx);
    this.root = root;
    this.body = $(".inspector-body", root);
    this.empty = $(".inspector-empty", root);
    this.symbolic = $(".rule-symbolic", root);
    this.filled = $(".rule-values", root);
    this.reference = $(".rule-ref", root);
    this.table = $(".now tbody", root);
    this.stepLabel = $(".now-step", root);
    this.lrPlot = $("#insp-lr", root);
    this.effPlot = $("#insp-eff", root);
    this.statePlots = $(".insp-state", root);
    this.lastStep = 0;
    this.typesetKey = null;
  }

  run() {
    return this.runs.find((r) => r.optimizer === this.ctx.state().inspect);
  }

  plots() {
    return [this.lrPlot, this.effPlot, ...this.statePlots.children];
  }

  /** Called when the display settings change: show or hide, and say why when hidden. */
  refresh() {
    const id = this.ctx.state().inspect;
    const spec = id && this.ctx.catalog.optimizer(id);
    const enabled = spec && this.ctx.state().opt.includes(id);
    put(this.body, "hidden", !enabled);
    put(this.empty, "hidden", Boolean(enabled));
    if (spec && !enabled) put(this.empty, "textContent", `${spec.label} is not in the comparison: tick it under Optimizers to inspect it.`);
    return this.setActive(Boolean(enabled));
  }

  setStep(k) {
    this.k = k;
    clearTimeout(this.timer);
    const now = performance.now();
    if (this.ctx.playing() && now - this.lastStep < PLAYING_INTERVAL_MS) {
      this.timer = setTimeout(() => this.setStep(this.k), PLAYING_INTERVAL_MS);
      return Promise.resolve();
    }
    this.lastStep = now;
    return super.setStep(k);
  }

  layout(title, traces, n) {
    const values = traces.flatMap((t) => t.y).filter((v) => v !== null && Number.isFinite(v));
    // A log axis when the values are positive and span more than a decade; linear otherwise.
    const positiveOnly = values.length > 0 && values.every((v) => v > 0);
    const decades = positiveOnly ? Math.log10(Math.max(...values) / Math.min(...values)) : 0;
    const log = decades > 1;
    // As many labels as fit the plot's height: on a log axis whole decades only (Plotly's 2s and 5s
    // between them crowd a small plot), every second or third decade when there are many.
    const fit = tickCount(PLOT_HEIGHT - MARGIN.t - MARGIN.b, false);
    const width = this.lrPlot.clientWidth || 300;
    return {
      height: PLOT_HEIGHT, margin: MARGIN, font: { family: FONT, size: Math.round(fontSize() * 0.9) },
      title: { text: title, font: { size: fontSize() }, x: 0.02, xanchor: "left" },
      xaxis: { range: [0, n], zeroline: false, ...linearTicks([0, n], width - MARGIN.l - MARGIN.r, true) },
      yaxis: {
        type: log ? "log" : "linear", exponentformat: "power",
        dtick: log ? Math.max(1, Math.ceil(decades / Math.max(1, fit - 1))) : undefined, nticks: log ? undefined : fit,
      },
      showlegend: false, shapes: this.marker(), hovermode: "x unified",
    };
  }

  marker() {
    return [{ type: "line", xref: "x", yref: "paper", x0: this.k, x1: this.k, y0: 0, y1: 1, line: { color: "#666", width: 1, dash: "dot" } }];
  }

  /** Two traces, one per coordinate; steps are numbered from 1 like t in the rule. */
  pair(name, xs, ys, colour) {
    const steps = xs.map((_, i) => i + 1);
    return [
      { type: "scatter", mode: "lines", name: `${name} x`, x: steps, y: xs, line: { color: colour, width: 2 } },
      { type: "scatter", mode: "lines", name: `${name} y`, x: steps, y: ys, line: { color: colour, width: 2, dash: "dot" } },
    ];
  }

  async draw() {
    const run = this.run();
    this.shown = null;
    if (!run) return; // the runs asked for are still on their way
    const spec = this.ctx.catalog.optimizer(run.optimizer);
    const colour = spec.style.colour;
    const n = this.ctx.state().steps;
    const steps = run.lr.map((_, i) => i + 1);
    const lrTraces = [{ type: "scatter", mode: "lines", name: t("lr applied"), x: steps, y: run.lr, line: LR_LINE }];
    if (run.stepSize) {
      lrTraces.push({ type: "scatter", mode: "lines", name: t("bias-corrected step size"), x: steps, y: run.stepSize, line: { color: colour, width: 2 } });
    }
    const cfg = { ...CONFIG, displayModeBar: false };
    const slots = Object.entries(run.state);
    while (this.statePlots.children.length < slots.length) {
      const div = document.createElement("div");
      div.className = "plot small";
      this.statePlots.append(div);
    }
    while (this.statePlots.children.length > slots.length) {
      Plotly.purge(this.statePlots.lastChild);
      this.statePlots.lastChild.remove();
    }
    const plot = (el, traces, title) => Plotly.react(el, traces, this.layout(title, traces, n), cfg);
    const eff = this.pair("−Δx/g", positive(run.effx), positive(run.effy), colour);
    await Promise.all([
      plot(this.lrPlot, lrTraces, run.stepSize ? t("lr applied (grey dashes), bias-corrected step size") : t("lr applied")),
      plot(this.effPlot, eff, t("effective step −Δx/g {0}", XY)),
      ...slots.map(([name, slot], i) => plot(this.statePlots.children[i], this.pair(name, slot.x, slot.y, colour), t("state {0} {1}", name, XY))),
    ]);
    this.shown = run;
    this.drawRule(spec, run);
    this.fillTable(run);
  }

  async drawStep() {
    if (!this.shown || this.shown !== this.run()) return; // plots not drawn for this run yet
    const shapes = this.marker();
    await Promise.all(this.plots().map((el) => Plotly.relayout(el, { shapes })));
    this.fillTable(this.shown);
  }

  drawRule(spec, run) {
    const key = JSON.stringify([spec.id, run.hyperparameters]);
    if (key === this.typesetKey) return;
    this.typesetKey = key;
    this.reference.textContent = spec.reference;
    typeset(this.symbolic, spec.rule);
    typeset(this.filled, fillIn(spec.rule, spec.hyperparameters, run.hyperparameters, spec.style.colour));
  }

  /** The numbers behind step k: what the rule read and wrote. */
  fillTable(run) {
    const m = headIndex(run, this.k);
    const step = m; // after m steps the last update was step t = m (arrays are indexed from 0)
    const rows = [
      [t("position"), `(${fmt(run.xs[m], 4)}, ${fmt(run.ys[m], 4)})`],
      [t("loss"), fmt(run.losses[m], 4)],
    ];
    if (step > 0) {
      const i = step - 1;
      const pair = (a, b) => `(${fmt(a[i])}, ${fmt(b[i])})`;
      rows.push([t("lr applied"), fmt(run.lr[i])]);
      if (run.stepSize) rows.push([t("bias-corrected step size"), fmt(run.stepSize[i])]);
      rows.push([t("gradient g"), pair(run.gx, run.gy)]);
      for (const [name, slot] of Object.entries(run.state)) rows.push([t("state {0}", name), pair(slot.x, slot.y)]);
      rows.push([t("effective step −Δx/g"), pair(run.effx, run.effy)]);
    }
    this.stepLabel.textContent = step > 0 ? t("At step t = {0}", step) : t("At the start (no step yet)");
    this.table.replaceChildren(...rows.map(([k, v]) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      const td = document.createElement("td");
      th.scope = "row";
      th.textContent = k;
      td.textContent = v;
      tr.append(th, td);
      return tr;
    }));
  }
}
