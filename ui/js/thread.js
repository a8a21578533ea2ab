/**
 * The centre pane: the open conversation's header and its thread of messages.
 * Messages are added, updated and prepended one node at a time; the thread is never re-rendered whole.
 * Older pages load when the user scrolls near the top, with the scroll position kept.
 */

import { api, query, mediaPath, mediaUrl, agentName } from './api.js';
import { t, clockTime, fullTime } from './i18n.js';
import { channelIcon, glyph } from './icons.js';
import { h, esc, avatarHtml, contactLabel } from './dom.js';
import { feedbackControls, myFeedback } from './feedback.js';

/** Messages per page when scrolling back (bounds the work done in one frame). */
const PAGE = 40;
/** Distance from the top (px) at which the previous page is requested. */
const NEAR_TOP = 300;
/** How long "typing…" stays without another sign from the contact (RBM sends one every few seconds). */
const TYPING_MS = 6000;

const TICKS = { scheduled: '⏰', queued: '🕓', sent: '✓', delivered: '✓✓', read: '✓✓', failed: '!' };

/** A one-line summary of a message, for quotes and reply previews. */
export function snippet(message) {
  if (message.deleted) return t('thread.deleted');
  if (message.text) return message.text.length > 120 ? `${message.text.slice(0, 120)}…` : message.text;
  if (message.type === 'template') return t('thread.template', { name: message.payload?.template?.name || '' });
  const key = `thread.${message.type}`;
  return t(key) === key ? t('thread.unsupported') : t(key);
}

/** The id of the message a reaction points at, or its provider id when Parley has not resolved it. */
function reactionTarget(message) {
  const p = message.payload || {};
  if (typeof p.message_id === 'number') return { id: p.message_id };
  if (p.reaction?.message_id) return { provider: String(p.reaction.message_id) };
  if (p.provider_message_id) return { provider: String(p.provider_message_id) };
  return null;
}

function mediaHtml(message) {
  const p = message.payload || {};
  const caption = message.text || '';
  return message.media_keys
    .map((key) => {
      const url = esc(mediaUrl(key));
      switch (message.type) {
        case 'image':
        case 'sticker':
          return `<a class="msg-image" href="${url}" target="_blank" rel="noopener">
            <img data-testid="message-image" src="${url}" alt="${esc(caption || t('thread.image'))}" loading="lazy"></a>`;
        case 'video':
          return `<video data-testid="message-video" controls preload="metadata" src="${url}"
            aria-label="${esc(t('thread.video'))}"></video>`;
        case 'audio':
          return `<audio data-testid="message-audio" controls preload="none" src="${url}"
            aria-label="${esc(t('thread.audio'))}"></audio>`;
        default: {
          const name = p.document?.filename;
          return `<a class="msg-document" data-testid="message-document" href="${url}" download="${esc(name || '')}"
            ${name ? '' : `data-media-key="${esc(key)}"`}>${glyph('file', 18)}<span>${esc(name || t('thread.document'))}</span></a>`;
        }
      }
    })
    .join('');
}

const fileNames = new Map();

/** Shows an attached document's file name (as uploaded) on its download link. */
async function nameDocument(link) {
  const key = link.dataset.mediaKey;
  if (!fileNames.has(key)) {
    fileNames.set(
      key,
      api('GET', mediaPath(key)).then((media) => media.filename, () => null),
    );
  }
  const name = await fileNames.get(key);
  if (!name) return;
  link.download = name;
  link.querySelector('span').textContent = name;
}

function locationHtml(message) {
  const p = message.payload || {};
  const place = p.location || p;
  const lat = Number(place.latitude);
  const lon = Number(place.longitude);
  if (!Number.isFinite(lat) || !Number.isFinite(lon)) return '';
  const label = [place.name, place.address].filter(Boolean).join(' — ') || `${lat.toFixed(5)}, ${lon.toFixed(5)}`;
  const link = `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=16/${lat}/${lon}`;
  return `<div class="msg-location" data-testid="message-location">${glyph('pin', 18)}<span>${esc(label)}</span>
    <a href="${esc(link)}" target="_blank" rel="noopener noreferrer">${esc(t('thread.open_map'))}</a></div>`;
}

