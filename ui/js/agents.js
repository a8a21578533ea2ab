/**
 * The virtual agents page (`#/agents`): the account's agents; a form for one (engine and its settings drawn from
 * `GET /api/v1/agent-engines`, secrets write-only; instructions; languages; the channels it serves and whether it
 * answers first; handoff keywords and turn limit; active or paused); its knowledge-base articles; and a test chat
 * whose answer streams in as the engine writes it (`message.delta` events of the try-out's draft).
 *
 * Test ids: agents-page, agent-list, agent-row (data-id), agent-add, agent-form, agent-name, agent-engine,
 * agent-setting (data-name, data-secret), agent-languages, agent-instructions, agent-channel (data-id),
 * agent-first (data-id), agent-keywords, agent-max-turns, agent-status, agent-save, agent-error, agent-articles,
 * article-row (data-id), article-delete, article-form, article-title, article-body, article-language,
 * article-save, try-pane, try-input, try-send, try-draft, try-result, agent-feedback, agent-feedback-counts,
 * agent-feedback-list, agent-feedback-row.
 */

import { api, describeError as describe, events, rememberAgents } from './api.js';
import { t } from './i18n.js';
import { h } from './dom.js';
import { channelName } from './icons.js';
import { drawSettings, readSettings } from './settings.js';

/** Keywords as typed (`it: operatore, persona` per line) from and to the API's `{language: [words]}`. */
function keywordsText(keywords) {
  return Object.entries(keywords || {})
    .map(([language, words]) => `${language}: ${words.join(', ')}`)
    .join('\n');
}

function parseKeywords(text) {
  const keywords = {};
  for (const line of text.split('\n')) {
    const [language, words] = line.split(':');
    if (!language?.trim() || words === undefined) continue;
    keywords[language.trim()] = words.split(',').map((w) => w.trim()).filter(Boolean);
  }
  return keywords;
}

