/** The inbox's right pane: who the open conversation is with, and the conversation's controls. */

import { api } from './api.js';
import { t, lang, fullTime } from './i18n.js';
import { h as el } from './dom.js';
import { channelIcon, channelName } from './icons.js';

/** A channel kind's logo, decorative (the channel's name is written beside it). */
function channelLogo(kind) {
  return el('span', { class: 'cp-icon', 'aria-hidden': 'true', html: channelIcon(kind, { decorative: true }) });
}

/** Up to two initials of a name, or an empty string without one. */
function initials(name) {
  const letters = (name || '').trim().split(/\s+/).filter(Boolean).map((word) => [...word][0]);
  return (letters.length > 1 ? letters[0] + letters[letters.length - 1] : letters[0] || '').toUpperCase();
}

/** A person's silhouette, for contacts without a known name. */
function silhouette() {
  const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', 'cp-silhouette');
  svg.innerHTML = '<circle cx="12" cy="8.5" r="4" fill="currentColor"/><path fill="currentColor" d="M4 20a8 8 0 0 1 16 0z"/>';
  return svg;
}

/**
 * A contact's photo, else its initials (a silhouette for unknown users) on a colour chosen by its id;
 * decorative, as the name is shown beside it.
 */
export function avatar(contact) {
  const letters = initials(contact.in_address_book ? contact.name : '');
  const fallback = el('span', { class: 'cp-avatar', 'aria-hidden': 'true', 'data-testid': 'contact-avatar' },
    letters || silhouette());
  fallback.style.setProperty('--cp-hue', String((contact.id * 67) % 360));
  if (!contact.avatar_url) return fallback;
  const img = el('img', { class: 'cp-avatar', src: contact.avatar_url, alt: '', 'data-testid': 'contact-avatar' });
  img.addEventListener('error', () => img.replaceWith(fallback), { once: true });
  return img;
}

/** The name to show for a contact: its name once it is in the address book, else "Unknown user". */
function displayName(contact) {
  return contact.in_address_book && contact.name ? contact.name : t('contact.unknown');
}

/** A short text for a failed request: the problem's field errors or detail. */
export function describeError(error) {
  const fields = error.problem?.errors?.map((e) => `${e.field}: ${e.message}`).join('; ');
  return fields || error.problem?.detail || error.message;
}

/** The values of a form's named fields, trimmed. */
export function formValues(form) {
  return Object.fromEntries([...new FormData(form)].map(([name, value]) => [name, String(value).trim()]));
}

/** A short local date and time. */
function formatTime(iso) {
  return new Intl.DateTimeFormat(lang, { dateStyle: 'short', timeStyle: 'short' }).format(new Date(iso));
}