/** What a choice or card button does, as a chip: its icon and, for links and calls, where it goes. */
function chipHtml(option) {
  const icon = option.url ? '🔗' : option.dial ? '📞' : option.view_location ? '📍' : option.share_location ? '🧭' : option.calendar ? '📅' : '';
  const target = option.url ? webLink(option.url) : option.dial ? `tel:${String(option.dial).replace(/[^+\d]/g, '')}` : '';
  const label = `${icon ? `${icon} ` : ''}${esc(option.title || '')}`;
  return target
    ? `<a class="sugg" data-testid="message-chip" href="${esc(target)}" target="_blank" rel="noopener noreferrer">${label}</a>`
    : `<span class="sugg" data-testid="message-chip">${label}</span>`;
}

/** Choices (suggestion chips, reply buttons, list rows) under a message's text. */
function choicesHtml(choices) {
  const options = Array.isArray(choices?.options) ? choices.options : [];
  return options.length ? `<div class="suggs" data-testid="message-chips">${options.map(chipHtml).join('')}</div>` : '';
}

/** Cards: one alone, or several side by side in a carousel that scrolls sideways. */
function cardsHtml(cards) {
  const items = Array.isArray(cards) ? cards : Array.isArray(cards?.items) ? cards.items : [];
  const card = (item) => {
    const image = webLink(item.image_url);
    return `<div class="card" data-testid="message-card">${image ? `<img src="${esc(image)}" alt="" loading="lazy">` : ''}
      <div class="card-body"><strong data-testid="card-title">${esc(item.title || '')}</strong>${
        item.subtitle ? `<p>${esc(item.subtitle)}</p>` : ''
      }${(item.buttons || []).length ? `<div class="suggs">${item.buttons.map(chipHtml).join('')}</div>` : ''}</div></div>`;
  };
  const carousel = items.length > 1 ? ' carousel' : '';
  return items.length ? `<div class="cards${carousel}" data-testid="message-cards">${items.map(card).join('')}</div>` : '';
}

/** A link from a provider, only when it is http(s). */
function webLink(url) {
  return /^https?:\/\//i.test(String(url || '')) ? String(url) : '';
}

/** What a machine's mail (an auto-reply, a bounce) is, shown above its text. */
function emailNoticeHtml(email) {
  const report = email.report;
  if (report?.action === 'failed') {
    return `<div class="msg-email-flag" data-testid="message-bounce">⚠ ${esc(t('thread.email_bounce', { status: report.status || '' }))}</div>`;
  }
  if (report?.action === 'delayed') {
    return `<div class="msg-email-flag" data-testid="message-bounce">⏳ ${esc(t('thread.email_delayed', { status: report.status || '' }))}</div>`;
  }
  if (report?.action === 'complaint') {
    return `<div class="msg-email-flag" data-testid="message-bounce">🚫 ${esc(t('thread.email_complaint'))}</div>`;
  }
  if (email.automated) {
    return `<div class="msg-email-flag" data-testid="message-automated">🤖 ${esc(t('thread.email_automated'))}</div>`;
  }
  return '';
}

/** The whole mail under a reply's text: folded, opened on demand (HTML in a sandboxed frame). */
function emailOriginalHtml(email) {
  if (!email.quoted && !email.html) return '';
  return `<details class="msg-quoted" data-testid="message-quoted"><summary>${esc(t('thread.email_show_quoted'))}</summary></details>`;
}

/**
 * Fills a mail's fold when it opens: its HTML (sanitised by the server) in a frame that runs no script, loads
 * nothing from the network and sends no cookie, with its inline images from the mail's own files; else its text.
 */