/** Mounts the page in `element`; returns the function that unmounts it. */
export function mountAgents(element) {
  let engines = [];
  let channels = [];
  const cleanups = [];
  const list = h('ul', { class: 'ch-list', 'data-testid': 'agent-list' });
  const detail = h('div', { class: 'ag-detail' });
  const status = h('p', { class: 'ch-status', role: 'status' });
  const add = h('button', { type: 'button', class: 'primary', 'data-testid': 'agent-add', onclick: () => open(null) },
    t('agents.add'));
  element.replaceChildren(
    h('section', { class: 'ch-page', 'data-testid': 'agents-page' },
      h('header', { class: 'ch-head' }, h('h1', {}, t('agents.title')), add),
      h('p', { class: 'cp-muted' }, t('agents.intro')),
      status,
      list,
      detail));

  async function load() {
    const [engineList, channelList, agents] = await Promise.all([
      api('GET', '/api/v1/agent-engines'),
      api('GET', '/api/v1/channels'),
      api('GET', '/api/v1/agents'),
    ]);
    engines = engineList.data;
    channels = channelList.data;
    rememberAgents(agents.data);
    list.replaceChildren(...agents.data.map(row));
    if (!agents.data.length) list.append(h('li', { class: 'cp-muted' }, t('agents.empty')));
    return agents.data;
  }

  function row(agent) {
    const served = agent.channels.map((c) => channels.find((ch) => ch.id === c.channel_id)?.name).filter(Boolean);
    return h('li', { class: 'ch-row', 'data-testid': 'agent-row', 'data-id': agent.id },
      h('span', { class: 'ch-icon', 'aria-hidden': 'true' }, '🤖'),
      h('span', { class: 'ch-text' },
        h('strong', {}, agent.name),
        h('span', { class: 'cp-muted' },
          [t(`agents.engine_${agent.engine}`), t(`agents.status_${agent.status}`), served.join(', ') || t('agents.no_channels')]
            .join(' · '))),
      h('button', { type: 'button', class: 'cp-button', 'data-testid': 'agent-edit', onclick: () => open(agent) },
        t('agents.edit')));
  }

  /** The form for a new agent (`agent` null) or for changing one, with its articles and test chat. */
  function open(agent) {
    const error = h('p', { class: 'cp-error', role: 'alert', 'data-testid': 'agent-error' });
    const name = h('input', { name: 'name', required: true, value: agent?.name ?? '', 'data-testid': 'agent-name' });
    const engine = h('select', { name: 'engine', 'data-testid': 'agent-engine' },
      engines.map((e) => h('option', { value: e.name, selected: (agent?.engine ?? 'knowledge_base') === e.name }, e.label)));
    const languages = h('input', { value: (agent?.languages ?? ['en']).join(', '), 'data-testid': 'agent-languages' });
    const instructions = h('textarea', { rows: 4, 'data-testid': 'agent-instructions' }, agent?.instructions ?? '');
    const settings = h('fieldset', { class: 'ch-settings' });
    const keywords = h('textarea', { rows: 4, 'data-testid': 'agent-keywords' }, keywordsText(agent?.handoff?.keywords));
    const maxTurns = h('input', { type: 'number', min: 1, max: 100, value: agent?.handoff?.max_turns ?? '', 'data-testid': 'agent-max-turns' });
    const state = h('select', { 'data-testid': 'agent-status' },
      ['active', 'paused'].map((value) => h('option', { value, selected: (agent?.status ?? 'active') === value }, t(`agents.status_${value}`))));
    const channelBoxes = channels.map((channel) => {
      const served = agent?.channels.find((c) => c.channel_id === channel.id);
      const serve = h('input', { type: 'checkbox', checked: Boolean(served), 'data-testid': 'agent-channel', 'data-id': channel.id });
      const first = h('input', { type: 'checkbox', checked: served ? served.answers_first : true, 'data-testid': 'agent-first', 'data-id': channel.id });
      return { channel, serve, first };
    });

    const schema = () => engines.find((e) => e.name === engine.value)?.settings || [];
    /** The agent's stored settings count only while the engine they belong to is chosen. */
    const stored = () => (agent?.engine === engine.value ? agent : null);
    const configured = () => (stored() ? [...stored().secrets_set, ...Object.keys(stored().settings)] : []);

    function showSettings() {
      drawSettings(settings, t('agents.settings'), schema(), { values: stored()?.settings, configured: configured() }, 'agent-setting');
    }

    const form = h('form', {
      class: 'ch-form',
      'data-testid': 'agent-form',
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = '';
        const body = {
          name: name.value.trim(),
          engine: engine.value,
          languages: languages.value.split(',').map((l) => l.trim()).filter(Boolean),
          instructions: instructions.value,
          settings: readSettings(settings, schema(), configured()),
          channels: channelBoxes.filter((c) => c.serve.checked).map((c) => ({ channel_id: c.channel.id, answers_first: c.first.checked })),
          handoff: {
            keywords: parseKeywords(keywords.value),
            max_turns: maxTurns.value ? Number(maxTurns.value) : null,
            messages: agent?.handoff?.messages ?? {},
          },
          status: state.value,
        };
        // A new agent whose handoff rules were left blank gets the built-in ones (shown once saved).
        if (!agent && !keywords.value.trim() && !maxTurns.value) delete body.handoff;
        try {
          const saved = agent
            ? await api('PATCH', `/api/v1/agents/${agent.id}`, body)
            : await api('POST', '/api/v1/agents', body);
          status.textContent = t('agents.saved', { name: saved.name });
          await load();
          open(saved);
        } catch (failure) {
          error.textContent = describe(failure);
        }
      },
    },
    h('h2', {}, agent ? t('agents.edit_title', { name: agent.name }) : t('agents.new_title')),
    h('label', { class: 'cp-field' }, h('span', {}, t('agents.name')), name),
    h('label', { class: 'cp-field' }, h('span', {}, t('agents.engine')), engine),
    settings,
    h('label', { class: 'cp-field' }, h('span', {}, t('agents.languages')), languages),
    h('label', { class: 'cp-field' }, h('span', {}, t('agents.instructions')), instructions),
    h('fieldset', { class: 'ch-settings' }, h('legend', {}, t('agents.channels')),
      channelBoxes.length
        ? channelBoxes.map(({ channel, serve, first }) => h('div', { class: 'ag-channel' },
          h('label', { class: 'cp-check' }, serve, h('span', {}, `${channel.name} (${channelName(channel.kind)})`)),
          h('label', { class: 'cp-check' }, first, h('span', {}, t('agents.answers_first')))))
        : h('p', { class: 'cp-muted' }, t('agents.no_channels'))),
    h('fieldset', { class: 'ch-settings' }, h('legend', {}, t('agents.handoff')),
      h('label', { class: 'cp-field' }, h('span', {}, t('agents.keywords')), keywords,
        h('small', { class: 'cp-muted' }, t('agents.keywords_help'))),
      h('label', { class: 'cp-field' }, h('span', {}, t('agents.max_turns')), maxTurns)),
    h('label', { class: 'cp-field' }, h('span', {}, t('agents.status')), state),
    error,
    h('div', { class: 'ch-actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'agent-save' }, t('agents.save')),
      h('button', { type: 'button', class: 'cp-button', onclick: () => detail.replaceChildren() }, t('channels.cancel'))));
    engine.addEventListener('change', showSettings);
    showSettings();
    detail.replaceChildren(h('div', { class: 'ag-columns' },
      form,
      agent ? h('div', { class: 'ag-side' }, feedbackPane(agent), articles(agent), tryPane(agent)) : null));
    name.focus();
  }

  /** What operators and integrations thought of the agent's answers: the counts and the newest thumbs down. */
  function feedbackPane(agent) {
    const counts = h('p', { 'data-testid': 'agent-feedback-counts' }, '…');
    const rows = h('ul', { class: 'ch-list', 'data-testid': 'agent-feedback-list' });
    api('GET', `/api/v1/agents/${agent.id}/feedback?rating=down`)
      .then((feedback) => {
        counts.textContent = t('agents.feedback_counts', { up: feedback.up, down: feedback.down });
        rows.replaceChildren(...feedback.data.slice(0, 10).map((entry) => h('li', { class: 'ch-row', 'data-testid': 'agent-feedback-row' },
          h('a', { href: `#/c/${entry.conversation_id}` }, `👎 ${entry.reason ? t(`feedback.reason_${entry.reason}`) : ''}`),
          entry.comment ? h('span', { class: 'cp-muted' }, ` ${entry.comment}`) : null)));
      })
      .catch((failure) => { counts.textContent = describe(failure); });
    return h('section', { class: 'ag-feedback', 'data-testid': 'agent-feedback' }, h('h2', {}, t('agents.feedback')), counts, rows);
  }

  /** The agent's knowledge-base articles: list, add, delete. */
  function articles(agent) {
    const rows = h('ul', { class: 'ch-list' });
    const note = h('p', { class: 'cp-error', role: 'alert' });
    const title = h('input', { required: true, 'data-testid': 'article-title' });
    const body = h('textarea', { rows: 5, required: true, 'data-testid': 'article-body' });
    const language = h('input', { value: agent.languages[0] || '', size: 6, 'data-testid': 'article-language' });

    async function refresh() {
      const page = await api('GET', `/api/v1/agents/${agent.id}/articles?limit=100`);
      rows.replaceChildren(...page.data.map((article) => h('li', { class: 'ch-row', 'data-testid': 'article-row', 'data-id': article.id },
        h('span', { class: 'ch-text' }, h('strong', {}, article.title),
          h('span', { class: 'cp-muted' }, `${article.language || '—'} · ${article.body.slice(0, 90)}`)),
        h('button', {
          type: 'button',
          class: 'cp-button',
          'data-testid': 'article-delete',
          onclick: async () => {
            await api('DELETE', `/api/v1/agents/${agent.id}/articles/${article.id}`);
            await refresh();
          },
        }, t('agents.delete')))));
      if (!page.data.length) rows.append(h('li', { class: 'cp-muted' }, t('agents.no_articles')));
    }

    const form = h('form', {
      class: 'ch-form',
      'data-testid': 'article-form',
      onsubmit: async (event) => {
        event.preventDefault();
        note.textContent = '';
        try {
          await api('POST', `/api/v1/agents/${agent.id}/articles`,
            { title: title.value.trim(), body: body.value, language: language.value.trim() || null });
          title.value = '';
          body.value = '';
          await refresh();
        } catch (failure) {
          note.textContent = describe(failure);
        }
      },
    },
    h('label', { class: 'cp-field' }, h('span', {}, t('agents.article_title')), title),
    h('label', { class: 'cp-field' }, h('span', {}, t('agents.article_body')), body),
    h('label', { class: 'cp-field' }, h('span', {}, t('agents.article_language')), language),
    note,
    h('button', { type: 'submit', class: 'primary', 'data-testid': 'article-save' }, t('agents.add_article')));
    refresh().catch((failure) => (note.textContent = describe(failure)));
    return h('section', { class: 'ag-articles', 'data-testid': 'agent-articles' }, h('h2', {}, t('agents.articles')), rows, form);
  }

  /** A test chat: the question goes to the agent's engine, and its answer streams in as it is written. */
  function tryPane(agent) {
    const input = h('input', { placeholder: t('agents.try_placeholder'), 'data-testid': 'try-input' });
    const draft = h('p', { class: 'ag-draft', 'data-testid': 'try-draft', 'aria-live': 'polite' });
    const result = h('p', { class: 'cp-muted', 'data-testid': 'try-result' });
    let current = '';
    cleanups.push(events.on('message.delta', (delta) => {
      if (delta.draft_id === `try-${current}`) draft.textContent = delta.text;
    }));
    const form = h('form', {
      class: 'ag-try-form',
      onsubmit: async (event) => {
        event.preventDefault();
        const text = input.value.trim();
        if (!text) return;
        current = Math.random().toString(36).slice(2, 12);
        draft.textContent = '…';
        result.textContent = '';
        try {
          const answer = await api('POST', `/api/v1/agents/${agent.id}/try`, { text, draft_id: current });
          draft.textContent = answer.text;
          result.textContent = answer.outcome === 'answer'
            ? t('agents.try_answer')
            : t(`agents.try_${answer.outcome}`, { detail: answer.detail || answer.text });
        } catch (failure) {
          result.textContent = describe(failure);
        }
      },
    }, input, h('button', { type: 'submit', class: 'primary', 'data-testid': 'try-send' }, t('agents.try_send')));
    return h('section', { class: 'ag-try', 'data-testid': 'try-pane' }, h('h2', {}, t('agents.try_title')), form, draft, result);
  }

  load().catch((error) => (status.textContent = describe(error)));
  return () => {
    cleanups.forEach((unsubscribe) => unsubscribe());
    element.replaceChildren();
  };
}
