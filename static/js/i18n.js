// The page's own words in the page's language: a call of t with an English sentence (a double-quoted literal)
// and its values looks the English up in the translations the server embeds, which
// `python -m app.services.messages` extracts from those calls into the one message catalog; the registry's
// text already comes translated in the catalog.

// Nothing embedded (a module loaded outside the page): English.
const embedded = typeof document === "undefined" ? null : document.getElementById("messages");
const { lang, messages } = embedded ? JSON.parse(embedded.textContent) : { lang: "en", messages: {} };

/** The language the page is in ("en", "zh-CN"). */
export const LANG = lang;

/** `text` in the page's language, its {0}, {1}… filled with `values` (a translation may reorder them). */
export function t(text, ...values) {
  const out = messages[text] ?? text;
  return values.length ? out.replace(/\{(\d+)\}/g, (m, k) => (k < values.length ? String(values[k]) : m)) : out;
}

/**
 * A text another program wrote into the page's code (app/jsgen.py's reasons in generated/kernels.js), in the
 * page's language: the extraction reads it from that module, not from a call here.
 */
export function translated(text) {
  return messages[text] ?? text;
}

/** A request's URL asking for answers (error messages) in the page's language, whatever the cookie says. */
export function withLang(url) {
  return LANG === "en" ? url : `${url}${url.includes("?") ? "&" : "?"}lang=${encodeURIComponent(LANG)}`;
}

/**
 * A state to share (a link, an embed, an export) in the page's language: a link made on a page in Chinese
 * opens in Chinese for everyone it is sent to. An English page leaves the link's language as it was, so a
 * reader's own preference still chooses.
 */
export function withPageLang(s) {
  return s.lang || LANG === "en" ? s : { ...s, lang: LANG };
}
