/*
 * Parley's web chat widget: one script tag on the business's site,
 *   <script src="https://<parley>/widget.js" data-channel="<public id>" async></script>
 * No framework, no CDN, isolated in a shadow root. The visitor's session token is kept in this
 * site's localStorage and sent as a bearer header, never in a URL. Messages arrive live over
 * Server-Sent Events read with fetch, resumed after the last message id on reconnect.
 * API: Parley.open(), Parley.close(), Parley.identify(identifier, {name, email, identifier_hash,
 * identity_token}), Parley.on('message', fn). `data-prechat` asks for a name and email first.
 */
(() => {
  'use strict';
  const script = document.currentScript;
  if (!script || window.Parley) return;
  const channel = script.dataset.channel;
  const base = new URL(script.src).origin;
  const api = `${base}/widget/v1/channels/${encodeURIComponent(channel)}`;
  const storageKey = `parley:${channel}`;

  const TEXTS = {
    en: { typing: 'Typing…', open: 'Chat with us', close: 'Close chat', title: 'Chat', placeholder: 'Write a message…', send: 'Send',
      error: 'The chat is not available on this site.', offline: 'Reconnecting…', you: 'You', agent: 'Agent', bot: 'Assistant',
      attach: 'Send a photo or file', name: 'Your name', email: 'Your email', start: 'Start chat',
      nobody: 'Nobody is free right now. Leave your email and we will answer there.', byEmail: 'Continue by email',
      emailed: 'Thanks, we will answer by email.', rate: 'How was this chat?', good: 'Good', bad: 'Bad', thanks: 'Thanks for your feedback!' },
    it: { typing: 'Sta scrivendo…', open: 'Chatta con noi', close: 'Chiudi la chat', title: 'Chat', placeholder: 'Scrivi un messaggio…', send: 'Invia',
      error: 'La chat non è disponibile su questo sito.', offline: 'Riconnessione…', you: 'Tu', agent: 'Operatore', bot: 'Assistente',
      attach: 'Invia una foto o un file', name: 'Il tuo nome', email: 'La tua email', start: 'Inizia la chat',
      nobody: 'Al momento non c’è nessuno libero. Lasciaci la tua email e ti risponderemo lì.', byEmail: 'Continua via email',
      emailed: 'Grazie, ti risponderemo via email.', rate: 'Com’è andata la chat?', good: 'Bene', bad: 'Male', thanks: 'Grazie del riscontro!' },
    pt: { typing: 'Digitando…', open: 'Fale conosco', close: 'Fechar o chat', title: 'Chat', placeholder: 'Escreva uma mensagem…', send: 'Enviar',
      error: 'O chat não está disponível neste site.', offline: 'Reconectando…', you: 'Você', agent: 'Atendente', bot: 'Assistente',
      attach: 'Enviar uma foto ou arquivo', name: 'Seu nome', email: 'Seu e-mail', start: 'Iniciar o chat',
      nobody: 'Ninguém está disponível agora. Deixe seu e-mail e responderemos por lá.', byEmail: 'Continuar por e-mail',
      emailed: 'Obrigado, responderemos por e-mail.', rate: 'Como foi o chat?', good: 'Bom', bad: 'Ruim', thanks: 'Obrigado pela avaliação!' },
  };
  const lang = (script.dataset.lang || navigator.language || 'en').slice(0, 2).toLowerCase();
  const t = TEXTS[lang] || TEXTS.en;

  const host = document.createElement('div');
  host.id = 'parley-widget';
  const root = host.attachShadow({ mode: 'open' });
  root.innerHTML = `<style>
    :host { all: initial; }
    * { box-sizing: border-box; font: 14px/1.4 system-ui, sans-serif; }
    .launcher { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border-radius: 50%; border: none;
      background: #2563eb; color: #fff; font-size: 26px; cursor: pointer; box-shadow: 0 4px 12px rgb(0 0 0 / .25); z-index: 2147483000; }
    .panel { position: fixed; right: 20px; bottom: 88px; width: min(360px, calc(100vw - 40px)); height: min(520px, calc(100vh - 120px));
      display: flex; flex-direction: column; background: #fff; border-radius: 12px; box-shadow: 0 8px 24px rgb(0 0 0 / .25);
      overflow: hidden; z-index: 2147483000; }
    .panel[hidden] { display: none; }
    header { display: flex; align-items: center; justify-content: space-between; padding: 10px 14px; background: #2563eb; color: #fff; }
    header button { background: none; border: none; color: inherit; font-size: 20px; cursor: pointer; }
    .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 6px; background: #f6f7f9; }
    .msg { max-width: 80%; padding: 8px 10px; border-radius: 10px; background: #fff; align-self: flex-start; white-space: pre-wrap; word-wrap: break-word; }
    .msg.visitor { align-self: flex-end; background: #dbeafe; }
    .msg.notice { align-self: center; background: #eef2ff; font-size: 12px; }
    .who { display: block; font-size: 11px; color: #6b7280; }
    .chips { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
    .stars { display: flex; margin-top: 6px; }
    .stars button { border: 0; background: none; padding: 0 2px; font-size: 24px; line-height: 1; color: #d1d5db; cursor: pointer; }
    .stars:not([data-voted]):hover button, .stars button.on { color: #f59e0b; }
    .stars:not([data-voted]) button:hover ~ button { color: #d1d5db; }
    .chips button, .chips a { border: 1px solid #2563eb; color: #2563eb; background: #fff; border-radius: 999px; padding: 3px 10px; cursor: pointer; text-decoration: none; font-size: 13px; }
    .card { border: 1px solid #e5e7eb; border-radius: 8px; overflow: hidden; margin-top: 4px; }
    .card img { display: block; width: 100%; max-height: 140px; object-fit: cover; }
    .card div { padding: 6px 8px; }
    form { display: flex; gap: 6px; padding: 8px; border-top: 1px solid #e5e7eb; }
    textarea { flex: 1; resize: none; border: 1px solid #d1d5db; border-radius: 8px; padding: 6px 8px; height: 38px; }
    form button { border: none; background: #2563eb; color: #fff; border-radius: 8px; padding: 0 12px; cursor: pointer; }
    form .attach { background: none; color: #374151; font-size: 18px; padding: 0 4px; }
    form[hidden], .prechat[hidden] { display: none; }
    .prechat { flex-direction: column; }
    .prechat input { border: 1px solid #d1d5db; border-radius: 8px; padding: 6px 8px; }
    .prechat button { padding: 8px 12px; }
    .offer { padding: 8px 12px; border-top: 1px solid #e5e7eb; background: #fffbeb; display: flex; flex-direction: column; gap: 6px; }
    .offer[hidden] { display: none; }
    .offer div { display: flex; gap: 6px; }
    .offer input { flex: 1; border: 1px solid #d1d5db; border-radius: 8px; padding: 6px 8px; }
    .offer button { border: 1px solid #2563eb; background: #fff; color: #2563eb; border-radius: 8px; padding: 4px 10px; cursor: pointer; }
    .msg img { display: block; max-width: 100%; max-height: 180px; border-radius: 6px; margin-top: 4px; }
    .status { padding: 4px 12px; font-size: 12px; color: #b91c1c; }
    .typing { padding: 2px 12px; font-size: 12px; color: #6b7280; font-style: italic; }
    .typing[hidden] { display: none; }
    .status:empty { display: none; }
    :focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
  </style>
  <button class="launcher" type="button" part="launcher" aria-expanded="false" aria-controls="parley-panel"></button>
  <section class="panel" id="parley-panel" role="dialog" hidden>
    <header><strong></strong><button type="button" class="close"></button></header>
    <div class="log" role="log" aria-live="polite"></div>
    <div class="typing" aria-live="polite" hidden></div>
    <div class="status" role="status"></div>
    <form class="offer deflect" hidden><span></span><div><input type="email" name="email" required autocomplete="email"><button type="submit"></button></div></form>
    <div class="offer rating" hidden><span></span><div><button type="button" data-rating="up">👍</button><button type="button" data-rating="down">👎</button></div></div>
    <form class="prechat" hidden><input name="name" required autocomplete="name"><input name="email" type="email" required autocomplete="email"><button type="submit"></button></form>
    <form class="compose"><button type="button" class="attach"></button><input type="file" accept="image/*,video/*,application/pdf" hidden><textarea rows="1"></textarea><button type="submit"></button></form>
  </section>`;
  const $ = (selector) => root.querySelector(selector);
  const launcher = $('.launcher');
  const panel = $('.panel');
  const log = $('.log');
  const status = $('.status');
  const input = $('textarea');
  const typing = $('.typing');
  launcher.textContent = '💬';
  launcher.setAttribute('aria-label', t.open);
  panel.setAttribute('aria-label', t.title);
  $('header strong').textContent = t.title;
  $('.close').textContent = '×';
  $('.close').setAttribute('aria-label', t.close);
  input.placeholder = t.placeholder;
  input.setAttribute('aria-label', t.placeholder);
  $('.compose button[type=submit]').textContent = t.send;
  $('.attach').textContent = '📎';
  $('.attach').setAttribute('aria-label', t.attach);
  const prechat = $('.prechat');
  for (const field of ['name', 'email']) {
    prechat.elements[field].placeholder = t[field];
    prechat.elements[field].setAttribute('aria-label', t[field]);
  }
  prechat.querySelector('button').textContent = t.start;
  const deflect = $('.deflect');
  deflect.querySelector('span').textContent = t.nobody;
  deflect.elements.email.placeholder = t.email;
  deflect.elements.email.setAttribute('aria-label', t.email);
  deflect.querySelector('button').textContent = t.byEmail;
  const rating = $('.rating');
  rating.setAttribute('role', 'group');
  rating.setAttribute('aria-label', t.rate);
  rating.querySelector('span').textContent = t.rate;
  rating.querySelector('[data-rating=up]').setAttribute('aria-label', t.good);
  rating.querySelector('[data-rating=down]').setAttribute('aria-label', t.bad);
  typing.textContent = t.typing;

  const listeners = { message: [] };
  const shown = new Set();
  let token = localStorage.getItem(storageKey);
  let last = 0;
  let streaming = null;

  const call = async (method, path, body) => {
    const headers = { 'Content-Type': 'application/json' };
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await fetch(`${api}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
    if (!response.ok) {
      const problem = await response.json().catch(() => ({}));
      throw Object.assign(new Error(problem.detail || response.statusText), { status: response.status, code: problem.code });
    }
    return response.status === 204 ? null : response.json();
  };

  const remember = (answer) => {
    token = answer.token;
    localStorage.setItem(storageKey, token);
  };

  /** Opens the visitor's session once, however many calls wait for it. */
  let opening = null;
  function session() {
    if (token) return Promise.resolve();
    opening ||= call('POST', '/sessions', { page_url: location.href, language: navigator.language || undefined }).then(remember).finally(() => (opening = null));
    return opening;
  }

  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    node.append(...children.filter((child) => child != null));
    return node;
  };

  const link = (url) => (/^https?:\/\//i.test(url || '') ? url : null);

  /** A suggestion chip: a link for URLs and calls, else a button that sends its title. */
  function chip(option) {
    const target = link(option.url) || (option.dial ? `tel:${option.dial}` : null);
    if (target) return el('a', { href: target, target: '_blank', rel: 'noopener noreferrer' }, option.title);
    const button = el('button', { type: 'button' }, option.title);
    button.addEventListener('click', () => say(option.title));
    return button;
  }

  /** A satisfaction survey's vote as five stars: the tapped star sends its vote. */
  function stars(options) {
    const row = el('div', { class: 'stars', role: 'group', 'aria-label': t.rate });
    const votes = options.map((o) => ({ vote: Number(o.id.slice(7)), title: o.title })).sort((a, b) => a.vote - b.vote);
    for (const { vote, title } of votes) {
      const star = el('button', { type: 'button', 'aria-label': `${vote}/5`, 'data-vote': String(vote) }, '★');
      star.addEventListener('click', () => {
        row.dataset.voted = String(vote);
        for (const other of row.children) {
          other.disabled = true;
          other.classList.toggle('on', Number(other.dataset.vote) <= vote);
        }
        say(title);
      });
      row.append(star);
    }
    return row;
  }

  const isSurvey = (options) => options.every((option) => /^survey:[1-5]$/.test(option.id || ''));

  function render(message) {
    if (shown.has(message.id)) return;
    shown.add(message.id);
    last = Math.max(last, message.id);
    const who = { visitor: t.you, agent: t.agent, bot: t.bot }[message.from] || '';
    const node = el('div', { class: `msg ${message.from}`, 'data-id': String(message.id) }, el('span', { class: 'who' }, who));
    const payload = message.payload || {};
    const text = message.text || payload.choices?.text;
    if (text) node.append(document.createTextNode(text));
    for (const url of message.media || []) {
      const preview = message.type === 'image' ? el('img', { src: url, alt: t.attach }) : '📎';
      node.append(el('div', {}, el('a', { href: url, target: '_blank', rel: 'noopener' }, preview)));
    }
    const cards = Array.isArray(payload.cards) ? payload.cards : payload.cards?.items || [];
    for (const card of cards) {
      const image = link(card.image_url);
      node.append(el('div', { class: 'card' }, image ? el('img', { src: image, alt: '' }) : null,
        el('div', {}, el('strong', {}, card.title || ''), card.subtitle ? el('div', {}, card.subtitle) : null,
          (card.buttons || []).length ? el('div', { class: 'chips' }, ...card.buttons.map(chip)) : null)));
    }
    const options = payload.choices?.options || [];
    if (options.length && isSurvey(options)) node.append(stars(options));
    else if (options.length) node.append(el('div', { class: 'chips' }, ...options.map(chip)));
    log.append(node);
    log.scrollTop = log.scrollHeight;
    for (const listener of listeners.message) listener(message);
  }

  const drafts = new Map();
  let typingTimer = null;

  /** An event of the stream: a message, an agent's answer being written, an operator typing. */
  function live(name, data) {
    if (name === 'message') {
      const draft = drafts.get(data.payload?.draft_id);
      if (draft) draft.remove();
      drafts.delete(data.payload?.draft_id);
      typing.hidden = true;
      render(data);
    } else if (name === 'draft') {
      let node = drafts.get(data.draft_id);
      if (!node) {
        node = el('div', { class: 'msg bot draft', 'aria-busy': 'true' }, el('span', { class: 'who' }, t.bot), el('span', {}));
        drafts.set(data.draft_id, node);
        log.append(node);
      }
      node.lastChild.textContent = data.text;
      log.scrollTop = log.scrollHeight;
    } else if (name === 'state') {
      showState(data);
    } else if (name === 'typing') {
      typing.hidden = !data.on;
      clearTimeout(typingTimer);
      if (data.on) typingTimer = setTimeout(() => (typing.hidden = true), 6000);
    }
  }

  /**
   * Follows the chat's state: waiting for a person nobody is free to be offers email instead;
   * an ended chat asks for a rating once.
   */
  function showState(state) {
    deflect.hidden = !(state.escalation === 'escalating' && !state.people_available);
    if (state.escalation === 'deflected') notice(t.emailed);
    const ended = state.status === 'resolved' || state.status === 'closed';
    rating.hidden = !ended || !!state.rating;
    if (state.rating) notice(t.thanks);
  }

  /** A line of the widget's own in the thread, shown once. */
  function notice(text) {
    if ([...log.querySelectorAll('.notice')].some((node) => node.textContent === text)) return;
    log.append(el('div', { class: 'msg notice', role: 'status' }, text));
    log.scrollTop = log.scrollHeight;
  }

  /** Reads the stream, and reads it again after the last message shown when it breaks. */
  async function stream() {
    if (streaming) return;
    streaming = new AbortController();
    let wait = 1000;
    while (streaming) {
      try {
        const response = await fetch(`${api}/events`, {
          headers: { Authorization: `Bearer ${token}`, 'Last-Event-ID': String(last) },
          signal: streaming.signal,
        });
        if (response.status === 401) {
          localStorage.removeItem(storageKey);
          token = null;
          await session();
          continue;
        }
        if (!response.ok) throw new Error(response.statusText);
        status.textContent = '';
        wait = 1000;
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += value;
          let end;
          while ((end = buffer.indexOf('\n\n')) >= 0) {
            const block = buffer.slice(0, end);
            buffer = buffer.slice(end + 2);
            const lines = block.split('\n');
            const name = (lines.find((line) => line.startsWith('event:')) || 'event: message').slice(6).trim();
            const data = lines.filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trim()).join('\n');
            if (data) live(name, JSON.parse(data));
          }
        }
      } catch (error) {
        if (!streaming) return;
        status.textContent = t.offline;
      }
      await new Promise((resolve) => setTimeout(resolve, wait));
      wait = Math.min(wait * 2, 30000);
    }
  }

  async function start() {
    try {
      await session();
      stream();
    } catch (error) {
      // A site that is not allowed gets no CORS answer: the browser reports only a failed fetch.
      status.textContent = !error.status || error.status === 403 ? t.error : error.message;
    }
  }

  async function say(text) {
    if (!text.trim()) return;
    try {
      await session();
      render(await call('POST', '/messages', { text, page_url: location.href }));
    } catch (error) {
      status.textContent = error.message;
    }
  }

  /** Sends a photo, video or PDF the visitor picked. */
  async function attach(file) {
    try {
      await session();
      const body = new FormData();
      body.append('file', file);
      const response = await fetch(`${api}/uploads`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body });
      const answer = await response.json();
      if (!response.ok) throw new Error(answer.detail || response.statusText);
      render(answer);
    } catch (error) {
      status.textContent = error.message;
    }
  }

  /** With `data-prechat`, a visitor without a session gives a name and email before chatting. */
  const wantsPrechat = () => script.dataset.prechat != null && !token;

  function open() {
    panel.hidden = false;
    launcher.setAttribute('aria-expanded', 'true');
    const asking = wantsPrechat();
    prechat.hidden = !asking;
    $('.compose').hidden = asking;
    if (asking) {
      prechat.elements.name.focus();
      return;
    }
    input.focus();
    start();
  }

  function close() {
    panel.hidden = true;
    launcher.setAttribute('aria-expanded', 'false');
    launcher.focus();
  }

  launcher.addEventListener('click', () => (panel.hidden ? open() : close()));
  $('.close').addEventListener('click', close);
  panel.addEventListener('keydown', (event) => event.key === 'Escape' && close());
  $('.compose').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = '';
    say(text);
  });
  const picker = $('input[type=file]');
  $('.attach').addEventListener('click', () => picker.click());
  picker.addEventListener('change', () => {
    for (const file of picker.files) attach(file);
    picker.value = '';
  });
  deflect.addEventListener('submit', async (event) => {
    event.preventDefault();
    try {
      showState(await call('POST', '/deflect', { email: deflect.elements.email.value.trim() }));
    } catch (error) {
      status.textContent = error.message;
    }
  });
  for (const button of rating.querySelectorAll('button')) {
    button.addEventListener('click', async () => {
      try {
        showState(await call('POST', '/rating', { rating: button.dataset.rating }));
      } catch (error) {
        status.textContent = error.message;
      }
    });
  }
  prechat.addEventListener('submit', async (event) => {
    event.preventDefault();
    const { name, email } = prechat.elements;
    try {
      await window.Parley.identify(email.value.trim(), { name: name.value.trim(), email: email.value.trim() });
      open();
    } catch (error) {
      status.textContent = error.message;
    }
  });
  // The team sees the visitor typing: at most one signal every 3 seconds.
  let told = 0;
  input.addEventListener('input', () => {
    if (!token || Date.now() - told < 3000) return;
    told = Date.now();
    call('POST', '/typing').catch(() => {});
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey) {
      event.preventDefault();
      $('.compose').requestSubmit();
    }
  });

  window.Parley = {
    open,
    close,
    /** Says who the visitor is; `proof` carries your server's identifier_hash or identity_token. */
    async identify(identifier, proof = {}) {
      await session();
      remember(await call('POST', '/identify', { identifier, ...proof }));
      if (streaming) {
        streaming.abort();
        streaming = null;
        stream();
      }
    },
    on(event, listener) {
      (listeners[event] ||= []).push(listener);
    },
  };
  (document.body || document.documentElement).append(host);
  if (token) start();
})();
