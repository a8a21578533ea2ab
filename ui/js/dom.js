/** Small DOM helpers shared by the inbox modules: escaping, element building, contact names and avatars. */

import { t } from './i18n.js';
import { glyph } from './icons.js';

const ESCAPES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for use inside HTML markup and attribute values. */
export function esc(value) {
  return String(value ?? '').replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

/**
 * Creates an element from a tag, attributes (`on…` keys add listeners, `html` sets the markup; `null`, `undefined`
 * and `false` are left out, `true` sets an empty attribute) and children (nodes or text, nested arrays allowed).
 */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') element.addEventListener(name.slice(2), value);
    else if (name === 'html') element.innerHTML = value;
    else element.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child !== null && child !== undefined && child !== false) element.append(child);
  }
  return element;
}

/**
 * How a contact is shown: `primary` is its name when the address book has it, "Unknown user" otherwise;
 * `secondary` is the name the channel gave (or the phone / email) for an unknown user.
 */
export function contactLabel(contact) {
  if (contact?.in_address_book && contact.name) return { primary: contact.name, secondary: '' };
  return { primary: t('common.unknown_user'), secondary: contact?.name || contact?.phone || contact?.email || '' };
}

function initials(name) {
  const words = String(name).trim().split(/\s+/).filter(Boolean);
  return (words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || '?').slice(0, 2)).toUpperCase();
}

/** Avatar markup: the contact's photo, else initials of a known name, else a person silhouette. */
export function avatarHtml(contact, size = 40) {
  const style = `width:${size}px;height:${size}px;font-size:${Math.round(size * 0.38)}px`;
  if (contact?.avatar_url) {
    return `<img class="avatar" style="${style}" src="${esc(contact.avatar_url)}" alt="" loading="lazy" decoding="async">`;
  }
  const hue = ((contact?.id || 0) * 47) % 360;
  const known = contact?.name;
  return `<span class="avatar" style="${style};background:hsl(${hue} 45% 45%)" aria-hidden="true">${
    known ? esc(initials(contact.name)) : glyph('person', Math.round(size * 0.6))
  }</span>`;
}

/** A contact photo that cannot load (gone, or another origin the page's policy refuses) becomes a silhouette. */
document.addEventListener(
  'error',
  (event) => {
    const image = event.target;
    if (!(image instanceof HTMLImageElement) || !image.classList.contains('avatar')) return;
    const fallback = document.createElement('span');
    fallback.className = 'avatar';
    fallback.setAttribute('style', image.getAttribute('style') || '');
    fallback.setAttribute('aria-hidden', 'true');
    fallback.innerHTML = glyph('person', Math.round(image.width * 0.6) || 24);
    image.replaceWith(fallback);
  },
  true,
);
