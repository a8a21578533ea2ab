/** Translations: the catalogs in `locales/` (one file per language); `t` picks the browser's language. */

import en from './locales/en.js';
import it from './locales/it.js';

const catalog = { en, it };

/** 'it' or 'en': the first of the browser's preferred languages that we speak. */
export const lang =
  (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language || 'en'])
    .map((tag) => String(tag).slice(0, 2).toLowerCase())
    .find((code) => code in catalog) || 'en';

document.documentElement.lang = lang;

/** The text for `key` in the current language, with `{name}` placeholders filled from `vars`. */
export function t(key, vars = {}) {
  const text = catalog[lang]?.[key] ?? catalog.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (match, name) => (name in vars ? String(vars[name]) : match));
}

const timeFormat = new Intl.DateTimeFormat(lang, { hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat(lang, { day: 'numeric', month: 'short' });
const fullFormat = new Intl.DateTimeFormat(lang, { dateStyle: 'medium', timeStyle: 'short' });

/** A short time for lists: the clock time today, the date otherwise. */
export function shortTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return date.toDateString() === new Date().toDateString() ? timeFormat.format(date) : dayFormat.format(date);
}

/** The clock time of a message. */
export function clockTime(iso) {
  return iso ? timeFormat.format(new Date(iso)) : '';
}

/** Date and time in full, for tooltips. */
export function fullTime(iso) {
  return iso ? fullFormat.format(new Date(iso)) : '';
}
