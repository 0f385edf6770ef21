// Loaded before the stylesheet, as a file rather than inline so the Content-Security-Policy allows no
// inline script: large text is set before the first paint, so it never flashes small.
if (/(^|[?&])large=1(&|$)/.test(location.search)) document.documentElement.classList.add("large");
