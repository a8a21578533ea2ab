/**
 * The reply box: free text with an emoji picker and attachments from the media library, a private-note toggle,
 * replies to a chosen message, and, once the channel's reply window has closed (WhatsApp's 24 hours), a
 * template picker with inputs for the template's parameters instead of free text.
 */

import { api, ApiError, mediaUrl, channelCapabilities, knownCapabilities } from './api.js';
import { t, fullTime } from './i18n.js';
import { glyph } from './icons.js';
import { h } from './dom.js';
import { openMediaLibrary } from './media.js';
import { smsSegments } from './sms.js';
import { snippet } from './thread.js';

const EMOJI = [
  '😀', '😂', '😊', '😍', '😉', '😎', '🤔', '😅', '😢', '😮', '😡', '🙏',
  '👍', '👎', '👏', '🙌', '👋', '💪', '🤝', '👀', '❤️', '🎉', '🔥', '✨',
  '✅', '❌', '⚠️', '📦', '🚚', '🛒', '💳', '📅', '⏰', '📞', '📧', '📍',
];
const GRID_COLUMNS = 6;

/** Whether a time (ISO 8601) is still ahead. */
function ahead(at) {
  return Boolean(at) && Date.parse(at) > Date.now();
}

/**
 * Whether free-form replies are refused: the channel has a reply window (its capabilities say so) and it is over,
 * or never opened, and so is the longer window in which an operator still answers as a person (Messenger,
 * Instagram). The server applies the same rule.
 */
export function windowClosed(conversation, capabilities) {
  if (!capabilities?.reply_window_hours) return false;
  return !ahead(conversation.window_expires_at) && !ahead(conversation.human_agent_window_expires_at);
}

/** Whether a message is a public comment the channel lets operators answer (publicly or privately). */
export function isComment(capabilities, message) {
  return Boolean(message?.payload?.comment && capabilities?.comments);
}

/** The highest `{{n}}` placeholder number in a template text. */
function placeholders(text) {
  return Math.max(0, ...[...String(text || '').matchAll(/\{\{\s*(\d+)\s*\}\}/g)].map((m) => Number(m[1])));
}

/**
 * Builds the reply box in `element`. `onSent(message)` receives each accepted message.
 * Returns `{setConversation, replyTo, focus}`.
 */
