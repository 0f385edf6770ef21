// Inlined, after plotly.js, into every HTML export (app/exports/html.py): not one of the page's modules.
// A plot keeping x and y to scale (the contour, a map of starts) narrows its plot area: hang the legend
// on that area's right edge (unless it lies below the plot) and centre the title over it, at any window
// size, instead of the page's edges.
function hug(gd) {
  const full = gd._fullLayout;
  if (!full || !full.xaxis) return;
  const [a, b] = full.xaxis.domain, x = b + 0.01, middle = (a + b) / 2, update = {};
  if (full.showlegend && full.legend.orientation !== "h" && Math.abs(full.legend.x - x) > 1e-3) {
    Object.assign(update, {"legend.x": x, "legend.xanchor": "left"});
  }
  if (Math.abs(full.title.x - middle) > 1e-3) Object.assign(update, {"title.x": middle, "title.xanchor": "center"});
  if (Object.keys(update).length) Plotly.relayout(gd, update);
  // A colour bar too (the map's): beside the plot, not at the page's edge.
  const bars = gd._fullData.filter((t) => t.showscale && t.colorbar && Math.abs(t.colorbar.x - x) > 1e-3);
  if (bars.length) Plotly.restyle(gd, {"colorbar.x": x, "colorbar.xanchor": "left"}, bars.map((t) => t.index));
}
