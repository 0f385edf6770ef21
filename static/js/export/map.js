// Inlined, after plotly.js, into every HTML export (app/exports/html.py): not one of the page's modules.
// The map export: one still plot, its legend and colour bar hugging the plot.
(() => {
  const D = JSON.parse(document.getElementById("gradscape-data").textContent);
  const gd = document.getElementById("plot");
  Plotly.newPlot(gd, D.figure.data, D.figure.layout, D.config).then(() => {
    hug(gd);
    gd.on("plotly_afterplot", () => hug(gd));
  });
})();
