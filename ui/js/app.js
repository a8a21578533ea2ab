/**
 * Parley's operator UI: login, the three-pane inbox (`#/` and `#/c/<id>`), and the pages of views.js (the address
 * book at `#/contacts`, the channels at `#/channels`, the virtual agents at `#/agents`, the teams at `#/teams`), kept
 * live by the server's event stream.
 *
 * Test ids (data-testid) the browser tests rely on:
 * - login: login-form, login-email, login-password, login-submit, login-error
 * - shell: app, operator-name, availability-select, logout-button, nav-inbox, inbox (the three-pane view), and per
 *   page of views.js its link (nav-contacts, nav-channels, nav-agents, nav-teams) and container (address-book,
 *   channels, agents, teams)
 * - left pane: inbox-filter (data-kind: '' for all inboxes, or whatsapp, rcs, messenger, instagram, sms, email,
 *   webchat), inbox-title, conversation-count, search-input, filter-unread, filter-mine, filter-archived, filter-bot,
 *   filter-waiting, filter-status, conversation-list, conversation-row (data-id, data-channel-kind), conversation-row-loading,
 *   conversation-name, conversation-preview, conversation-time, unread-badge, conversation-list-empty
 * - centre: no-conversation, thread-header, thread-contact-name, contact-pane-toggle, ownership (escalation-banner
 *   while the conversation waits for a person) with handler-badge (data-handler), escalation-reason,
 *   takeover-button and handback-button, thread, thread-top, message-bot (a virtual agent's label), message-draft,
 *   message (data-id, data-status, data-direction, data-type, data-private), message-text, message-status,
 *   message-error, message-image, message-video, message-audio, message-document, message-location,
 *   message-quote, reactions, reply-button, new-messages-pill
 * - reply box: composer-input, send-button, emoji-button, emoji-picker, emoji-option, attach-button,
 *   private-toggle, attachments, attachment (data-key), attachment-remove, reply-preview, reply-cancel,
 *   composer-error, window-closed-banner, template-picker, template-select, template-param, template-preview,
 *   template-send
 * - media library: media-library, media-close, media-dropzone, media-file-input, media-origin (data-origin),
 *   media-sort, media-grid, media-item (data-key), media-status, media-selected-count, media-cancel, media-proceed
 * - right pane: contact-pane (its content, e.g. archive-button / unarchive-button, belongs to contact.js)
 */

import {
  api,
  ApiError,
  session,
  loadSession,
  login,
  logout,
  events,
  rememberChannels,
  rememberAgents,
  agentName,
} from './api.js';
import { t } from './i18n.js';
import { glyph } from './icons.js';
import { h } from './dom.js';
import { createInbox } from './inbox.js';
import { createThread } from './thread.js';
import { createComposer } from './composer.js';
import { renderContactPane } from './contact.js';
import { VIEWS } from './views.js';

const root = document.getElementById('app');
/** Tears down the running shell (event subscriptions, listeners) before logout or a new login. */
let teardown = () => {};

/**
 * The operator's availability switch (online, away, offline): routing gives conversations to online operators.
 * Signing in makes an operator who was offline online.
 */
function availabilitySwitch(initial) {
  let current = initial;
  const select = h(
    'select',
    {
      class: 'chip availability',
      'aria-label': t('app.availability'),
      'data-testid': 'availability-select',
      onchange: async () => {
        select.dataset.value = select.value;
        try {
          await api('PUT', '/api/v1/operators/me/presence', { availability: select.value });
          current = select.value;
        } catch {
          select.value = current;
          select.dataset.value = current;
        }
      },
    },
    ['online', 'away', 'offline'].map((value) =>
      h('option', { value, selected: value === current }, t(`app.availability_${value}`)),
    ),
  );
  select.dataset.value = current;
  return select;
}

/** The login screen. */
function showLogin(notice = '') {
  teardown();
  const error = h('p', { class: 'login-error', role: 'alert', 'data-testid': 'login-error' }, notice);
  const email = h('input', {
    type: 'email',
    name: 'email',
    autocomplete: 'username',
    required: true,
    'data-testid': 'login-email',
  });
  const password = h('input', {
    type: 'password',
    name: 'password',
    autocomplete: 'current-password',
    required: true,
    'data-testid': 'login-password',
  });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'login-submit' }, t('app.sign_in'));
  const form = h(
    'form',
    {
      class: 'login-card',
      'data-testid': 'login-form',
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        error.textContent = '';
        try {
          await login(email.value.trim(), password.value);
          await start();
        } catch (failure) {
          const code = failure instanceof ApiError ? failure.problem.code : '';
          error.textContent =
            code === 'invalid_credentials'
              ? t('app.login_invalid')
              : code === 'login_locked'
                ? t('app.login_locked')
                : t('app.login_failed', { reason: failure.message });
          submit.disabled = false;
          password.select();
        }
      },
    },
    h('div', { class: 'brand big', html: `${glyph('send', 28)}<span>${t('app.app_name')}</span>` }),
    h('h1', {}, t('app.sign_in_title')),
    h('label', { class: 'field' }, h('span', {}, t('app.email')), email),
    h('label', { class: 'field' }, h('span', {}, t('app.password')), password),
    error,
    submit,
  );
  root.replaceChildren(h('main', { class: 'login' }, form));
  root.removeAttribute('aria-busy');
  email.focus();
}

