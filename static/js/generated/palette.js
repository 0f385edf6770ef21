// Generated from app/palette.py by `python -m app.palette static/js/generated/palette.js`: do not edit.
export const DIVERGED_COLOUR = "#d7191c";
export const NOT_CONVERGED_COLOUR = "#cfd5db";
export const BASIN_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
export const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"];
