// Inlined, after plotly.js, into every HTML export (app/exports/html.py): not one of the page's modules.
// The animated export: a play button, a scrubber, and every run drawn up to the frame's step.
(() => {
  const D = JSON.parse(document.getElementById("gradscape-data").textContent);
  const gd = document.getElementById("plot");
  const scrub = document.getElementById("scrub"), play = document.getElementById("play");
  const label = document.getElementById("step");
  const axes = D.three_d ? ["x", "y", "z"] : ["x", "y"];
  const traces = D.runs.flatMap((_, j) => [D.first + 2 * j, D.first + 2 * j + 1]).concat(D.exits.map(e => e.trace));
  let shown = 0, playing = false, last = -Infinity;
  function show(i) {
    shown = i;
    const k = D.frames[i], update = {};
    axes.forEach(a => update[a] = []);
    D.runs.forEach(run => {
      const n = Math.min(k + 1, run.x.length);
      axes.forEach(a => { update[a].push(run[a].slice(0, n)); update[a].push(run[a].slice(n - 1, n)); });
    });
    // A run's exit marker appears at the step it leaves the frame, not before.
    D.exits.forEach(e => axes.forEach(a => update[a].push(k >= e.step ? e[a] : [])));
    Plotly.update(gd, update, {"title.text": D.title.replace("{step}", k)}, traces);
    scrub.value = i;
    label.textContent = D.words.step.replace("{0}", k);
  }
  function tick(t) {
    if (!playing) return;
    if (t - last >= 1000 / D.fps) {
      last = t;
      if (shown + 1 < D.frames.length) show(shown + 1);
      else if (D.loop) show(0);
      else { setPlaying(false); return; }
    }
    requestAnimationFrame(tick);
  }
  function setPlaying(on) {
    playing = on;
    play.textContent = on ? D.words.pause : D.words.play;
    if (on) {
      if (shown + 1 >= D.frames.length) show(0);
      last = -Infinity;
      requestAnimationFrame(tick);
    }
  }
  play.addEventListener("click", () => setPlaying(!playing));
  scrub.addEventListener("input", () => { setPlaying(false); show(Number(scrub.value)); });
  document.addEventListener("keydown", e => {
    if (e.key === " " && e.target === document.body) { e.preventDefault(); setPlaying(!playing); }
  });
  const hugs = () => { if (!D.three_d) hug(gd); };
  Plotly.newPlot(gd, D.figure.data, D.figure.layout, D.config).then(() => {
    hugs();
    gd.on("plotly_afterplot", hugs);
    show(D.autoplay ? 0 : D.frames.length - 1);  // paused, it opens on the whole paths
    setPlaying(D.autoplay);
  });
})();
