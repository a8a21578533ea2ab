/** Inline SVG icons: channel logos (simplified, in each network's colour) and interface glyphs. */

const svg = (body, { size = 20, label = '', viewBox = '0 0 24 24' } = {}) =>
  `<svg class="icon" width="${size}" height="${size}" viewBox="${viewBox}" ${
    label ? `role="img" aria-label="${label}"` : 'aria-hidden="true"'
  } focusable="false">${body}</svg>`;

const CHANNELS = {
  whatsapp: {
    name: 'WhatsApp',
    body: '<circle cx="12" cy="12" r="11" fill="#25D366"/><path fill="#fff" d="M8.6 6.5c-.3 0-.7.1-1 .5-.3.4-1.1 1.1-1.1 2.6s1.1 3 1.3 3.2c.2.2 2.2 3.4 5.4 4.6 2.6 1 3.2.8 3.7.8.6-.1 1.8-.7 2-1.4.3-.7.3-1.3.2-1.4-.1-.1-.3-.2-.6-.4l-2-1c-.3-.1-.5-.1-.7.1l-.9 1.1c-.2.2-.3.2-.6.1-.3-.2-1.2-.5-2.3-1.4-.9-.8-1.4-1.7-1.6-2-.2-.3 0-.4.1-.6l.5-.5.3-.5c.1-.2 0-.4 0-.5l-.9-2.2c-.2-.5-.5-.5-.7-.5h-.5z"/>',
  },
  rcs: {
    name: 'RCS',
    body: '<rect x="1" y="1" width="22" height="22" rx="6" fill="#1A73E8"/><path fill="#fff" d="M6 7h12a1 1 0 0 1 1 1v7a1 1 0 0 1-1 1h-7l-4 3v-3H6a1 1 0 0 1-1-1V8a1 1 0 0 1 1-1z"/><circle cx="9" cy="11.5" r="1" fill="#1A73E8"/><circle cx="12" cy="11.5" r="1" fill="#1A73E8"/><circle cx="15" cy="11.5" r="1" fill="#1A73E8"/>',
  },
  messenger: {
    name: 'Messenger',
    body: '<circle cx="12" cy="12" r="11" fill="#0084FF"/><path fill="#fff" d="M5.5 14.8l3.9-4.2 2 2.1 3.8-2.1-3.9 4.2-2-2.1z"/>',
  },
  instagram: {
    name: 'Instagram',
    body: '<rect x="1" y="1" width="22" height="22" rx="6" fill="#E1306C"/><rect x="5.5" y="5.5" width="13" height="13" rx="4" fill="none" stroke="#fff" stroke-width="1.8"/><circle cx="12" cy="12" r="3.2" fill="none" stroke="#fff" stroke-width="1.8"/><circle cx="16.1" cy="7.9" r="1" fill="#fff"/>',
  },
  sms: {
    name: 'SMS',
    body: '<rect x="1" y="1" width="22" height="22" rx="6" fill="#6B7280"/><path fill="#fff" d="M5 7h14v8h-8l-4 3v-3H5z"/><text x="12" y="13.4" font-size="5.2" font-family="sans-serif" font-weight="700" text-anchor="middle" fill="#6B7280">SMS</text>',
  },
  email: {
    name: 'Email',
    body: '<rect x="1" y="1" width="22" height="22" rx="6" fill="#D97706"/><rect x="5" y="7" width="14" height="10" rx="1.5" fill="#fff"/><path d="M5.5 7.8L12 12.5l6.5-4.7" fill="none" stroke="#D97706" stroke-width="1.5"/>',
  },
  webchat: {
    name: 'Web chat',
    body: '<circle cx="12" cy="12" r="11" fill="#7C3AED"/><circle cx="12" cy="12" r="6.5" fill="none" stroke="#fff" stroke-width="1.5"/><path d="M5.5 12h13M12 5.5c2.2 2.4 2.2 10.6 0 13M12 5.5c-2.2 2.4-2.2 10.6 0 13" fill="none" stroke="#fff" stroke-width="1.3"/>',
  },
  voice: {
    name: 'Voice',
    body: '<circle cx="12" cy="12" r="11" fill="#DC2626"/><path fill="#fff" d="M8.3 5.5c.4 0 .8.2 1 .6l1.1 2.4c.2.4.1.9-.2 1.2l-1 1c.7 1.5 1.8 2.6 3.3 3.3l1-1c.3-.3.8-.4 1.2-.2l2.4 1.1c.4.2.6.6.6 1v1.6c0 .7-.6 1.3-1.3 1.3C10.9 18.5 5.5 13.1 5.5 6.8c0-.7.6-1.3 1.3-1.3z"/>',
  },
  api: {
    name: 'API',
    body: '<rect x="1" y="1" width="22" height="22" rx="6" fill="#0F766E"/><path d="M9 7.5L4.5 12 9 16.5M15 7.5l4.5 4.5-4.5 4.5" fill="none" stroke="#fff" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>',
  },
};

