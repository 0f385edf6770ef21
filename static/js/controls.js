// The page's controls, bound by their data-key (the URL key they set). The
// template renders them from the registry; this file never names an optimizer.

import { readKey, runScheduleOwner, specOf, untuned, valueOf, withSurfaceLr } from "./state.js";
import { mustBeBetween } from "./api.js";
import { fromPosition, toPosition } from "./slider.js";
import { $, $$, fmt, put } from "./util.js";
import { t } from "./i18n.js";

const DISPLAY_FLAGS = new Set(["large", "loop", "autoplay", "extras"]);

function typed(el) {
  const text = el.value.trim();
  if (text === "") return NaN;
  const v = Number(text);
  return el.dataset.kind === "int" && Number.isFinite(v) && !Number.isInteger(v) ? NaN : v;
}

/** Whose setting a key is, as a person would name it: "Adam's lr", "Ill-conditioned quadratic's kappa", "steps". */
export function settingName(key, s, catalog) {
  const dot = key.lastIndexOf(".");
  if (dot < 0) return key;
  const [owner, name] = [key.slice(0, dot), key.slice(dot + 1)];
  const run = runScheduleOwner(owner, catalog);
  if (run) {
    const schedule = catalog.schedule(s.runSched?.[run]?.name)?.label.toLowerCase() ?? "schedule";
    return `${catalog.optimizer(run).label}'s ${schedule} ${name}`;
  }
  const whose = owner === "surface" ? catalog.surface(s.surface).label
    : owner === "sched" ? catalog.schedule(s.sched ?? catalog.defaultSchedule()).label
    : catalog.optimizer(owner)?.label;
  return whose ? `${whose}'s ${name}` : key;
}

/**
 * Wire every [data-key] control under `root` to `scene.set`. `onInvalid(message)` hears about a typed
 * value that is not a number or is out of its range; the value is put back and the state is unchanged,
 * so the address keeps the last good state. The server checks again and names the range in its 422.
 */
export function bindControls(root, scene, catalog, onInvalid) {
  const set = (key, value, e) => scene.set(key, value, e.timeStamp);

  for (const el of $$('input[type="range"][data-key]', root)) {
    el.addEventListener("input", (e) => {
      const v = fromPosition(el);
      el.setAttribute("aria-valuetext", fmt(v, 4));
      const box = $(`input[type="number"][data-key="${el.dataset.key}"]`, el.parentElement);
      if (box) box.value = String(v);
      set(el.dataset.key, v, e);
    });
  }
  for (const el of $$('input[type="number"][data-key]', root)) {
    el.addEventListener("change", (e) => {
      const v = typed(el);
      const key = el.dataset.key;
      const name = key === "start" ? el.getAttribute("aria-label") : settingName(key, scene.s, catalog);
      const putBack = () => { el.value = String(key === "start" ? scene.s.start[Number(el.dataset.index)] : valueOf(key, scene.s, catalog)); };
      if (!Number.isFinite(v)) {
        onInvalid(`${name} must be ${el.dataset.kind === "int" ? "a whole number" : "a number"}; you typed "${el.value}"`);
        putBack();
        return;
      }
      const spec = key === "start" ? null : specOf(key, scene.s, catalog);
      if (spec && (v < spec.low || v > spec.high)) {
        onInvalid(mustBeBetween(name, spec.low, spec.high, t("you typed {0}", el.value.trim())));
        putBack();
        return;
      }
      if (el.dataset.key === "start") {
        const start = [...scene.s.start];
        start[Number(el.dataset.index)] = v;
        set("start", start, e);
      } else {
        set(el.dataset.key, v, e);
      }
    });
  }
  // A list typed as text (a network's widths), read by its row of the link's grammar.
  for (const el of $$('input[type="text"][data-key]', root)) {
    el.addEventListener("change", (e) => {
      const read = readKey(catalog.links.get(el.dataset.key), el.value, catalog);
      if (read.reason) {
        onInvalid(read.reason);
        el.value = String(valueOf(el.dataset.key, scene.s, catalog));
        return;
      }
      set(el.dataset.key, read.value, e);
    });
  }
  for (const el of $$('select[data-key], input[type="radio"][data-key]', root)) {
    el.addEventListener("change", (e) => set(el.dataset.key, el.dataset.key === "speed" ? Number(el.value) : el.value, e));
  }
  for (const el of $$('input[type="checkbox"][data-key]', root)) {
    el.addEventListener("change", (e) => set(el.dataset.key, DISPLAY_FLAGS.has(el.dataset.key) ? el.checked : Number(el.checked), e));
  }
  for (const el of $$("[data-opt-toggle]", root)) {
    el.addEventListener("change", (e) => {
      const id = el.dataset.optToggle;
      const opt = el.checked ? [...scene.s.opt.filter((o) => o !== id), id] : scene.s.opt.filter((o) => o !== id);
      const s = { ...scene.s, opt };
      // A run ticked without a rate of its own starts at the one its surface gives it.
      const fresh = el.checked && scene.s.hp[id]?.lr === undefined;
      scene.update(fresh ? withSurfaceLr(s, id, catalog) : s, e.timeStamp);
    });
  }
  for (const el of $$("button.tune", root)) {
    el.addEventListener("click", () => {
      const panel = document.getElementById(el.getAttribute("aria-controls"));
      panel.hidden = !panel.hidden;
      el.setAttribute("aria-expanded", String(!panel.hidden));
      const own = $(".run-sched", panel);
      if (!panel.hidden && own && !own.childElementCount) {
        fillRunSchedule(own, catalog);
        bindControls(own, scene, catalog, onInvalid);
        syncControls(own, scene.s, catalog);
      }
    });
  }
  for (const el of $$("[data-reset]", root)) {
    el.addEventListener("click", (e) => {
      const id = el.dataset.reset;
      const hp = { ...scene.s.hp };
      const runSched = { ...scene.s.runSched };
      delete hp[id];
      delete runSched[id];
      const bad = Object.fromEntries(Object.entries(scene.s.bad ?? {}).filter(([key]) => !key.startsWith(`${id}.`)));
      scene.update(untuned(withSurfaceLr({ ...scene.s, hp, runSched, bad }, id, catalog), id), e.timeStamp);
    });
  }
}

