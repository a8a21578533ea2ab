/** Translations: each module registers its strings with `addMessages`; `t` picks the browser's language. */

const catalog = { en: {}, it: {} };

/** 'it' or 'en', the first of the browser's preferred languages we speak. */
export const lang =
  (navigator.languages || [navigator.language])
    .map((tag) => String(tag).slice(0, 2).toLowerCase())
    .find((code) => code in catalog) || 'en';

/** Registers strings: `{en: {key: text}, it: {key: text}}`. */
export function addMessages(messages) {
  for (const [code, entries] of Object.entries(messages)) Object.assign((catalog[code] ??= {}), entries);
}

/** The text for `key` in the current language, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = catalog[lang][key] ?? catalog.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in vars ? String(vars[name]) : match));
}