export function createComposer(element, { onSent }) {
  let conversation = null;
  /** What the conversation's channel can do (its reply window, templates, comments…). */
  let capabilities = {};
  let attachments = [];
  let replying = null;
  let closedTimer = 0;
  let templates = [];
  let templatesChannel = null;
  const drafts = new Map();

  const banner = h(
    'div',
    { class: 'window-banner', role: 'status', 'data-testid': 'window-closed-banner', hidden: true },
  );
  const replyText = h('span', { class: 'reply-text' });
  const replyBox = h(
    'div',
    { class: 'reply-preview', 'data-testid': 'reply-preview', hidden: true },
    h('span', { class: 'reply-label' }, t('composer.replying_to')),
    replyText,
    h('button', {
      type: 'button',
      class: 'icon-button',
      'aria-label': t('composer.cancel_reply'),
      'data-testid': 'reply-cancel',
      html: glyph('close', 16),
      onclick: () => replyTo(null),
    }),
  );
  const chips = h('div', { class: 'attachments', 'data-testid': 'attachments' });
  const error = h('div', { class: 'composer-error', role: 'alert', 'data-testid': 'composer-error' });

  const input = h('textarea', {
    class: 'composer-input',
    rows: '1',
    'aria-label': t('composer.message_input'),
    placeholder: t('composer.message_input'),
    'data-testid': 'composer-input',
    onkeydown: (event) => {
      if (!quickList.hidden && quickKeys(event)) return;
      if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        send();
      }
    },
    oninput: () => {
      grow();
      countParts();
      showQuickReplies();
    },
  });
  /** The quick replies `/` opens: those of the conversation, filled for it (loaded once per conversation). */
  const quickList = h('ul', {
    class: 'quick-replies',
    role: 'listbox',
    'aria-label': t('composer.quick_replies'),
    'data-testid': 'quick-replies',
    hidden: true,
  });
  let quickReplies = null;
  let quickFor = null;
  let quickShown = [];
  let quickActive = 0;

  /** Opens, filters or closes the list as the text is a `/code` being typed. */
  async function showQuickReplies() {
    const typing = () => !noteToggle.checked && conversation && input.value.match(/^\/(\S*)$/);
    if (!typing()) {
      quickList.hidden = true;
      return;
    }
    const id = conversation.id;
    if (quickFor !== id) {
      quickFor = id;
      quickReplies = null;
      try {
        quickReplies = (await api('GET', `/api/v1/conversations/${id}/quick-replies`)).data;
      } catch {
        quickFor = null;
        return;
      }
    }
    // What is typed by the time the list arrived.
    const typed = typing();
    if (!quickReplies || !typed || conversation.id !== id) return;
    const wanted = typed[1].toLowerCase();
    // Short codes match from the first letter, texts from the third.
    const matches = (reply) =>
      reply.shortcode.includes(wanted) || (wanted.length >= 3 && reply.filled_text.toLowerCase().includes(wanted));
    const starts = (reply) => (reply.shortcode.startsWith(wanted) ? 0 : 1);
    quickShown = quickReplies.filter(matches).sort((a, b) => starts(a) - starts(b));
    quickActive = 0;
    drawQuickReplies();
  }

  function drawQuickReplies() {
    quickList.hidden = false;
    if (!quickShown.length) {
      quickList.replaceChildren(h('li', { class: 'cp-muted' }, t('composer.no_quick_replies')));
      return;
    }
    quickList.replaceChildren(
      ...quickShown.map((reply, index) =>
        h(
          'li',
          {
            role: 'option',
            class: index === quickActive ? 'active' : '',
            'aria-selected': String(index === quickActive),
            'data-testid': 'quick-reply',
            'data-code': reply.shortcode,
            onmousedown: (event) => {
              event.preventDefault();
              pickQuickReply(reply);
            },
          },
          h('strong', {}, `/${reply.shortcode}`),
          h('span', { class: 'quick-text' }, reply.filled_text),
        ),
      ),
    );
  }

  /** Arrow keys move through the list, Enter or Tab pick, Escape closes; answers whether the key was taken. */
  function quickKeys(event) {
    if (event.key === 'Escape') {
      quickList.hidden = true;
    } else if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
      if (!quickShown.length) return false;
      quickActive = (quickActive + (event.key === 'ArrowDown' ? 1 : quickShown.length - 1)) % quickShown.length;
      drawQuickReplies();
    } else if ((event.key === 'Enter' || event.key === 'Tab') && quickShown.length && !event.isComposing) {
      pickQuickReply(quickShown[quickActive]);
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  /** Puts a quick reply in the composer (its text, buttons and file), for the operator to edit and send. */
  function pickQuickReply(reply) {
    quickList.hidden = true;
    input.value = reply.filled_text;
    if (!richFields.hidden) suggestionsInput.value = reply.buttons.join(', ');
    if (reply.media_key && !attachments.some((a) => a.key === reply.media_key)) {
      attachments.push({ key: reply.media_key });
      drawAttachments();
    }
    grow();
    countParts();
    input.focus();
  }
  const partsCounter = h('div', { class: 'sms-parts', 'data-testid': 'sms-parts', 'aria-live': 'polite', hidden: true });
  const noteToggle = h('input', { type: 'checkbox', 'data-testid': 'private-toggle', onchange: () => update() });
  const emojiButton = h('button', {
    type: 'button',
    class: 'icon-button',
    'aria-label': t('composer.emoji'),
    title: t('composer.emoji'),
    'aria-haspopup': 'dialog',
    'aria-expanded': 'false',
    'data-testid': 'emoji-button',
    html: glyph('smile', 22),
    onclick: () => (picker.hidden ? showPicker() : hidePicker(true)),
  });
  const attachButton = h('button', {
    type: 'button',
    class: 'icon-button',
    'aria-label': t('composer.attach'),
    title: t('composer.attach'),
    'data-testid': 'attach-button',
    html: glyph('clip', 22),
    onclick: () => openMediaLibrary({ onProceed: attach }),
  });
  const sendButton = h('button', {
    type: 'submit',
    class: 'send-button',
    'aria-label': t('composer.send'),
    title: t('composer.send'),
    'data-testid': 'send-button',
    html: glyph('send', 22),
  });
  const picker = h(
    'div',
    {
      class: 'emoji-picker',
      role: 'dialog',
      'aria-label': t('composer.emoji_picker'),
      'data-testid': 'emoji-picker',
      hidden: true,
      onkeydown: pickerKeys,
    },
    h(
      'div',
      { class: 'emoji-grid', role: 'grid' },
      EMOJI.map((emoji, index) =>
        h(
          'button',
          {
            type: 'button',
            class: 'emoji',
            tabindex: index === 0 ? '0' : '-1',
            'data-testid': 'emoji-option',
            'aria-label': emoji,
            onclick: () => insert(emoji),
          },
          emoji,
        ),
      ),
    ),
  );
  const commentMode = (value, label) =>
    h('label', {},
      h('input', { type: 'radio', name: 'comment-mode', value, checked: value === 'public', 'data-testid': `comment-${value}` }),
      label);
  const commentModes = h('div', { class: 'comment-mode', role: 'radiogroup', 'aria-label': t('composer.comment_mode'),
    'data-testid': 'comment-mode', hidden: true },
  commentMode('public', t('composer.comment_public')),
  commentMode('private', t('composer.comment_private')));
  const cardButton = h('button', {
    type: 'button',
    class: 'icon-button',
    'aria-label': t('composer.card'),
    title: t('composer.card'),
    'aria-pressed': 'false',
    'data-testid': 'card-button',
    html: glyph('card', 22),
    onclick: () => showCard(cardFields.hidden),
  });
  const freeText = h('div', { class: 'free-text' }, emojiButton, attachButton, cardButton, input, sendButton);

  // Mail (threaded networks): the conversation's subject, and addresses in copy and hidden copy.
  const emailInput = (testid, key) =>
    h('input', { type: 'text', 'data-testid': testid, placeholder: t(key), 'aria-label': t(key), autocomplete: 'off' });
  const subjectInput = emailInput('composer-subject', 'composer.subject');
  const ccInput = emailInput('composer-cc', 'composer.cc');
  const bccInput = emailInput('composer-bcc', 'composer.bcc');
  const emailFields = h('div', { class: 'email-fields', 'data-testid': 'email-fields', hidden: true }, subjectInput, ccInput, bccInput);

  // Rich messages, where the network takes them: suggestion chips under the text, and a card.
  const richInput = (testid, key) => h('input', { type: 'text', 'data-testid': testid, placeholder: t(key), 'aria-label': t(key) });
  const suggestionsInput = richInput('composer-suggestions', 'composer.suggestions');
  const cardTitle = richInput('card-title-input', 'composer.card_title');
  const cardDescription = richInput('card-description-input', 'composer.card_description');
  const cardImage = richInput('card-image-input', 'composer.card_image');
  const cardFields = h('div', { class: 'rich-fields', 'data-testid': 'card-fields', hidden: true }, cardTitle, cardDescription, cardImage);
  const richFields = h('div', { class: 'rich-fields', hidden: true }, suggestionsInput);

  function showCard(on) {
    cardFields.hidden = !on;
    cardButton.setAttribute('aria-pressed', String(on));
    if (on) cardTitle.focus();
  }

  /** The structured payload of the suggestions and card typed, or an error to show. */
  function richPayload(text) {
    const labels = suggestionsInput.value.split(',').map((label) => label.trim()).filter(Boolean);
    if (!cardFields.hidden) {
      const title = cardTitle.value.trim();
      if (!title) return { error: t('composer.card_needs_title') };
      const card = { title, buttons: labels.map((label) => ({ title: label, payload: label })) };
      const subtitle = cardDescription.value.trim() || text;
      if (subtitle) card.subtitle = subtitle;
      if (cardImage.value.trim()) card.image_url = cardImage.value.trim();
      return { payload: { cards: [card] }, replacesText: true };
    }
    if (labels.length && text) return { payload: { choices: { options: labels.map((title) => ({ title })) } } };
    return {};
  }

  function clearRich() {
    suggestionsInput.value = '';
    for (const field of [cardTitle, cardDescription, cardImage]) field.value = '';
    showCard(false);
  }

  const templateSelect = h('select', {
    'data-testid': 'template-select',
    'aria-label': t('composer.template'),
    onchange: () => showTemplate(),
  });
  const templateFields = h('div', { class: 'template-fields' });
  const templatePreview = h('div', { class: 'template-preview', 'data-testid': 'template-preview' });
  const templatePicker = h(
    'div',
    { class: 'template-picker', 'data-testid': 'template-picker', hidden: true },
    h('label', { class: 'field' }, h('span', {}, t('composer.template')), templateSelect),
    templateFields,
    templatePreview,
    h(
      'button',
      { type: 'button', class: 'primary', 'data-testid': 'template-send', onclick: () => sendTemplate() },
      t('composer.send_template'),
    ),
  );

  const form = h(
    'form',
    {
      class: 'composer-form',
      onsubmit: (event) => {
        event.preventDefault();
        send();
      },
    },
    templatePicker,
    commentModes,
    emailFields,
    freeText,
    cardFields,
    richFields,
    h('label', { class: 'note-toggle' }, noteToggle, h('span', {}, t('composer.private_toggle'))),
    partsCounter,
  );
  element.replaceChildren(banner, replyBox, chips, quickList, form, error, picker);

  document.addEventListener('click', (event) => {
    if (!picker.hidden && !picker.contains(event.target) && !emojiButton.contains(event.target)) hidePicker(false);
  });

  /** Shows how the text goes out as SMS (encoding, parts, room left in the last part) on channels that count parts. */
  function countParts() {
    partsCounter.hidden = !capabilities.sms_parts || noteToggle.checked || !input.value;
    if (partsCounter.hidden) return;
    const { encoding, parts, remaining } = smsSegments(input.value);
    partsCounter.textContent = t(parts === 1 ? 'composer.sms_part' : 'composer.sms_parts', { encoding, parts, remaining });
  }

  function grow() {
    input.style.height = 'auto';
    input.style.height = `${Math.min(input.scrollHeight, 160)}px`;
    input.style.overflowY = input.scrollHeight > 160 ? 'auto' : 'hidden';
  }

  function showPicker() {
    picker.hidden = false;
    emojiButton.setAttribute('aria-expanded', 'true');
    picker.querySelector('[tabindex="0"]').focus();
  }

  function hidePicker(refocus) {
    picker.hidden = true;
    emojiButton.setAttribute('aria-expanded', 'false');
    if (refocus) emojiButton.focus();
  }

  /** Arrow keys move between emoji, Escape closes the picker. */
  function pickerKeys(event) {
    const buttons = [...picker.querySelectorAll('.emoji')];
    const index = buttons.indexOf(document.activeElement);
    const moves = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: GRID_COLUMNS, ArrowUp: -GRID_COLUMNS };
    if (event.key === 'Escape') {
      event.preventDefault();
      hidePicker(true);
    } else if (event.key in moves && index >= 0) {
      event.preventDefault();
      const next = buttons[Math.min(buttons.length - 1, Math.max(0, index + moves[event.key]))];
      buttons[index].tabIndex = -1;
      next.tabIndex = 0;
      next.focus();
    }
  }

  function insert(emoji) {
    const start = input.selectionStart ?? input.value.length;
    const end = input.selectionEnd ?? start;
    input.value = input.value.slice(0, start) + emoji + input.value.slice(end);
    input.selectionStart = input.selectionEnd = start + emoji.length;
    hidePicker(false);
    input.focus();
  }

  function attach(items) {
    for (const item of items) if (!attachments.some((a) => a.key === item.key)) attachments.push(item);
    drawAttachments();
    input.focus();
  }

  function drawAttachments() {
    chips.replaceChildren(
      ...attachments.map((item) => {
        const name = item.filename || item.key.split('/').pop();
        return h(
          'span',
          { class: 'attachment', 'data-testid': 'attachment', 'data-key': item.key },
          item.content_type?.startsWith('image/')
            ? h('img', { src: mediaUrl(item.key), alt: '', loading: 'lazy' })
            : h('span', { html: glyph('file', 16) }),
          h('span', { class: 'attachment-name' }, name),
          h('button', {
            type: 'button',
            class: 'icon-button',
            'aria-label': t('composer.remove_attachment', { name }),
            'data-testid': 'attachment-remove',
            html: glyph('close', 14),
            onclick: () => {
              attachments = attachments.filter((a) => a.key !== item.key);
              drawAttachments();
            },
          }),
        );
      }),
    );
  }

  /** Starts (or with null, cancels) a reply to a message of the thread. */
  function replyTo(message) {
    replying = message;
    replyBox.hidden = !message;
    replyText.textContent = message ? snippet(message) : '';
    commentModes.hidden = !isComment(capabilities, message);
    commentModes.querySelector('[value=public]').checked = true;
    if (conversation) update();
    if (message) input.focus();
  }

  /** Shows free text or the template picker, as the window and the note toggle require. */
  function update() {
    const closed = conversation ? windowClosed(conversation, capabilities) && !isComment(capabilities, replying) : false;
    const note = noteToggle.checked;
    const personOnly = conversation && !closed && capabilities.reply_window_hours && !ahead(conversation.window_expires_at)
      && ahead(conversation.human_agent_window_expires_at);
    // A channel that takes no content (a voice line records calls) takes private notes only.
    const silent = Boolean(conversation) && Array.isArray(capabilities.content) && !capabilities.content.length;
    banner.hidden = !closed && !personOnly && !silent;
    const hours = capabilities.reply_window_hours;
    if (silent) banner.textContent = t('composer.no_messages');
    else if (closed) {
      const key = capabilities.templates
        ? 'composer.window_closed'
        : capabilities.comments ? 'composer.window_closed_comments' : 'composer.window_closed_wait';
      banner.textContent = t(key, { hours });
    }
    else if (personOnly) {
      banner.textContent = t('composer.human_agent', { hours, until: fullTime(conversation.human_agent_window_expires_at) });
    }
    templatePicker.hidden = !closed || note || !capabilities.templates;
    freeText.hidden = (closed || silent) && !note;
    const content = capabilities.content || [];
    richFields.hidden = freeText.hidden || note || !content.includes('choices');
    emailFields.hidden = freeText.hidden || note || !capabilities.threads;
    cardButton.hidden = freeText.hidden || note || !content.includes('cards');
    if (cardButton.hidden) showCard(false);
    element.classList.toggle('note-mode', note);
    input.placeholder = note ? t('composer.note_input') : t('composer.message_input');
    countParts();
    input.setAttribute('aria-label', input.placeholder);
    clearTimeout(closedTimer);
    // Redrawn when the next window closes.
    const next = [conversation?.window_expires_at, conversation?.human_agent_window_expires_at].filter(ahead).sort()[0];
    if (next) {
      const wait = Date.parse(next) - Date.now();
      if (wait < 2 ** 31 - 1) closedTimer = setTimeout(update, Math.max(0, wait) + 50);
    }
    if (closed && !note && capabilities.templates && templatesChannel !== conversation.channel.id) loadTemplates();
  }

  async function loadTemplates() {
    const channel = conversation.channel.id;
    templatesChannel = channel;
    templates = [];
    templateSelect.replaceChildren(h('option', { value: '' }, t('composer.choose_template')));
    try {
      const list = await api('GET', `/api/v1/channels/${channel}/templates`);
      if (conversation?.channel.id !== channel) return;
      templates = list.data.filter((template) => template.status === 'APPROVED');
    } catch (failure) {
      templatesChannel = null;
      error.textContent = t('composer.send_failed', { reason: failure.message });
      return;
    }
    templateSelect.append(
      ...templates.map((template, index) =>
        h('option', { value: String(index) }, `${template.name} (${template.language})`),
      ),
    );
    templatePreview.textContent = templates.length ? '' : t('composer.no_templates');
  }

  function component(template, type) {
    return (template.components || []).find((c) => String(c.type).toUpperCase() === type);
  }

  /** Draws the inputs for the chosen template's header and body parameters, and a live preview of its body. */
  function showTemplate() {
    const template = templates[Number(templateSelect.value)];
    templateFields.replaceChildren();
    templatePreview.textContent = '';
    if (!templateSelect.value || !template) return;
    const header = component(template, 'HEADER');
    const body = component(template, 'BODY');
    const field = (labelText, part, n, type = 'text') =>
      h(
        'label',
        { class: 'field' },
        h('span', {}, labelText),
        h('input', {
          type,
          required: true,
          'data-testid': 'template-param',
          'data-part': part,
          'data-n': n,
          oninput: preview,
        }),
      );
    if (header && String(header.format || 'TEXT').toUpperCase() === 'TEXT') {
      for (let n = 1; n <= placeholders(header.text); n += 1) {
        templateFields.append(field(t('composer.header_param', { n }), 'header', n));
      }
    } else if (header && ['IMAGE', 'VIDEO', 'DOCUMENT'].includes(String(header.format).toUpperCase())) {
      const format = String(header.format).toLowerCase();
      templateFields.append(field(t('composer.header_media', { format }), 'media', 1, 'url'));
    }
    for (let n = 1; n <= placeholders(body?.text); n += 1) {
      templateFields.append(field(t('composer.body_param', { n }), 'body', n));
    }
    preview();
  }

  function preview() {
    const template = templates[Number(templateSelect.value)];
    const body = template && component(template, 'BODY');
    const values = new Map([...templateFields.querySelectorAll('[data-part="body"]')].map((i) => [i.dataset.n, i.value]));
    templatePreview.textContent = String(body?.text || '').replace(/\{\{\s*(\d+)\s*\}\}/g, (m, n) => values.get(n) || m);
  }

  /** The `payload.template` object in Meta's send shape for the chosen template and the values typed. */
  function templatePayload(template) {
    const inputs = [...templateFields.querySelectorAll('input')];
    const values = (part) =>
      inputs.filter((i) => i.dataset.part === part).map((i) => ({ type: 'text', text: i.value.trim() }));
    const components = [];
    const media = inputs.find((i) => i.dataset.part === 'media');
    const headerText = values('header');
    if (media) {
      const type = String(component(template, 'HEADER').format).toLowerCase();
      components.push({ type: 'header', parameters: [{ type, [type]: { link: media.value.trim() } }] });
    } else if (headerText.length) {
      components.push({ type: 'header', parameters: headerText });
    }
    const bodyValues = values('body');
    if (bodyValues.length) components.push({ type: 'body', parameters: bodyValues });
    return { name: template.name, language: { code: template.language }, components };
  }

  async function post(body) {
    error.textContent = '';
    const message = await api('POST', `/api/v1/conversations/${conversation.id}/messages`, body);
    onSent(message);
    return message;
  }

  function explain(failure) {
    const detail = failure instanceof ApiError ? failure.problem.errors?.[0]?.detail || failure.message : failure.message;
    error.textContent = t('composer.send_failed', { reason: detail });
    if (failure instanceof ApiError && failure.problem.code === 'reply_window_expired') {
      conversation = { ...conversation, window_expires_at: new Date(0).toISOString() };
      update();
    }
  }

  async function sendTemplate() {
    const template = templates[Number(templateSelect.value)];
    if (!template) return;
    const inputs = [...templateFields.querySelectorAll('input')];
    if (inputs.some((i) => !i.value.trim())) {
      error.textContent = t('composer.fill_params');
      return;
    }
    try {
      await post({ payload: { template: templatePayload(template) } });
      templateSelect.value = '';
      showTemplate();
    } catch (failure) {
      explain(failure);
    }
  }

  async function send() {
    if (!conversation || freeText.hidden) return;
    const text = input.value.trim();
    const rich = noteToggle.checked ? {} : richPayload(text);
    if (rich.error) {
      error.textContent = rich.error;
      return;
    }
    if (!text && !attachments.length && !rich.payload) return;
    const body = { media_keys: attachments.map((a) => a.key), private: noteToggle.checked };
    if (text && !rich.replacesText) body.text = text;
    if (rich.payload) body.payload = rich.payload;
    if (replying && !noteToggle.checked) body.reply_to = replying.id;
    if (body.reply_to && !commentModes.hidden && commentModes.querySelector('[value=private]').checked) {
      body.private_reply = true;
    }
    const addresses = (field) => field.value.split(/[\s,;]+/).filter(Boolean);
    if (!emailFields.hidden) {
      if (addresses(ccInput).length) body.cc = addresses(ccInput);
      if (addresses(bccInput).length) body.bcc = addresses(bccInput);
    }
    sendButton.disabled = true;
    try {
      const subject = subjectInput.value.trim();
      if (!emailFields.hidden && subject && subject !== (conversation.subject || '')) {
        conversation = await api('PATCH', `/api/v1/conversations/${conversation.id}`, { subject });
      }
      await post(body);
      ccInput.value = '';
      bccInput.value = '';
      input.value = '';
      clearRich();
      drafts.delete(conversation.id);
      attachments = [];
      drawAttachments();
      replyTo(null);
      grow();
    } catch (failure) {
      explain(failure);
    } finally {
      sendButton.disabled = false;
      input.focus();
    }
  }

  /** Switches to a conversation (keeping each conversation's draft), or refreshes the current one's window. */
  function setConversation(next) {
    if (conversation?.id !== next.id) {
      quickList.hidden = true;
      if (conversation) drafts.set(conversation.id, input.value);
      input.value = drafts.get(next.id) || '';
      attachments = [];
      drawAttachments();
      replyTo(null);
      noteToggle.checked = false;
      error.textContent = '';
      subjectInput.value = next.subject || '';
      ccInput.value = '';
      bccInput.value = '';
      if (next.channel.id !== conversation?.channel.id) {
        templatesChannel = null;
        templateSelect.replaceChildren();
      }
      templateSelect.value = '';
      showTemplate();
      grow();
    }
    conversation = next;
    capabilities = knownCapabilities(next.channel.id) || {};
    update();
    if (!knownCapabilities(next.channel.id)) {
      channelCapabilities(next.channel.id)
        .then((known) => {
          if (conversation?.channel.id !== next.channel.id) return;
          capabilities = known || {};
          update();
        })
        .catch(() => {});
    }
  }

  return { setConversation, replyTo, focus: () => input.focus() };
}