/** Put a run's own schedule parameters into its panel, from the page's one template of them. */
function fillRunSchedule(box, catalog) {
  const tpl = document.getElementById("run-sched-controls");
  if (!tpl) return;
  const id = box.dataset.run;
  const controls = tpl.content.cloneNode(true);
  for (const el of controls.querySelectorAll("*")) {
    for (const attr of [...el.attributes]) {
      if (!attr.value.includes("__")) continue;
      // Schedules share parameter names (gamma, warmup_steps): an id also names its schedule, to stay unique.
      const asId = attr.name === "id" || attr.name === "for" || attr.name === "aria-describedby";
      const value = attr.value.replaceAll("__run__", asId ? id.replaceAll(".", "-") : id)
        .replaceAll("__label__", catalog.optimizer(id).label);
      el.setAttribute(attr.name, asId ? `${value}-${el.closest("[data-run-sched]").dataset.runSched}` : value);
    }
  }
  box.replaceChildren(controls);
}

/**
 * The optimizer search box: shows the optimizers whose id, name, help or group holds every typed word
 * (ticked ones stay, so they can be unticked), hides groups left empty, and says how many match.
 */
export function bindOptimizerSearch(root) {
  const box = $("#opt-search", root);
  if (!box) return;
  const count = $("#opt-search-count", root);
  const filter = () => {
    const words = box.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0, total = 0;
    for (const group of $$(".opt-group", root)) {
      let any = false;
      for (const li of $$("li.opt", group)) {
        total += 1;
        const on = $("[data-opt-toggle]", li).checked;
        const hit = words.every((w) => li.dataset.find.includes(w));
        li.hidden = !(hit || on);
        if (hit) shown += 1;
        any ||= !li.hidden;
      }
      group.hidden = !any;
    }
    count.hidden = words.length === 0;
    count.textContent = shown === 0 ? t("No optimizer matches \"{0}\".", box.value.trim()) : t("{0} of {1} optimizers match.", shown, total);
  };
  box.addEventListener("input", filter);
  box.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && box.value) {
      box.value = "";
      filter();
      e.stopPropagation();
    }
  });
}

/**
 * Show a state in every control (after a load, a preset, or a click on the contour); or, given `only`,
 * in the controls of that optimizer alone, when nothing else changed: a slider's drag syncs at every
 * move, and the page holds hundreds of controls.
 */
export function syncControls(root, s, catalog, only = null) {
  const surface = catalog.surface(s.surface);
  for (const el of $$(only ? `[data-key^="${only}."]` : "[data-key]", root)) {
    const key = el.dataset.key;
    if (el === document.activeElement && el.type !== "checkbox" && el.type !== "radio") continue;
    if (key === "start") { put(el, "value", String(s.start[Number(el.dataset.index)])); continue; }
    // A control of another surface or schedule has no spec in this state; a run's schedule choice has none at all.
    if (!specOf(key, s, catalog) && key.includes(".") && !runScheduleOwner(key, catalog)) continue;
    const v = valueOf(key, s, catalog);
    // Write only what differs: setting an input's value costs style work even when it is the same.
    if (el.type === "checkbox" || el.type === "radio") {
      const on = el.type === "radio" ? el.value === v : Boolean(v);
      if (el.checked !== on) el.checked = on;
    } else {
      const text = String(el.type === "range" ? toPosition(el, v) : v);
      if (el.value !== text) el.value = text;
      if (el.type === "range" && el.dataset.shown !== String(v)) {
        el.dataset.shown = String(v);
        el.setAttribute("aria-valuetext", fmt(v, 4));
      }
    }
  }
  if (only) return;
  for (const el of $$("[data-opt-toggle]", root)) {
    const on = s.opt.includes(el.dataset.optToggle);
    if (el.checked !== on) el.checked = on;
    el.closest(".opt").classList.toggle("on", on);
  }
  for (const el of $$("[data-surface]", root)) put(el, "hidden", el.dataset.surface !== s.surface);
  for (const el of $$("[data-not-surface]", root)) put(el, "hidden", el.dataset.notSurface === s.surface);
  for (const el of $$("[data-sched]", root)) put(el, "hidden", el.dataset.sched !== (s.sched ?? catalog.defaultSchedule()));
  for (const el of $$("[data-run-sched]", root)) {
    put(el, "hidden", el.dataset.runSched !== s.runSched?.[el.closest("[data-run]")?.dataset.run]?.name);
  }
  put($('[data-ctl="seed"]', root), "hidden", !surface.stochastic);
}