async function openOriginal(details, email) {
  if (details.dataset.filled) return;
  details.dataset.filled = '1';
  if (!email.html) {
    details.append(h('pre', { class: 'msg-original-text', 'data-testid': 'message-original-text' }, email.text || ''));
    return;
  }
  let html = email.html;
  for (const [cid, key] of Object.entries(email.inline || {})) {
    try {
      const response = await fetch(mediaUrl(key), { credentials: 'same-origin' });
      if (!response.ok) continue;
      const blob = await response.blob();
      const data = await new Promise((resolve) => {
        const reader = new FileReader();
        reader.onload = () => resolve(reader.result);
        reader.readAsDataURL(blob);
      });
      html = html.split(`cid:${cid}`).join(data);
    } catch {
      // The image stays blank.
    }
  }
  const policy = '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; img-src data:; style-src \'unsafe-inline\'">';
  const frame = h('iframe', {
    class: 'msg-original-html',
    sandbox: '',
    referrerpolicy: 'no-referrer',
    title: t('thread.email_original'),
    'data-testid': 'message-original-html',
  });
  frame.srcdoc = `<!DOCTYPE html><html><head>${policy}<base target="_blank"></head><body>${html}</body></html>`;
  details.append(frame);
}

/** `2:05` for 125 seconds. */
function callLength(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** A call: how it went, who called whom and when, who took it, its recording and transcript. */
function callHtml(message) {
  const p = message.payload || {};
  const call = p.call || {};
  const outgoing = call.direction === 'outbound';
  const outcome = ['answered', 'missed', 'voicemail'].includes(call.outcome) ? call.outcome : 'answered';
  const title = t(`thread.call_${outcome === 'answered' ? (outgoing ? 'outgoing' : 'incoming') : outcome}${outcome === 'missed' && outgoing ? '_unanswered' : ''}`);
  const length = outcome === 'missed' ? '' : ` · ${esc(callLength(call.duration_seconds))}`;
  const who = call.from && call.to ? `${esc(call.from)} → ${esc(call.to)}` : '';
  const when = call.started_at ? `<time datetime="${esc(call.started_at)}">${esc(fullTime(call.started_at))}</time>` : '';
  const operator = call.operator_name
    ? `<div class="call-line" data-testid="call-operator">${esc(t('thread.call_taken_by', { name: call.operator_name }))}</div>`
    : '';
  let recording = '';
  for (const key of message.media_keys) {
    const url = esc(mediaUrl(key));
    recording += `<audio data-testid="call-recording" controls preload="none" src="${url}"
      aria-label="${esc(t('thread.call_recording'))}"></audio>`;
  }
  if (!recording && p.media_status === 'pending') {
    recording = `<div class="msg-pending">${esc(t('thread.call_recording_pending'))}</div>`;
  }
  const transcript = call.transcript
    ? `<details class="call-transcript" data-testid="call-transcript" open><summary>${esc(t('thread.call_transcript'))}</summary><p>${esc(call.transcript)}</p></details>`
    : '';
  return `<div class="msg-call ${esc(outcome)}" data-testid="call-card" data-outcome="${esc(outcome)}">
    <div class="call-head">${glyph('phone', 18)}<strong data-testid="call-title">${esc(title)}</strong>${length}</div>
    <div class="call-line">${who}</div><div class="call-line muted">${when}</div>${operator}${recording}${transcript}</div>`;
}

function bodyHtml(message) {
  if (message.deleted) return `<div class="msg-text deleted">${esc(t('thread.deleted'))}</div>`;
  if (message.type === 'call') return callHtml(message);
  const p = message.payload || {};
  let html = p.email ? emailNoticeHtml(p.email) : '';
  if (p.comment) {
    // A public comment: which post it is on (stories and posts are shown by link, never copied).
    const label = esc(t(p.comment.live ? 'thread.live_comment' : 'thread.comment'));
    const link = webLink(p.comment.permalink)
      ? ` <a href="${esc(webLink(p.comment.permalink))}" target="_blank" rel="noopener noreferrer">${esc(p.comment.post_id || '')}</a>`
      : ` ${esc(p.comment.post_id || '')}`;
    const caption = p.comment.caption ? ` — “${esc(p.comment.caption)}”` : '';
    html += `<div class="message-comment" data-testid="message-comment">💬 ${label}${link}${caption}</div>`;
  }
  const page = webLink(p.page?.url);
  if (page) {
    html += `<div class="message-comment" data-testid="message-page">📄 <a href="${esc(page)}" target="_blank" rel="noopener noreferrer">${esc(page)}</a></div>`;
  }
  const story = webLink(p.story_mention?.url || p.story_reply?.url);
  if (story) {
    const url = story;
    html += `<div class="message-comment" data-testid="message-story"><a href="${esc(url)}" target="_blank" rel="noopener noreferrer">${esc(t('thread.story'))}</a></div>`;
  }
  html += mediaHtml(message);
  if (!message.media_keys.length && ['image', 'video', 'audio', 'document', 'sticker'].includes(message.type)) {
    html += `<div class="msg-pending">${esc(t('thread.media_pending'))}</div>`;
  }
  if (message.type === 'location') html += locationHtml(message);
  if (message.type === 'contacts' && Array.isArray(p.contacts)) {
    const names = p.contacts.map((c) => c.name?.formatted_name || c.name?.first_name || '').filter(Boolean);
    html += `<div class="msg-contacts">${glyph('person', 16)} ${esc(t('thread.contacts_card'))}: ${esc(names.join(', '))}</div>`;
  }
  if (p.cards) html += cardsHtml(p.cards);
  if (p.suggestion_response) {
    html += `<div class="msg-answer" data-testid="message-answer">↩ ${esc(t('thread.chose'))} <code>${esc(p.suggestion_response.postback_data || '')}</code></div>`;
  }
  const text = message.text || p.choices?.text;
  if (text) html += `<div class="msg-text" data-testid="message-text">${esc(text)}</div>`;
  if (p.choices) html += choicesHtml(p.choices);
  if (p.email && message.direction === 'inbound') html += emailOriginalHtml(p.email);
  if (p.email?.cc?.length || p.email?.bcc?.length) {
    const copies = [...(p.email.cc || []), ...(p.email.bcc || []).map((a) => `${a} (${t('composer.bcc')})`)];
    html += `<div class="msg-copies" data-testid="message-copies">${esc(t('thread.email_copies', { addresses: copies.join(', ') }))}</div>`;
  }
  if (!text && message.type === 'template') {
    const values = (p.template?.components || []).flatMap((c) => c.parameters || []).map((v) => v.text).filter(Boolean);
    html += `<div class="msg-template">${esc(snippet(message))}</div>`;
    if (values.length) html += `<div class="msg-text">${esc(values.join(' · '))}</div>`;
  } else if (!html) html = `<div class="msg-text muted">${esc(t('thread.unsupported'))}</div>`;
  return html;
}

function metaHtml(message) {
  const status = message.direction === 'outbound' && !message.private ? message.status : null;
  const label = status ? esc(t(`thread.status_${status}`)) : '';
  const ticks = status
    ? `<span class="ticks ${esc(status)}" data-testid="message-status" role="img" aria-label="${label}"
        title="${label}">${TICKS[status] || ''}</span>`
    : '';
  const edited = message.edited_at ? `<span class="edited">${esc(t('thread.edited'))}</span>` : '';
  const at = esc(message.created_at);
  return `<div class="msg-meta">${edited}<time datetime="${at}" title="${esc(fullTime(message.created_at))}">${esc(
    clockTime(message.created_at),
  )}</time>${ticks}</div>`;
}

/** The label of a virtual agent's message: a robot and the agent's name. */
function botLabel(agentId) {
  const name = agentName(agentId) || t('thread.virtual_agent');
  return `<div class="bot-label" data-testid="message-bot">🤖 ${esc(name)}</div>`;
}

/**
 * Builds the thread in `element`. `onReply(message)` starts a reply to a message.
 * Returns `{open, setConversation, addMessage, updateMessage, scrollToBottom, showDraft, headerActions}`.
 */
export function createThread(element, { onReply }) {
  const headerActions = h('div', { class: 'thread-actions' });
  const who = h('div', { class: 'thread-who' });
  const header = h('header', { class: 'thread-header', 'data-testid': 'thread-header' }, who, headerActions);
  const ownership = h('div', { class: 'ownership', 'data-testid': 'ownership', hidden: true });
  const top = h('div', { class: 'thread-top', 'data-testid': 'thread-top' });
  const list = h('div', { class: 'thread-messages' });
  const scroller = h(
    'div',
    { class: 'thread-scroll', role: 'log', 'aria-label': t('thread.thread'), tabindex: '0', 'data-testid': 'thread' },
    top,
    list,
  );
  const pill = h(
    'button',
    { type: 'button', class: 'new-pill', hidden: true, 'data-testid': 'new-messages-pill', onclick: () => scrollToBottom() },
    `${t('thread.new_messages')} ↓`,
  );
  const typing = h('div', { class: 'typing', 'data-testid': 'typing-indicator', 'aria-live': 'polite', hidden: true });
  let typingTimer = null;
  element.replaceChildren(header, ownership, h('div', { class: 'thread-body' }, scroller, pill), typing);

  let conversation = null;
  let generation = 0;
  let cursor = null;
  let loadingOlder = false;
  /** id → message, for everything shown. */
  let shown = new Map();
  /** The operator's own feedback on the conversation's answers, by message id. */
  let feedback = new Map();
  /** provider message id → Parley id. */
  let providerIds = new Map();
  /** target id → Map(sender → {id, emoji}). */
  let reactions = new Map();
  /** Reactions whose target is not loaded yet, keyed `id:<n>` or `p:<provider id>`. */
  let pendingReactions = new Map();

  /** Whether the view follows the newest message (the user has not scrolled up). */
  let pinned = true;

  scroller.addEventListener('scroll', () => {
    pinned = nearBottom();
    if (scroller.scrollTop < NEAR_TOP) loadOlder();
    if (pinned) pill.hidden = true;
  });
  // Pictures and players that finish loading grow the thread: stay at the bottom if the user was there.
  new ResizeObserver(() => {
    if (pinned) scroller.scrollTop = scroller.scrollHeight;
  }).observe(list);

  function nearBottom() {
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 120;
  }

  /** Scrolls to the newest message. */
  function scrollToBottom() {
    scroller.scrollTop = scroller.scrollHeight;
    pinned = true;
    pill.hidden = true;
  }

  /** draft id → node of a virtual agent's answer being written. */
  let drafts = new Map();

  /**
   * Shows who handles the conversation: the virtual agent (with "Take over"), or people; while it waits for a
   * person, a banner with the escalation's reason and, when an agent serves the channel, "Hand back to the agent".
   */
  function renderOwnership(next) {
    const byAgent = next.handler === 'virtual_agent';
    const waiting = !byAgent && Boolean(next.waiting_since);
    const reason = h('span', { class: 'ownership-reason', 'data-testid': 'escalation-reason' });
    const act = (path, testid, label) =>
      h('button', {
        type: 'button',
        class: 'cp-button',
        'data-testid': testid,
        onclick: async (event) => {
          event.currentTarget.disabled = true;
          try {
            setConversation(await api('POST', `/api/v1/conversations/${next.id}/${path}`, {}));
          } catch (error) {
            reason.textContent = error.message;
            event.currentTarget.disabled = false;
          }
        },
      }, label);
    const text = byAgent
      ? t('thread.handled_by_agent', { name: agentName(next.virtual_agent_id) || t('thread.virtual_agent') })
      : t(waiting ? 'thread.needs_person' : 'thread.handled_by_people');
    const badge = h('span', {
      class: `ownership-badge ${byAgent ? 'bot' : waiting ? 'waiting' : 'people'}`,
      'data-testid': 'handler-badge',
      'data-handler': next.handler,
    }, `${byAgent ? '🤖' : waiting ? '⏳' : '👤'} ${text}`);
    const parts = [
      badge,
      reason,
      h('span', { class: 'spacer' }),
      byAgent || waiting ? act('takeover', 'takeover-button', t('thread.take_over')) : null,
      byAgent ? null : act('handback', 'handback-button', t('thread.hand_back')),
    ];
    ownership.replaceChildren(...parts.filter(Boolean));
    ownership.classList.toggle('escalated', waiting);
    ownership.setAttribute('role', waiting ? 'alert' : 'status');
    ownership.dataset.testid = waiting ? 'escalation-banner' : 'ownership';
    ownership.hidden = false;
    if (waiting) showReason(next, reason);
  }

  /** Fills in why a waiting conversation went to people (its newest escalation). */
  async function showReason(next, slot) {
    try {
      const { data } = await api('GET', `/api/v1/conversations/${next.id}/escalations`);
      const latest = data[data.length - 1];
      if (latest && conversation?.id === next.id) {
        slot.textContent = `${t(`thread.reason_${latest.reason}`)}${latest.detail ? ` — ${latest.detail}` : ''}`;
      }
    } catch {
      // The banner stays without its reason.
    }
  }

  /** Shows the text so far of a virtual agent's answer being written (a `message.delta` event). */
  function showDraft(delta) {
    if (!conversation || delta.conversation_id !== conversation.id) return;
    let node = drafts.get(delta.draft_id);
    if (!node) {
      node = h('div', { class: 'msg out draft', 'data-testid': 'message-draft', 'data-draft-id': delta.draft_id, 'aria-live': 'polite' },
        h('div', { class: 'bubble', html: botLabel(delta.virtual_agent_id) }, h('div', { class: 'msg-text' })));
      drafts.set(delta.draft_id, node);
      list.append(node);
    }
    node.querySelector('.msg-text').textContent = delta.text;
    if (nearBottom()) scrollToBottom();
  }

  /** Shows that the contact is typing, until they send or a few seconds pass without another sign. */
  function showTyping(event) {
    if (!conversation || event.conversation_id !== conversation.id) return;
    const label = contactLabel(conversation.contact);
    typing.textContent = t('thread.typing', { name: label.primary === t('common.unknown_user') ? label.secondary || label.primary : label.primary });
    typing.hidden = false;
    clearTimeout(typingTimer);
    typingTimer = setTimeout(hideTyping, TYPING_MS);
  }

  function hideTyping() {
    clearTimeout(typingTimer);
    typing.hidden = true;
  }

  /** Removes drafts: the one a finished message replaces, or all of them (the conversation changed hands). */
  function clearDrafts(draftId) {
    for (const [id, node] of drafts) {
      if (draftId && id !== draftId) continue;
      node.remove();
      drafts.delete(id);
    }
  }

  /** Shows the contact and channel of the conversation in the header. */
  function setConversation(next) {
    const changedHands = conversation?.id === next.id && conversation.handler !== next.handler;
    conversation = next;
    if (changedHands && next.handler !== 'virtual_agent') clearDrafts();
    renderOwnership(next);
    const label = contactLabel(next.contact);
    who.innerHTML = `${avatarHtml(next.contact, 40)}<div class="thread-names">
      <div class="thread-name" data-testid="thread-contact-name">${esc(label.primary)}${
        label.secondary ? ` <span class="conv-alias">~${esc(label.secondary)}</span>` : ''
      }</div>
      <div class="thread-channel">${channelIcon(next.channel.kind, { size: 16 })}<span>${esc(next.channel.name)}</span></div>${
        next.subject ? `<div class="thread-subject" data-testid="thread-subject">${esc(next.subject)}</div>` : ''
      }</div>`;
  }

  function reactionKey(message) {
    return message.sender?.type === 'contact' || message.direction === 'inbound' ? 'contact' : 'business';
  }

  /** Records a reaction message against its target (the newest reaction per side wins). */
  function applyReaction(message) {
    const target = reactionTarget(message);
    if (!target) return;
    const id = target.id ?? providerIds.get(target.provider);
    if (id === undefined || !shown.has(id)) {
      const key = id !== undefined ? `id:${id}` : `p:${target.provider}`;
      if (!pendingReactions.has(key)) pendingReactions.set(key, []);
      pendingReactions.get(key).push(message);
      return;
    }
    const map = reactions.get(id) || new Map();
    const side = reactionKey(message);
    if ((map.get(side)?.id ?? -1) > message.id) return;
    const emoji = message.payload?.emoji ?? message.payload?.reaction?.emoji ?? '';
    map.set(side, { id: message.id, emoji });
    reactions.set(id, map);
    paintReactions(id);
  }

  function paintReactions(id) {
    const node = list.querySelector(`#msg-${id}`);
    if (!node) return;
    const emojis = [...(reactions.get(id)?.values() || [])].map((r) => r.emoji).filter(Boolean);
    let box = node.querySelector('.reactions');
    if (!emojis.length) {
      box?.remove();
      return;
    }
    if (!box) {
      box = h('div', { class: 'reactions', 'data-testid': 'reactions' });
      node.querySelector('.bubble').append(box);
    }
    box.textContent = emojis.join(' ');
  }

  /** Applies reactions that were waiting for this message. */
  function claimReactions(message) {
    for (const key of [`id:${message.id}`, message.provider_message_id && `p:${message.provider_message_id}`]) {
      const waiting = key && pendingReactions.get(key);
      if (!waiting) continue;
      pendingReactions.delete(key);
      waiting.forEach(applyReaction);
    }
  }

  function quoteHtml(message) {
    const context = message.payload?.context;
    if (!context) return '';
    const id = typeof context.id === 'number' ? context.id : context.message_id;
    const original = typeof id === 'number' ? shown.get(id) : undefined;
    const text = original ? snippet(original) : typeof id === 'number' ? '…' : t('thread.original_missing');
    return `<blockquote class="quote" data-testid="message-quote" ${typeof id === 'number' ? `data-quote-id="${id}"` : ''}>${esc(text)}</blockquote>`;
  }

  /** Fills in a quote whose original message was not loaded when the reply was drawn. */
  async function resolveQuote(node, mine) {
    const quote = node.querySelector('.quote[data-quote-id]');
    if (!quote || quote.textContent !== '…') return;
    const id = Number(quote.dataset.quoteId);
    try {
      const page = await api('GET', `/api/v1/conversations/${conversation.id}/messages${query({ id_from: id, id_to: id, limit: 1 })}`);
      if (mine === generation) quote.textContent = page.data[0] ? snippet(page.data[0]) : t('thread.original_missing');
    } catch {
      if (mine === generation) quote.textContent = t('thread.original_missing');
    }
  }

  function bubble(message) {
    const outbound = message.direction === 'outbound';
    const classes = ['msg', message.private ? 'note' : outbound ? 'out' : 'in'];
    if (message.type === 'system') classes.push('system');
    const node = h('div', {
      class: classes.join(' '),
      id: `msg-${message.id}`,
      'data-testid': 'message',
      'data-id': message.id,
      'data-direction': message.direction,
      'data-type': message.type,
      'data-status': message.status || '',
      'data-private': String(message.private),
    });
    const failed =
      message.status === 'failed'
        ? `<div class="msg-error" data-testid="message-error" role="note">${esc(
            t('thread.failed_reason', { reason: message.error?.text || message.error?.code || '?' }),
          )}</div>`
        : '';
    const note = message.private ? `<div class="note-label">${glyph('lock', 14)} ${esc(t('thread.private_note'))}</div>` : '';
    const bot = message.sender?.type === 'virtual_agent' ? botLabel(message.sender.id) : '';
    node.innerHTML = `<div class="bubble">${bot}${note}${quoteHtml(message)}${bodyHtml(message)}${metaHtml(message)}${failed}</div>${
      message.private || message.deleted || message.type === 'system'
        ? ''
        : `<button type="button" class="msg-reply" data-testid="reply-button" aria-label="${esc(t('thread.reply'))}" title="${esc(t('thread.reply'))}">${glyph('reply', 16)}</button>`
    }`;
    for (const link of node.querySelectorAll('[data-media-key]')) nameDocument(link);
    node.querySelector('.msg-quoted')?.addEventListener('toggle', (event) => {
      if (event.currentTarget.open) openOriginal(event.currentTarget, message.payload.email);
    });
    if (bot && !message.deleted) node.querySelector('.bubble').append(feedbackControls(message.id, feedback.get(message.id)));
    node.querySelector('.msg-reply')?.addEventListener('click', () => onReply(message));
    node.querySelector('.quote[data-quote-id]')?.addEventListener('click', (event) => {
      list.querySelector(`#msg-${event.currentTarget.dataset.quoteId}`)?.scrollIntoView({ block: 'center' });
    });
    return node;
  }

  /** Registers a message and returns its node (null for reactions: `settle` puts them on their target). */
  function build(message) {
    if (message.type === 'reaction') return null;
    shown.set(message.id, message);
    if (message.provider_message_id) providerIds.set(message.provider_message_id, message.id);
    return bubble(message);
  }

  /** Draws messages of one page; reactions and waiting quotes are settled once the nodes are in the DOM. */
  function settle(messages, mine) {
    for (const message of messages) {
      if (message.type === 'reaction') continue;
      claimReactions(message);
      paintReactions(message.id);
      const node = list.querySelector(`#msg-${message.id}`);
      if (node) resolveQuote(node, mine);
    }
    for (const message of messages) if (message.type === 'reaction') applyReaction(message);
  }

  function setTop() {
    top.textContent = cursor ? t('thread.loading_older') : t('thread.thread_start');
  }

  /** Shows a conversation: the newest page of its thread, scrolled to the bottom. */
  async function open(next) {
    generation += 1;
    const mine = generation;
    hideTyping();
    setConversation(next);
    shown = new Map();
    drafts = new Map();
    providerIds = new Map();
    reactions = new Map();
    pendingReactions = new Map();
    cursor = null;
    loadingOlder = true;
    list.replaceChildren();
    top.textContent = t('thread.loading_older');
    pill.hidden = true;
    try {
      const [page, given] = await Promise.all([
        api('GET', `/api/v1/conversations/${next.id}/messages${query({ limit: PAGE })}`),
        myFeedback(next.id),
      ]);
      if (mine !== generation) return;
      feedback = given;
      cursor = page.next_cursor;
      list.append(...page.data.map(build).filter(Boolean));
      settle(page.data, mine);
      setTop();
      scrollToBottom();
    } catch (error) {
      if (mine === generation) top.textContent = error.message;
    } finally {
      if (mine === generation) loadingOlder = false;
    }
    if (mine === generation && scroller.scrollTop < NEAR_TOP) loadOlder();
  }

  /** Prepends the previous page, keeping what the user looks at in place. */
  async function loadOlder() {
    if (loadingOlder || !cursor || !conversation) return;
    const mine = generation;
    loadingOlder = true;
    try {
      const page = await api('GET', `/api/v1/conversations/${conversation.id}/messages${query({ cursor, limit: PAGE })}`);
      if (mine !== generation) return;
      cursor = page.next_cursor;
      const fresh = page.data.filter((m) => !shown.has(m.id));
      await new Promise((resolve) => requestAnimationFrame(resolve));
      if (mine !== generation) return;
      const fromBottom = scroller.scrollHeight - scroller.scrollTop;
      list.prepend(...fresh.map(build).filter(Boolean));
      settle(fresh, mine);
      setTop();
      scroller.scrollTop = scroller.scrollHeight - fromBottom;
    } catch (error) {
      if (mine === generation) top.textContent = error.message;
    } finally {
      if (mine === generation) loadingOlder = false;
    }
    if (mine === generation && scroller.scrollTop < NEAR_TOP) loadOlder();
  }

  /** Appends a new message of the open conversation (ignores repeats and other conversations). */
  function addMessage(message) {
    if (!conversation || message.conversation_id !== conversation.id) return;
    if (message.direction === 'inbound') hideTyping();
    if (message.payload?.draft_id) clearDrafts(message.payload.draft_id);
    if (shown.has(message.id)) {
      updateMessage(message);
      return;
    }
    if (message.type === 'reaction') {
      applyReaction(message);
      return;
    }
    const follow = nearBottom() || message.direction === 'outbound';
    const node = build(message);
    const after = [...list.children].reverse().find((n) => Number(n.dataset.id) < message.id);
    if (after) after.after(node);
    else list.prepend(node);
    settle([message], generation);
    if (follow) scrollToBottom();
    else pill.hidden = false;
  }

  /** Redraws one message after a change (status tick, error, edit, deletion). */
  function updateMessage(message) {
    if (!conversation || message.conversation_id !== conversation.id) return;
    if (message.type === 'reaction') {
      applyReaction(message);
      return;
    }
    const old = list.querySelector(`#msg-${message.id}`);
    if (!old) return;
    const previous = shown.get(message.id);
    if (previous && previous.updated_at > message.updated_at) return;
    old.replaceWith(build(message));
    paintReactions(message.id);
    resolveQuote(list.querySelector(`#msg-${message.id}`), generation);
  }

  return { open, setConversation, addMessage, updateMessage, scrollToBottom, showDraft, showTyping, headerActions };
}