let nextId = 0;
/** A document-unique id for label and heading references. */
export function uid(prefix) {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

const renders = new WeakMap();
const focusAfterChange = new WeakMap();

/** Where focus goes when the control that had it is gone after a change (e.g. Archive became Unarchive). */
const FOCUS_FALLBACK = {
  'archive-button': 'unarchive-button',
  'unarchive-button': 'archive-button',
  'resolve-button': 'reopen-button',
  'reopen-button': 'resolve-button',
  'close-button': 'reopen-button',
  'tag-remove': 'tag-input',
  'attribute-remove': 'attribute-key',
};

/** Focuses the control with test id `testid` in `element`, else its fallback, else the contact's name. */
function restoreFocus(element, testid) {
  const find = (id) => (id ? element.querySelector(`[data-testid="${id}"]`) : null);
  (find(testid) ?? find(FOCUS_FALLBACK[testid]) ?? find('contact-name')).focus();
}

/**
 * The contact's messages on every channel, newest last, loaded on demand a page at a time (`conversations`, every
 * conversation of the contact, tells each message's channel).
 */
function historySection(view, conversations) {
  const channelOf = new Map(conversations.map((c) => [c.id, c.channel]));
  const list = el('ol', { class: 'cp-list', 'data-testid': 'contact-history' });
  let cursor = null;
  const more = el('button', { type: 'button', class: 'cp-button', 'data-testid': 'contact-history-more', hidden: true,
    onclick: () => load() }, t('contact.history_more'));
  const open = el('button', { type: 'button', class: 'cp-button', 'data-testid': 'contact-history-open',
    onclick: () => load() }, t('contact.history_open'));
  async function load() {
    open.hidden = true;
    more.disabled = true;
    try {
      const page = await api('GET', `/api/v1/contacts/${view.contact.id}/messages?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      cursor = page.next_cursor;
      const items = page.data.map((message) => {
        const channel = channelOf.get(message.conversation_id);
        return el('li', { class: 'cp-history-item', 'data-testid': 'contact-history-item',
          'data-channel-kind': channel?.kind ?? '', 'data-direction': message.direction },
        el('span', { class: 'cp-other-head' },
          channel ? channelLogo(channel.kind) : null,
          el('span', { class: 'cp-other-channel' }, channel ? channelName(channel.kind) : ''),
          el('time', { datetime: message.created_at }, formatTime(message.created_at))),
        el('span', { class: 'cp-preview' }, message.text || message.type));
      });
      list.prepend(...items);
      if (!list.children.length) list.append(el('li', { class: 'cp-muted' }, t('contact.history_empty')));
    } catch (error) {
      view.error.textContent = describeError(error);
    } finally {
      more.hidden = !cursor;
      more.disabled = false;
    }
  }
  return section(t('contact.history'), 'contact-history-section', open, more, list);
}

/**
 * Renders the right pane for `conversation` (the API's Conversation) into `element`. `ctx` is the shell's
 * `{openConversation(id), refresh()}`: every change is saved through the API, then `ctx.refresh()` re-reads
 * the conversation and renders the pane again. A render started later wins over one still loading.
 */
export async function renderContactPane(element, conversation, ctx) {
  const token = {};
  renders.set(element, token);
  element.classList.add('cp');
  element.setAttribute('aria-busy', 'true');
  const contactPath = `/api/v1/contacts/${conversation.contact.id}`;
  let loaded;
  try {
    loaded = await Promise.all([
      api('GET', contactPath),
      api('GET', `${contactPath}/conversations`),
      api('GET', '/api/v1/operators'),
      api('GET', '/api/v1/surveys'),
      conversation.channel.kind === 'webchat'
        ? api('GET', `/api/v1/conversations/${conversation.id}/chat`)
        : Promise.resolve(null),
    ]);
  } catch (error) {
    if (renders.get(element) === token) {
      element.removeAttribute('aria-busy');
      element.replaceChildren(el('p', { class: 'cp-error', role: 'alert', 'data-testid': 'contact-error' },
        describeError(error)));
    }
    return;
  }
  if (renders.get(element) !== token) return;
  const [contact, others, operators, surveys, chat] = loaded;
  const focused = focusAfterChange.get(element)
    ?? (element.contains(document.activeElement) ? document.activeElement.dataset.testid : null);
  focusAfterChange.delete(element);
  const view = {
    element,
    ctx,
    conversation,
    contact,
    error: el('p', { class: 'cp-error', role: 'alert', 'data-testid': 'contact-error' }),
  };
  const sections = [
    header(contact),
    view.error,
    contact.in_address_book ? null : addForm(view),
    identities(contact),
    conversationSection(view, operators.data),
    surveySection(view, surveys.data),
    tagSection(view),
    chat ? chatSection(chat) : null,
    attributeSection(view),
    otherConversations(view, others.data),
    historySection(view, others.data),
  ];
  element.replaceChildren(...sections.filter(Boolean));
  element.removeAttribute('aria-busy');
  if (focused) restoreFocus(element, focused);
}

/** The customer's satisfaction vote on the conversation, as stars, and sending them a survey. */
function surveySection(view, surveys) {
  const rating = view.conversation.survey;
  const stars = rating > 0
    ? el('p', { class: 'cp-stars', 'data-testid': 'survey-rating', 'data-rating': rating, 'aria-label': t('contact.survey_of', { rating }) },
      '★'.repeat(rating) + '☆'.repeat(5 - rating), ` ${rating}/5`)
    : null;
  if (!stars && !surveys.length) return null;
  const choice = el('select', { 'data-testid': 'survey-select', 'aria-label': t('contact.survey_choice') },
    surveys.map((survey) => el('option', { value: String(survey.id) }, survey.name)));
  const send = actionButton(view, 'survey-send', t('contact.survey_send'),
    () => api('POST', `/api/v1/conversations/${view.conversation.id}/survey`, { survey_id: Number(choice.value) }));
  return section(t('contact.survey'), 'survey-section', stars,
    surveys.length ? el('div', { class: 'cp-actions' }, choice, send) : null);
}

/**
 * Runs a change from a control: disables it meanwhile, then `ctx.refresh()` has the shell re-read the
 * conversation and redraw this pane (focus returns to the control, or to the one that replaced it); a
 * failure is announced and the control re-enabled.
 */
async function change(view, control, request) {
  focusAfterChange.set(view.element, control.dataset.testid);
  control.disabled = true;
  view.error.textContent = '';
  try {
    await request();
    await view.ctx.refresh();
  } catch (error) {
    focusAfterChange.delete(view.element);
    view.error.textContent = describeError(error);
    control.disabled = false;
    control.focus();
  }
}

/** Saves `fields` on the contact. */
function patchContact(view, fields) {
  return () => api('PATCH', `/api/v1/contacts/${view.contact.id}`, fields);
}

/** Changes the conversation with a PATCH body. */
function patchConversation(view, body) {
  return () => api('PATCH', `/api/v1/conversations/${view.conversation.id}`, body);
}

function section(title, testid, ...children) {
  const id = uid('cp-section');
  return el('section', { class: 'cp-section', 'aria-labelledby': id, 'data-testid': testid },
    el('h3', { id }, title), children);
}

function header(contact) {
  const known = contact.in_address_book;
  return el('header', { class: 'cp-head' },
    avatar(contact),
    el('div', { class: 'cp-head-text' },
      el('h2', { class: 'cp-name', tabindex: '-1', 'data-testid': 'contact-name' }, displayName(contact)),
      !known && contact.name
        ? el('p', { class: 'cp-muted', 'data-testid': 'contact-profile-name' },
          t('contact.profile_name', { name: contact.name }))
        : null,
      flagBadges(contact),
      contact.phone ? el('p', { class: 'cp-line', 'data-testid': 'contact-phone' }, contact.phone) : null,
      contact.email ? el('p', { class: 'cp-line', 'data-testid': 'contact-email' }, contact.email) : null));
}

/** The customer flags a business set (verified customer, bad actor in red, repeat customer) as badges. */
function flagBadges(contact) {
  const attributes = contact.attributes ?? {};
  const set = ['verified_customer', 'bad_actor', 'repeat_customer'].filter((flag) => attributes[flag] === true);
  if (!set.length) return null;
  return el('ul', { class: 'cp-flags', 'data-testid': 'customer-flags', 'aria-label': t('contact.flags') },
    set.map((flag) => el('li', { class: `cp-flag cp-flag-${flag.replace('_', '-')}`, 'data-flag': flag },
      t(`contact.flag.${flag}`))));
}

/** What an integration added to a chat: its language, the business's custom data and the context. */
function chatSection(details) {
  const custom = Object.entries(details.custom_data ?? {});
  if (!details.lang && !custom.length && !details.context) return null;
  const rows = [];
  if (details.lang) rows.push([t('contact.chat_lang'), details.lang]);
  for (const [name, field] of custom) {
    rows.push([field?.label ?? name, typeof field?.value === 'string' ? field.value : JSON.stringify(field?.value)]);
  }
  if (details.context) rows.push([t('contact.chat_context'), JSON.stringify(details.context.value ?? details.context)]);
  return section(t('contact.chat_details'), 'chat-details',
    details.custom_data_signed ? el('p', { class: 'cp-muted', 'data-testid': 'chat-signed' }, t('contact.chat_signed')) : null,
    el('dl', { class: 'cp-attributes' }, rows.map(([label, value]) => [el('dt', {}, label), el('dd', {}, value)])));
}

function field(label, input) {
  return el('label', { class: 'cp-field' }, el('span', {}, label), input);
}

/** "Add to contacts": saves the unknown user in the address book with a name, phone and email. */
function addForm(view) {
  const { contact } = view;
  const id = uid('cp-add');
  const submit = el('button', { type: 'submit', class: 'cp-primary', 'data-testid': 'add-contact-submit' },
    t('contact.save'));
  return el('form', {
    class: 'cp-section cp-add',
    'aria-labelledby': id,
    'data-testid': 'add-contact-form',
    onsubmit(event) {
      event.preventDefault();
      const values = formValues(event.currentTarget);
      change(view, submit, patchContact(view, { ...values, in_address_book: true }));
    },
  },
  el('h3', { id }, t('contact.add_title')),
  field(t('contact.name'), el('input', {
    name: 'name', required: true, autocomplete: 'off', value: contact.name ?? '', 'data-testid': 'add-contact-name',
  })),
  field(t('contact.phone'), el('input', {
    name: 'phone', type: 'tel', autocomplete: 'off', value: contact.phone ?? '', 'data-testid': 'add-contact-phone',
  })),
  field(t('contact.email'), el('input', {
    name: 'email', type: 'email', autocomplete: 'off', value: contact.email ?? '', 'data-testid': 'add-contact-email',
  })),
  submit);
}

function identities(contact) {
  const list = contact.identities ?? [];
  return section(t('contact.identities'), 'identities',
    list.length === 0
      ? el('p', { class: 'cp-muted' }, t('contact.no_identities'))
      : el('ul', { class: 'cp-list', 'data-testid': 'identity-list' }, list.map((identity) =>
        el('li', { class: 'cp-identity', 'data-testid': 'identity', 'data-channel-kind': identity.channel_kind },
          channelLogo(identity.channel_kind),
          el('span', { class: 'cp-identity-kind' }, channelName(identity.channel_kind)),
          el('span', { class: 'cp-address' }, identity.external_id),
          identity.opted_out_at
            ? el('span', { class: 'cp-opted-out', 'data-testid': 'identity-opted-out', title: fullTime(identity.opted_out_at) },
              t('contact.opted_out'))
            : null))));
}

function actionButton(view, testid, label, request) {
  return el('button', {
    type: 'button',
    class: 'cp-button',
    'data-testid': testid,
    onclick: (event) => change(view, event.currentTarget, request),
  }, label);
}

/** Status, status actions, archive and assignee of the conversation. */
function conversationSection(view, operators) {
  const { conversation } = view;
  const path = `/api/v1/conversations/${conversation.id}`;
  const status = conversation.status;
  const select = el('select', {
    'data-testid': 'assignee-select',
    onchange: (event) => {
      const value = event.currentTarget.value;
      change(view, event.currentTarget, patchConversation(view, { assignee_id: value ? Number(value) : null }));
    },
  },
  el('option', { value: '', selected: conversation.assignee_id === null }, t('contact.unassigned')),
  operators.map((operator) =>
    el('option', { value: String(operator.id), selected: operator.id === conversation.assignee_id }, operator.name)));
  return section(t('contact.conversation'), 'conversation-controls',
    el('p', { class: 'cp-status' },
      el('span', { 'data-testid': 'conversation-status', 'data-status': status },
        t('contact.status', { status: t(`status.${status}`) })),
      conversation.archived
        ? el('span', { class: 'cp-badge', 'data-testid': 'conversation-archived' }, t('contact.archived'))
        : null),
    el('div', { class: 'cp-actions', role: 'group', 'aria-label': t('contact.status_actions') },
      status === 'open' || status === 'pending'
        ? actionButton(view, 'resolve-button', t('contact.resolve'), patchConversation(view, { status: 'resolved' }))
        : actionButton(view, 'reopen-button', t('contact.reopen'), patchConversation(view, { status: 'open' })),
      status === 'closed' ? null : actionButton(view, 'close-button', t('contact.close'),
        () => api('POST', `${path}/close`)),
      conversation.archived
        ? actionButton(view, 'unarchive-button', t('contact.unarchive'), () => api('POST', `${path}/unarchive`))
        : actionButton(view, 'archive-button', t('contact.archive'), () => api('POST', `${path}/archive`))),
    field(t('contact.assignee'), select));
}

/** The conversation's tags: remove one, or add one (the server lower-cases and de-duplicates). */
function tagSection(view) {
  const tags = view.conversation.tags;
  const add = el('button', { type: 'submit', class: 'cp-button', 'data-testid': 'tag-add' }, t('contact.add_tag'));
  return section(t('contact.tags'), 'tags',
    tags.length === 0
      ? el('p', { class: 'cp-muted' }, t('contact.no_tags'))
      : el('ul', { class: 'cp-tags', 'data-testid': 'tag-list' }, tags.map((tag) =>
        el('li', { class: 'cp-tag', 'data-testid': 'tag', 'data-tag': tag },
          el('span', {}, tag),
          el('button', {
            type: 'button',
            class: 'cp-tag-remove',
            'aria-label': t('contact.remove_tag', { tag }),
            'data-testid': 'tag-remove',
            onclick: (event) => change(view, event.currentTarget,
              patchConversation(view, { tags: tags.filter((other) => other !== tag) })),
          }, '×')))),
    el('form', {
      class: 'cp-inline-form',
      'data-testid': 'tag-form',
      onsubmit(event) {
        event.preventDefault();
        const { tag } = formValues(event.currentTarget);
        if (tag) change(view, add, patchConversation(view, { tags: [...tags, tag] }));
      },
    },
    field(t('contact.new_tag'), el('input', { name: 'tag', required: true, maxlength: '64', 'data-testid': 'tag-input' })),
    add));
}

/** The contact's custom attributes: list, edit (the form is filled with the pair), remove, add. */
function attributeSection(view) {
  const attributes = view.contact.attributes ?? {};
  const entries = Object.entries(attributes);
  const save = el('button', { type: 'submit', class: 'cp-button', 'data-testid': 'attribute-save' },
    t('contact.save_attribute'));
  const keyInput = el('input', { name: 'key', required: true, autocomplete: 'off', 'data-testid': 'attribute-key' });
  const valueInput = el('input', { name: 'value', autocomplete: 'off', 'data-testid': 'attribute-value' });
  const shown = (value) => (typeof value === 'string' ? value : JSON.stringify(value));
  return section(t('contact.attributes'), 'attributes',
    entries.length === 0
      ? el('p', { class: 'cp-muted' }, t('contact.no_attributes'))
      : el('dl', { class: 'cp-attributes', 'data-testid': 'attribute-list' }, entries.map(([key, value]) =>
        el('div', { class: 'cp-attribute', 'data-testid': 'attribute', 'data-key': key },
          el('dt', {}, key),
          el('dd', {}, el('span', { class: 'cp-value' }, shown(value)),
            el('button', {
              type: 'button',
              class: 'cp-link',
              'aria-label': t('contact.edit_attribute', { key }),
              'data-testid': 'attribute-edit',
              onclick() {
                keyInput.value = key;
                valueInput.value = shown(value);
                valueInput.focus();
              },
            }, '✎'),
            el('button', {
              type: 'button',
              class: 'cp-link',
              'aria-label': t('contact.remove_attribute', { key }),
              'data-testid': 'attribute-remove',
              onclick(event) {
                const rest = { ...attributes };
                delete rest[key];
                change(view, event.currentTarget, patchContact(view, { attributes: rest }));
              },
            }, '×'))))),
    el('form', {
      class: 'cp-inline-form',
      'data-testid': 'attribute-form',
      onsubmit(event) {
        event.preventDefault();
        const { key, value } = formValues(event.currentTarget);
        if (key) change(view, save, patchContact(view, { attributes: { ...attributes, [key]: value } }));
      },
    },
    field(t('contact.attribute_key'), keyInput),
    field(t('contact.attribute_value'), valueInput),
    save));
}

/** The contact's conversations on every channel except this one; each opens in the inbox. */
function otherConversations(view, conversations) {
  const others = conversations.filter((other) => other.id !== view.conversation.id);
  return section(t('contact.others'), 'other-conversations-section',
    others.length === 0
      ? el('p', { class: 'cp-muted' }, t('contact.no_others'))
      : el('ul', { class: 'cp-list', 'data-testid': 'other-conversations' }, others.map((other) =>
        el('li', {},
          el('button', {
            type: 'button',
            class: 'cp-other',
            'data-testid': 'other-conversation',
            'data-conversation-id': String(other.id),
            title: t('contact.open_conversation', { channel: other.channel.name }),
            onclick: () => view.ctx.openConversation(other.id),
          },
          channelLogo(other.channel.kind),
          el('span', { class: 'cp-other-text' },
            el('span', { class: 'cp-other-head' },
              el('span', { class: 'cp-other-channel' }, `${channelName(other.channel.kind)} · ${other.channel.name}`),
              el('time', { datetime: other.last_message_at }, formatTime(other.last_message_at))),
            el('span', { class: 'cp-muted' }, `${t(`status.${other.status}`)}${other.archived ? ` · ${t('contact.archived')}` : ''}`),
            other.last_message_preview ? el('span', { class: 'cp-preview' }, other.last_message_preview) : null))))));
}