/** The logged-in application: top bar, inbox and address book views, live updates. */
async function start() {
  teardown();
  const [{ data: channels }, { data: agents }, { data: presence }] = await Promise.all([
    api('GET', '/api/v1/channels'),
    api('GET', '/api/v1/agents'),
    api('GET', '/api/v1/operators/presence'),
  ]);
  rememberChannels(channels);
  rememberAgents(agents);
  const cleanups = [];

  const inboxLink = h('a', { href: '#/', 'data-testid': 'nav-inbox' }, t('app.nav_inbox'));
  const pages = VIEWS.map((view) => ({
    view,
    link: h('a', { href: view.hash, 'data-testid': view.nav }, t(view.label)),
    container: h('div', { class: 'page-view', 'data-testid': view.testid, hidden: true }),
    unmount: null,
  }));
  const topbar = h(
    'header',
    { class: 'topbar' },
    h('div', { class: 'brand', html: `${glyph('send', 22)}<span>${t('app.app_name')}</span>` }),
    h('nav', { 'aria-label': t('app.nav') }, inboxLink, pages.map((page) => page.link)),
    h('span', { class: 'spacer' }),
    availabilitySwitch(presence.find((p) => p.operator_id === session.operator.id)?.availability),
    h('span', { class: 'operator', 'data-testid': 'operator-name' }, session.operator.name || session.operator.email),
    h(
      'button',
      {
        type: 'button',
        class: 'icon-button',
        'aria-label': t('app.logout'),
        title: t('app.logout'),
        'data-testid': 'logout-button',
        html: glyph('logout', 20),
        onclick: async () => {
          await logout().catch(() => {});
          showLogin();
        },
      },
    ),
  );

  const listPane = h('aside', { class: 'pane-list', 'aria-label': t('app.nav_inbox') });
  const threadEl = h('div', { class: 'thread', hidden: true });
  const composerEl = h('div', { class: 'composer', hidden: true });
  const placeholder = h('div', { class: 'no-conversation', 'data-testid': 'no-conversation' }, t('app.pick_conversation'));
  const contactPane = h('aside', {
    class: 'pane-contact',
    id: 'contact-pane',
    'aria-label': t('app.contact_pane'),
    'data-testid': 'contact-pane',
  });
  const inboxView = h(
    'div',
    { class: 'inbox-view', 'data-testid': 'inbox' },
    listPane,
    h('section', { class: 'pane-thread' }, placeholder, threadEl, composerEl),
    contactPane,
  );
  root.replaceChildren(topbar, h('main', { class: 'main' }, inboxView, pages.map((page) => page.container)));
  root.removeAttribute('aria-busy');

  const wide = window.matchMedia('(min-width: 1100px)');
  inboxView.classList.toggle('contact-open', wide.matches);
  const paneToggle = h('button', {
    type: 'button',
    class: 'icon-button',
    'aria-label': t('app.toggle_contact'),
    title: t('app.toggle_contact'),
    'aria-controls': 'contact-pane',
    'aria-expanded': String(wide.matches),
    'data-testid': 'contact-pane-toggle',
    html: glyph('panel', 20),
    onclick: () => {
      const open = inboxView.classList.toggle('contact-open');
      paneToggle.setAttribute('aria-expanded', String(open));
    },
  });

  let current = null;
  let openToken = 0;
  const inbox = createInbox(listPane, { channels, onOpen: (id) => (location.hash = `#/c/${id}`) });
  const composer = createComposer(composerEl, { onSent: (message) => thread.addMessage(message) });
  const thread = createThread(threadEl, { onReply: (message) => composer.replyTo(message) });
  thread.headerActions.append(paneToggle);

  const paneContext = {
    openConversation: (id) => (location.hash = `#/c/${id}`),
    refresh: () => current && refresh(current.id, true),
  };

  function renderPane() {
    if (current) renderContactPane(contactPane, current, paneContext);
  }

  /**
   * Takes in a newer state of a conversation: its list row, and the open views when it is the open one.
   * The right pane is redrawn when asked (`force`) or when it changed, unless the operator is typing in it.
   */
  function apply(conversation, force = false) {
    inbox.upsert(conversation);
    if (!current || conversation.id !== current.id || conversation.updated_at < current.updated_at) return;
    const changed = conversation.updated_at !== current.updated_at;
    current = conversation;
    thread.setConversation(conversation);
    composer.setConversation(conversation);
    const focused = document.activeElement;
    const typing = contactPane.contains(focused) && focused.matches('input, textarea, select');
    if (force || (changed && !typing)) renderPane();
  }

  async function refresh(id, force = false) {
    try {
      apply(await api('GET', `/api/v1/conversations/${id}`), force);
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 404)) throw error;
    }
  }

  const refreshTimers = new Map();
  /** Re-reads a conversation shortly after a message event (several events in a burst cost one request). */
  function refreshSoon(id) {
    if (refreshTimers.has(id)) return;
    refreshTimers.set(
      id,
      setTimeout(() => {
        refreshTimers.delete(id);
        refresh(id).catch(() => {});
      }, 120),
    );
  }

  /** Marks the open conversation read while the operator is looking at it. */
  async function markRead() {
    if (!current || document.hidden || !current.unread_count) return;
    try {
      apply(await api('POST', `/api/v1/conversations/${current.id}/read`));
    } catch {
      // The next message or visit marks it read again.
    }
  }

  let readTimer = 0;
  /** Marks the open conversation read shortly after messages arrive (one request for a burst). */
  function readSoon() {
    clearTimeout(readTimer);
    readTimer = setTimeout(markRead, 300);
  }

  async function showConversation(id) {
    if (current?.id === id) return;
    const token = ++openToken;
    try {
      const conversation = await api('GET', `/api/v1/conversations/${id}`);
      if (token !== openToken) return;
      current = conversation;
      placeholder.hidden = true;
      threadEl.hidden = false;
      composerEl.hidden = false;
      inbox.setActive(id);
      thread.open(conversation);
      composer.setConversation(conversation);
      renderPane();
      markRead();
    } catch (error) {
      if (token !== openToken) return;
      closeConversation();
      placeholder.textContent = error instanceof ApiError && error.status === 404 ? t('app.not_found') : error.message;
    }
  }

  function closeConversation() {
    current = null;
    openToken += 1;
    inbox.setActive(null);
    placeholder.textContent = t('app.pick_conversation');
    placeholder.hidden = false;
    threadEl.hidden = true;
    composerEl.hidden = true;
    contactPane.replaceChildren();
  }

  /** Shows the page the hash names (mounting it, and unmounting the one it replaces), else the inbox. */
  function route() {
    const hash = location.hash || '#/';
    const shown = pages.find((page) => hash.startsWith(page.view.hash));
    inboxView.hidden = Boolean(shown);
    inboxLink.toggleAttribute('aria-current', !shown);
    for (const page of pages) {
      const active = page === shown;
      page.container.hidden = !active;
      page.link.toggleAttribute('aria-current', active);
      if (!active && page.unmount) {
        page.unmount();
        page.unmount = null;
      }
    }
    if (shown) {
      shown.unmount?.();
      shown.unmount = shown.view.mount(shown.container, paneContext);
      return;
    }
    const match = hash.match(/^#\/c\/(\d+)/);
    if (match) showConversation(Number(match[1]));
    else closeConversation();
  }

  cleanups.push(
    events.on('message.created', (message) => {
      thread.addMessage(message);
      refreshSoon(message.conversation_id);
      if (message.conversation_id === current?.id && message.direction === 'inbound') readSoon();
    }),
    events.on('message.updated', (message) => thread.updateMessage(message)),
    events.on('message.deleted', (message) => thread.updateMessage(message)),
    ...[
      'conversation.created',
      'conversation.updated',
      'conversation.status_changed',
      'conversation.assigned',
      'conversation.archived',
      'conversation.read',
      'conversation.handler_changed',
    ].map((type) => events.on(type, (conversation) => apply(conversation))),
    events.on('conversation.escalated', (escalation) => refreshSoon(escalation.conversation_id)),
    events.on('message.delta', (delta) => thread.showDraft(delta)),
    events.on('conversation.typing', (typing) => thread.showTyping(typing)),
    events.on('message.created', (message) => {
      if (message.sender?.type === 'virtual_agent' && !agentName(message.sender.id)) {
        api('GET', '/api/v1/agents').then(({ data }) => rememberAgents(data), () => {});
      }
    }),
    events.on('contact.updated', (contact) => {
      inbox.patchContact(contact);
      if (current?.contact.id === contact.id) refresh(current.id, true);
    }),
    events.on('contact.merged', ({ contact, merged_contact_id: merged }) => {
      inbox.patchContact(contact);
      if (current && [contact.id, merged].includes(current.contact.id)) refresh(current.id, true);
    }),
  );
  const onVisible = () => !document.hidden && readSoon();
  document.addEventListener('visibilitychange', onVisible);
  window.addEventListener('hashchange', route);
  events.start();
  teardown = () => {
    cleanups.forEach((unsubscribe) => unsubscribe());
    pages.forEach((page) => page.unmount?.());
    document.removeEventListener('visibilitychange', onVisible);
    window.removeEventListener('hashchange', route);
    events.stop();
    teardown = () => {};
  };
  route();
}

window.addEventListener('parley:logged-out', () => showLogin(t('app.session_expired')));

(async () => {
  try {
    if (await loadSession()) await start();
    else showLogin();
  } catch (error) {
    root.replaceChildren(h('p', { class: 'fatal', role: 'alert' }, t('app.start_failed', { reason: error.message })));
  }
})();
