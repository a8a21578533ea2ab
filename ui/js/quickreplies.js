/**
 * The quick replies page (`#/quick-replies`): the account's saved answers, a variant per language, each for the
 * whole account or one team or network, with their variables listed for whoever writes them.
 *
 * Test ids: quick-replies-page, quick-reply-list, quick-reply-row (data-id), quick-reply-add, quick-reply-form,
 * quick-reply-code, quick-reply-language, quick-reply-text, quick-reply-buttons, quick-reply-team,
 * quick-reply-kind, quick-reply-save, quick-reply-error.
 */

import { api, describeError as describe } from './api.js';
import { t } from './i18n.js';
import { h } from './dom.js';
import { channelName, CHANNEL_KINDS } from './icons.js';

/** Mounts the page in `element`; returns the function that unmounts it. */
export function mountQuickReplies(element) {
  let teams = [];
  const list = h('ul', { class: 'ch-list', 'data-testid': 'quick-reply-list' });
  const formSlot = h('div', { class: 'ch-form-slot' });
  const status = h('p', { class: 'ch-status', role: 'status' });
  element.replaceChildren(
    h('section', { class: 'ch-page', 'data-testid': 'quick-replies-page' },
      h('header', { class: 'ch-head' }, h('h1', {}, t('quick.title')),
        h('button', { type: 'button', class: 'primary', 'data-testid': 'quick-reply-add', onclick: () => openForm(null) }, t('quick.add'))),
      h('p', { class: 'cp-muted' }, t('quick.intro')),
      status,
      list,
      formSlot));

  async function load() {
    const [replies, teamList] = await Promise.all([api('GET', '/api/v1/quick-replies'), api('GET', '/api/v1/teams')]);
    teams = teamList.data;
    list.replaceChildren(...replies.data.map((reply) => {
      const scope = [
        reply.language || t('quick.any_language'),
        reply.team_id ? teams.find((team) => team.id === reply.team_id)?.name : null,
        reply.channel_kind ? channelName(reply.channel_kind) : null,
      ].filter(Boolean).join(' · ');
      return h('li', { class: 'ch-row', 'data-testid': 'quick-reply-row', 'data-id': reply.id },
        h('span', { class: 'ch-text' }, h('strong', {}, `/${reply.shortcode}`), h('span', { class: 'cp-muted' }, scope),
          h('span', {}, reply.text)),
        h('button', { type: 'button', class: 'cp-button', onclick: () => openForm(reply) }, t('quick.edit')),
        h('button', {
          type: 'button',
          class: 'cp-button',
          onclick: async () => {
            if (!window.confirm(t('quick.confirm_delete', { code: reply.shortcode }))) return;
            await api('DELETE', `/api/v1/quick-replies/${reply.id}`);
            await load();
          },
        }, t('quick.delete')));
    }));
    if (!replies.data.length) list.append(h('li', { class: 'cp-muted' }, t('quick.empty')));
  }

  function openForm(reply) {
    const error = h('p', { class: 'cp-error', role: 'alert', 'data-testid': 'quick-reply-error' });
    const code = h('input', { required: true, value: reply?.shortcode ?? '', placeholder: 'spedizione', 'data-testid': 'quick-reply-code' });
    const language = h('input', { value: reply?.language ?? '', placeholder: 'it, en…', 'data-testid': 'quick-reply-language' });
    const text = h('textarea', { required: true, rows: '4', 'data-testid': 'quick-reply-text' });
    text.value = reply?.text ?? '';
    const buttons = h('input', { value: (reply?.buttons ?? []).join(', '), 'data-testid': 'quick-reply-buttons' });
    const option = (value, label, selected) => h('option', { value, selected }, label);
    const team = h('select', { 'data-testid': 'quick-reply-team' },
      option('', t('quick.every_team'), !reply?.team_id),
      teams.map((each) => option(String(each.id), each.name, reply?.team_id === each.id)));
    const kind = h('select', { 'data-testid': 'quick-reply-kind' },
      option('', t('quick.every_channel'), !reply?.channel_kind),
      CHANNEL_KINDS.map((each) => option(each, channelName(each), reply?.channel_kind === each)));
    const field = (label, input, hint) =>
      h('label', { class: 'cp-field' }, h('span', {}, t(label)), input, hint ? h('small', { class: 'cp-muted' }, t(hint)) : null);
    const form = h('form', {
      class: 'ch-form',
      'data-testid': 'quick-reply-form',
      onsubmit: async (event) => {
        event.preventDefault();
        const body = {
          shortcode: code.value.trim(),
          language: language.value.trim() || null,
          text: text.value,
          buttons: buttons.value.split(',').map((label) => label.trim()).filter(Boolean),
          team_id: team.value ? Number(team.value) : null,
          channel_kind: kind.value || null,
        };
        try {
          if (reply) await api('PATCH', `/api/v1/quick-replies/${reply.id}`, body);
          else await api('POST', '/api/v1/quick-replies', body);
          status.textContent = t('quick.saved', { code: body.shortcode });
          formSlot.replaceChildren();
          await load();
        } catch (failure) {
          error.textContent = describe(failure);
        }
      },
    },
    h('h2', {}, reply ? t('quick.edit_title', { code: reply.shortcode }) : t('quick.new_title')),
    field('quick.code', code),
    field('quick.language', language, 'quick.language_hint'),
    field('quick.text', text, 'quick.variables'),
    field('quick.buttons', buttons, 'quick.buttons_hint'),
    field('quick.team', team),
    field('quick.channel', kind),
    error,
    h('div', { class: 'ch-actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'quick-reply-save' }, t('quick.save')),
      h('button', { type: 'button', class: 'cp-button', onclick: () => formSlot.replaceChildren() }, t('channels.cancel'))));
    formSlot.replaceChildren(form);
    code.focus();
  }

  load().catch((failure) => (status.textContent = describe(failure)));
  return () => element.replaceChildren();
}
