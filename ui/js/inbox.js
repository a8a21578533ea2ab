/**
 * The left pane: inbox picker (all inboxes or one channel kind), search, filters and the conversation list.
 * The list is virtualized: rows have a fixed height, only the visible ones exist in the DOM, and further
 * cursor pages load as the user scrolls; `total` sizes the scroll area from the start.
 */

import { api, query, session } from './api.js';
import { t, shortTime } from './i18n.js';
import { channelIcon, channelName, glyph, CHANNEL_KINDS } from './icons.js';
import { h, esc, avatarHtml, contactLabel } from './dom.js';

/** Row height in pixels (must match `.conv-row` in app.css). */
const ROW = 72;
/** Rows rendered beyond the visible ones, above and below. */
const OVERSCAN = 6;
/** Conversations per page. */
const PAGE = 100;

/** A row whose conversation is not loaded yet. */
const SKELETON =
  '<span class="avatar skeleton"></span>' +
  '<span class="conv-main"><span class="skeleton line"></span><span class="skeleton line short"></span></span>';

/** A conversation's last message as the list shows it: its text, or what kind of message it was. */
function previewText(preview) {
  const kind = /^\[(\w+)\]$/.exec(preview || '')?.[1];
  const key = kind && `inbox.preview_${kind}`;
  return key && t(key) !== key ? t(key) : preview || '';
}

/** Newest activity first, then the higher id: the server's order. */
function before(a, b) {
  return a.last_message_at === b.last_message_at ? a.id > b.id : a.last_message_at > b.last_message_at;
}

/**
 * Builds the left pane in `element`. `channels` are the account's channels; `onOpen(id)` opens a conversation.
 * Returns `{reload, upsert, patchContact, setActive}`.
 */