/** The channel kinds, in the order the inbox lists them. */
export const CHANNEL_KINDS = Object.keys(CHANNELS);

/** The display name of a channel kind. */
export function channelName(kind) {
  return CHANNELS[kind]?.name || kind;
}

/** A channel kind's logo as SVG markup, labelled with the kind's name unless `decorative`. */
export function channelIcon(kind, { size = 20, decorative = false } = {}) {
  const channel = CHANNELS[kind] || { name: kind, body: '<circle cx="12" cy="12" r="11" fill="#9CA3AF"/>' };
  return svg(channel.body, { size, label: decorative ? '' : channel.name });
}

const GLYPHS = {
  inboxes: '<path d="M3 13l2.5-8h13L21 13v6H3z M3 13h5l1.5 2.5h5L16 13h5" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/>',
  search: '<circle cx="10.5" cy="10.5" r="6" fill="none" stroke="currentColor" stroke-width="2"/><path d="M15 15l5 5" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>',
  clip: '<path d="M16.5 6.5l-7.8 7.8a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.6-5.6l-8.2 8.2a6 6 0 0 0 8.5 8.5l6.3-6.3" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  send: '<path d="M3 20.5l18-8.5L3 3.5l2.5 7 9 1.5-9 1.5z" fill="currentColor"/>',
  smile: '<circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="1.8"/><circle cx="9" cy="10" r="1.2" fill="currentColor"/><circle cx="15" cy="10" r="1.2" fill="currentColor"/><path d="M8 14.5c2.2 2.5 5.8 2.5 8 0" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  person: '<circle cx="12" cy="9" r="4" fill="currentColor"/><path d="M4 21c0-4.4 3.6-7 8-7s8 2.6 8 7z" fill="currentColor"/>',
  panel: '<rect x="3" y="4" width="18" height="16" rx="2" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M15 4v16" stroke="currentColor" stroke-width="1.8"/>',
  back: '<path d="M15 5l-7 7 7 7" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"/>',
  logout: '<path d="M10 4H5v16h5M15 8l4 4-4 4M9 12h10" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
  lock: '<rect x="5" y="10" width="14" height="10" rx="2" fill="currentColor"/><path d="M8 10V7a4 4 0 0 1 8 0v3" fill="none" stroke="currentColor" stroke-width="1.8"/>',
  pin: '<path d="M12 21s-6-6.2-6-11a6 6 0 0 1 12 0c0 4.8-6 11-6 11z" fill="none" stroke="currentColor" stroke-width="1.8"/><circle cx="12" cy="10" r="2.2" fill="currentColor"/>',
  phone: '<path d="M7.5 3.5c.5 0 1 .3 1.2.8l1.4 3c.2.5.1 1.1-.3 1.5l-1.3 1.3c.9 1.9 2.4 3.4 4.3 4.3l1.3-1.3c.4-.4 1-.5 1.5-.3l3 1.4c.5.2.8.7.8 1.2v2.1c0 .9-.7 1.6-1.6 1.6C10.1 20.1 3.9 13.9 3.9 6.1c0-.9.7-1.6 1.6-1.6z" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/>',
  file: '<path d="M6 3h8l4 4v14H6z M14 3v4h4" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linejoin="round"/>',
  card: '<rect x="3" y="4" width="18" height="16" rx="2" fill="none" stroke="currentColor" stroke-width="1.8"/><path d="M3 12h18" stroke="currentColor" stroke-width="1.8"/><path d="M7 15.5h6" stroke="currentColor" stroke-width="1.8" stroke-linecap="round"/>',
  reply: '<path d="M10 8V4l-7 7 7 7v-4c5 0 8 1.5 11 5-1-5-4-10-11-11z" fill="currentColor"/>',
  close: '<path d="M6 6l12 12M18 6L6 18" stroke="currentColor" stroke-width="2" stroke-linecap="round"/>',
  upload: '<path d="M12 16V4M7 9l5-5 5 5M4 20h16" fill="none" stroke="currentColor" stroke-width="1.8" stroke-linecap="round" stroke-linejoin="round"/>',
};

/** An interface glyph (drawn in the current text colour; decorative, so label its button). */
export function glyph(name, size = 20) {
  return svg(GLYPHS[name] || '', { size });
}