export function createInbox(element, { channels, onOpen }) {
  const filters = { kind: '', q: '', unread: false, status: '', mine: false, archived: false, bot: false, waiting: false, negative: false };
  let items = [];
  let total = 0;
  let nextCursor = null;
  let loading = false;
  let generation = 0;
  let activeId = null;
  let focusIndex = 0;
  let frame = 0;
  let failure = '';
  const rows = new Map();
  const spare = [];

  const kinds = CHANNEL_KINDS.filter((kind) => channels.some((c) => c.kind === kind));
  const kindButton = (kind) =>
    h(
      'button',
      {
        type: 'button',
        class: 'inbox-kind',
        'data-testid': 'inbox-filter',
        'data-kind': kind,
        'aria-pressed': String(kind === filters.kind),
        title: kind ? channelName(kind) : t('inbox.all_inboxes'),
        'aria-label': kind ? channelName(kind) : t('inbox.all_inboxes'),
        html: kind
          ? channelIcon(kind, { decorative: true, size: 22 })
          : `${glyph('inboxes', 18)}<span>${esc(t('inbox.all_inboxes'))}</span>`,
        onclick: () => {
          filters.kind = kind;
          for (const button of picker.children) button.setAttribute('aria-pressed', String(button.dataset.kind === kind));
          title.textContent = kind ? channelName(kind) : t('inbox.all_inboxes');
          reload();
        },
      },
    );
  const picker = h(
    'div',
    { class: 'inbox-kinds', role: 'group', 'aria-label': t('inbox.inboxes') },
    ['', ...kinds].map(kindButton),
  );
  const title = h('h2', { class: 'inbox-title', 'data-testid': 'inbox-title' }, t('inbox.all_inboxes'));
  const counter = h('span', { class: 'inbox-count', 'data-testid': 'conversation-count', 'aria-live': 'polite' });

  let searchTimer = 0;
  const search = h('input', {
    type: 'search',
    class: 'search',
    placeholder: t('inbox.search'),
    'aria-label': t('inbox.search'),
    'data-testid': 'search-input',
    oninput: () => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => {
        filters.q = search.value.trim();
        reload();
      }, 250);
    },
  });
  const toggle = (name, testid) =>
    h('button', {
      type: 'button',
      class: 'chip',
      'data-testid': testid,
      'aria-pressed': 'false',
      onclick: (event) => {
        filters[name] = !filters[name];
        event.currentTarget.setAttribute('aria-pressed', String(filters[name]));
        reload();
      },
    }, t(`inbox.filter_${name}`));
  const status = h(
    'select',
    {
      class: 'chip',
      'aria-label': t('inbox.status'),
      'data-testid': 'filter-status',
      onchange: () => {
        filters.status = status.value;
        reload();
      },
    },
    ['', 'open', 'pending', 'resolved', 'closed'].map((value) =>
      h('option', { value }, t(value ? `inbox.status_${value}` : 'inbox.status_any')),
    ),
  );

  const spacer = h('div', { class: 'list-spacer' });
  const empty = h('div', { class: 'list-empty', 'data-testid': 'conversation-list-empty', hidden: true });
  const scroller = h(
    'div',
    {
      class: 'list-scroller',
      role: 'listbox',
      tabindex: '0',
      'aria-label': t('inbox.conversations'),
      'data-testid': 'conversation-list',
      onscroll: () => schedule(),
      onkeydown: onKey,
      onclick: (event) => {
        const row = event.target.closest('.conv-row[data-id]');
        if (row) open(Number(row.dataset.index));
      },
    },
    spacer,
  );

  element.replaceChildren(
    h('div', { class: 'inbox-head' }, picker, h('div', { class: 'inbox-heading' }, title, counter), search),
    h(
      'div',
      { class: 'inbox-filters' },
      toggle('unread', 'filter-unread'),
      toggle('mine', 'filter-mine'),
      toggle('archived', 'filter-archived'),
      toggle('bot', 'filter-bot'),
      toggle('waiting', 'filter-waiting'),
      toggle('negative', 'filter-negative'),
      status,
    ),
    scroller,
    empty,
  );
  new ResizeObserver(() => schedule()).observe(scroller);

  function params(cursor) {
    const ids = filters.kind ? channels.filter((c) => c.kind === filters.kind).map((c) => c.id).join(',') : '';
    return query({
      channel_id: ids,
      q: filters.q,
      unread: filters.unread && 'true',
      status: filters.status,
      assignee_id: filters.mine && 'me',
      archived: filters.archived && 'true',
      handler: filters.bot && 'virtual_agent',
      waiting: filters.waiting && 'true',
      negative_feedback: filters.negative && 'true',
      limit: PAGE,
      cursor,
    });
  }

  /** Whether a conversation belongs in the list under the current filters (the text search aside). */
  function matches(c) {
    if (filters.kind && c.channel.kind !== filters.kind) return false;
    if (c.archived !== filters.archived) return false;
    if (filters.unread && !c.unread_count) return false;
    if (filters.status && c.status !== filters.status) return false;
    if (filters.mine && c.assignee_id !== session.operator?.id) return false;
    if (filters.bot && c.handler !== 'virtual_agent') return false;
    if (filters.waiting && !c.waiting_since) return false;
    if (filters.negative && !c.negative_feedback) return false;
    return true;
  }

  async function loadMore() {
    if (loading) return;
    const mine = generation;
    loading = true;
    try {
      const page = await api('GET', `/api/v1/conversations${params(nextCursor)}`);
      if (mine !== generation) return;
      const known = new Set(items.map((c) => c.id));
      items.push(...page.data.filter((c) => !known.has(c.id)));
      nextCursor = page.next_cursor;
      total = Math.max(page.total, items.length);
      if (!nextCursor) total = items.length;
      failure = '';
    } catch (error) {
      if (mine === generation) failure = t('inbox.load_failed', { reason: error.message });
    } finally {
      if (mine === generation) loading = false;
    }
    if (mine === generation) schedule();
  }

  /** Reloads the list from the first page (after a filter changed). */
  function reload() {
    generation += 1;
    items = [];
    total = 0;
    nextCursor = null;
    loading = false;
    focusIndex = 0;
    scroller.scrollTop = 0;
    for (const [index, row] of rows) release(index, row);
    empty.hidden = true;
    counter.textContent = t('inbox.loading');
    loadMore();
  }

  function schedule() {
    if (!frame) frame = requestAnimationFrame(render);
  }

  function release(index, row) {
    rows.delete(index);
    row.remove();
    spare.push(row);
  }

  function fill(row, item, index) {
    row.dataset.index = index;
    row.style.transform = `translateY(${index * ROW}px)`;
    if (!item) {
      if (row.dataset.key === 'loading') return;
      row.dataset.key = 'loading';
      row.className = 'conv-row loading';
      row.removeAttribute('data-id');
      row.removeAttribute('id');
      row.setAttribute('data-testid', 'conversation-row-loading');
      row.setAttribute('aria-hidden', 'true');
      row.innerHTML = SKELETON;
      return;
    }
    const active = item.id === activeId;
    const focused = index === focusIndex;
    const key = [item.id, item.updated_at, item.last_message_at, item.unread_count, item._v, active, focused].join();
    if (row.dataset.key === key) return;
    row.dataset.key = key;
    const label = contactLabel(item.contact);
    const unread = item.unread_count > 0;
    row.className = `conv-row${unread ? ' unread' : ''}${active ? ' active' : ''}${focused ? ' focused' : ''}`;
    row.id = `conv-row-${item.id}`;
    row.dataset.id = item.id;
    row.dataset.channelKind = item.channel.kind;
    row.setAttribute('data-testid', 'conversation-row');
    row.setAttribute('aria-selected', String(active));
    row.removeAttribute('aria-hidden');
    const alias = label.secondary ? `<span class="conv-alias">~${esc(label.secondary)}</span>` : '';
    const unreadLabel = esc(t('inbox.unread_count', { count: item.unread_count }));
    const badge = unread
      ? `<span class="badge" data-testid="unread-badge" aria-label="${unreadLabel}">${item.unread_count}</span>`
      : '';
    row.innerHTML = `
      <span class="avatar-wrap">${avatarHtml(item.contact, 44)}
        <span class="channel-badge">${channelIcon(item.channel.kind, { size: 18 })}</span></span>
      <span class="conv-main">
        <span class="conv-top">
          <span class="conv-name" data-testid="conversation-name">${esc(label.primary)}</span>${alias}
          <time class="conv-time" datetime="${esc(item.last_message_at)}" data-testid="conversation-time">${esc(
            shortTime(item.last_message_at),
          )}</time></span>
        <span class="conv-bottom">
          <span class="conv-preview" data-testid="conversation-preview">${esc(previewText(item.last_message_preview))}</span>
          ${badge}</span>
      </span>`;
  }

  function render() {
    frame = 0;
    const count = Math.max(total, items.length);
    spacer.style.height = `${count * ROW}px`;
    counter.textContent = loading && !items.length ? t('inbox.loading') : t('inbox.conversation_count', { count });
    empty.hidden = loading || count > 0;
    empty.textContent = failure || t('inbox.no_conversations');
    const top = scroller.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN);
    const last = Math.min(count - 1, Math.ceil((top + scroller.clientHeight) / ROW) + OVERSCAN);
    for (const [index, row] of rows) if (index < first || index > last) release(index, row);
    for (let index = first; index <= last; index += 1) {
      let row = rows.get(index);
      if (!row) {
        row = spare.pop() || h('div', { role: 'option' });
        rows.set(index, row);
        spacer.append(row);
      }
      fill(row, items[index], index);
    }
    const focused = items[focusIndex];
    if (focused && rows.has(focusIndex)) scroller.setAttribute('aria-activedescendant', `conv-row-${focused.id}`);
    else scroller.removeAttribute('aria-activedescendant');
    if (nextCursor && !loading && !failure && last >= items.length - OVERSCAN) loadMore();
  }

  function open(index) {
    const item = items[index];
    if (!item) return;
    focusIndex = index;
    onOpen(item.id);
  }

  function onKey(event) {
    const count = items.length;
    if (!count) return;
    const page = Math.max(1, Math.floor(scroller.clientHeight / ROW) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -count, End: count };
    if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      open(focusIndex);
      return;
    }
    if (!(event.key in moves)) return;
    event.preventDefault();
    focusIndex = Math.min(count - 1, Math.max(0, focusIndex + moves[event.key]));
    const y = focusIndex * ROW;
    if (y < scroller.scrollTop) scroller.scrollTop = y;
    else if (y + ROW > scroller.scrollTop + scroller.clientHeight) scroller.scrollTop = y + ROW - scroller.clientHeight;
    schedule();
  }

  /** Adds, moves or removes one conversation after a live change, keeping newest activity first. */
  function upsert(conversation) {
    const index = items.findIndex((c) => c.id === conversation.id);
    if (index >= 0 && items[index].updated_at > conversation.updated_at) return;
    if (index >= 0) {
      items.splice(index, 1);
      total -= 1;
    }
    if (matches(conversation) && (index >= 0 || !filters.q)) {
      let at = 0;
      while (at < items.length && before(items[at], conversation)) at += 1;
      if (at < items.length || !nextCursor) {
        items.splice(at, 0, conversation);
        total += 1;
        if (index < 0 && at <= focusIndex && items.length > 1) focusIndex += 1;
      }
    }
    total = Math.max(total, items.length);
    schedule();
  }

  /** Shows a contact's new details on its rows. */
  function patchContact(contact) {
    for (const item of items) {
      if (item.contact.id !== contact.id) continue;
      Object.assign(item.contact, {
        name: contact.name,
        phone: contact.phone,
        email: contact.email,
        avatar_url: contact.avatar_url,
        in_address_book: contact.in_address_book,
      });
      item._v = (item._v || 0) + 1;
    }
    schedule();
  }

  /** Highlights the open conversation. */
  function setActive(id) {
    activeId = id;
    const index = items.findIndex((c) => c.id === id);
    if (index >= 0) focusIndex = index;
    schedule();
  }

  reload();
  return { reload, upsert, patchContact, setActive };
}
