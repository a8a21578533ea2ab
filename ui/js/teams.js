/**
 * The teams page (`#/teams`): the operators with their availability, capacity and open conversations, and the
 * teams (queues) whose members take their channels' waiting conversations in turn.
 *
 * Test ids: teams-page, presence-list, presence-row (data-id, data-availability), presence-capacity, team-list,
 * team-row (data-id), team-add, team-form, team-name, team-member (data-id), team-channel (data-id), team-save,
 * team-error.
 */

import { api, describeError as describe } from './api.js';
import { t } from './i18n.js';
import { h } from './dom.js';
import { channelName } from './icons.js';

/** Mounts the page in `element`; returns the function that unmounts it. */
export function mountTeams(element) {
  let operators = [];
  let channels = [];
  const presence = h('ul', { class: 'ch-list', 'data-testid': 'presence-list' });
  const teams = h('ul', { class: 'ch-list', 'data-testid': 'team-list' });
  const formSlot = h('div', { class: 'ch-form-slot' });
  const status = h('p', { class: 'ch-status', role: 'status' });
  element.replaceChildren(
    h('section', { class: 'ch-page', 'data-testid': 'teams-page' },
      h('header', { class: 'ch-head' }, h('h1', {}, t('teams.title')),
        h('button', { type: 'button', class: 'primary', 'data-testid': 'team-add', onclick: () => openForm(null) }, t('teams.add'))),
      h('p', { class: 'cp-muted' }, t('teams.intro')),
      status,
      h('h2', {}, t('teams.operators')),
      presence,
      h('h2', {}, t('teams.teams')),
      teams,
      formSlot));

  async function load() {
    const [people, channelList, teamList] = await Promise.all([
      api('GET', '/api/v1/operators/presence'),
      api('GET', '/api/v1/channels'),
      api('GET', '/api/v1/teams'),
    ]);
    operators = people.data;
    channels = channelList.data;
    presence.replaceChildren(...operators.map((operator) => {
      const capacity = h('input', {
        type: 'number',
        min: 0,
        max: 1000,
        value: operator.capacity,
        'aria-label': t('teams.capacity_of', { name: operator.name }),
        'data-testid': 'presence-capacity',
        onchange: async () => {
          try {
            await api('PUT', `/api/v1/operators/${operator.operator_id}/presence`, { capacity: Number(capacity.value) });
            status.textContent = t('teams.saved', { name: operator.name });
          } catch (failure) {
            status.textContent = describe(failure);
          }
        },
      });
      return h('li', { class: 'ch-row', 'data-testid': 'presence-row', 'data-id': operator.operator_id, 'data-availability': operator.availability },
        h('span', { class: `presence-dot ${operator.availability}`, 'aria-hidden': 'true' }),
        h('span', { class: 'ch-text' }, h('strong', {}, operator.name),
          h('span', { class: 'cp-muted' }, `${t(`app.availability_${operator.availability}`)} · ${t('teams.open', { count: operator.open_conversations })}`)),
        h('label', { class: 'cp-check' }, h('span', {}, t('teams.capacity')), capacity));
    }));
    teams.replaceChildren(...teamList.data.map((team) => h('li', { class: 'ch-row', 'data-testid': 'team-row', 'data-id': team.id },
      h('span', { class: 'ch-text' }, h('strong', {}, team.name),
        h('span', { class: 'cp-muted' }, [
          team.operator_ids.map((id) => operators.find((o) => o.operator_id === id)?.name).filter(Boolean).join(', ') || t('teams.no_members'),
          team.channel_ids.map((id) => channels.find((c) => c.id === id)?.name).filter(Boolean).join(', ') || t('teams.no_channels'),
        ].join(' · '))),
      h('button', { type: 'button', class: 'cp-button', onclick: () => openForm(team) }, t('teams.edit')),
      h('button', {
        type: 'button',
        class: 'cp-button',
        onclick: async () => {
          if (!window.confirm(t('teams.confirm_delete', { name: team.name }))) return;
          await api('DELETE', `/api/v1/teams/${team.id}`);
          await load();
        },
      }, t('teams.delete')))));
    if (!teamList.data.length) teams.append(h('li', { class: 'cp-muted' }, t('teams.empty')));
  }

  function openForm(team) {
    const error = h('p', { class: 'cp-error', role: 'alert', 'data-testid': 'team-error' });
    const name = h('input', { required: true, value: team?.name ?? '', 'data-testid': 'team-name' });
    const members = operators.map((operator) => ({
      id: operator.operator_id,
      box: h('input', { type: 'checkbox', checked: Boolean(team?.operator_ids.includes(operator.operator_id)), 'data-testid': 'team-member', 'data-id': operator.operator_id }),
      label: operator.name,
    }));
    const served = channels.map((channel) => ({
      id: channel.id,
      box: h('input', { type: 'checkbox', checked: Boolean(team?.channel_ids.includes(channel.id)), 'data-testid': 'team-channel', 'data-id': channel.id }),
      label: `${channel.name} (${channelName(channel.kind)})`,
    }));
    const form = h('form', {
      class: 'ch-form',
      'data-testid': 'team-form',
      onsubmit: async (event) => {
        event.preventDefault();
        const body = {
          name: name.value.trim(),
          operator_ids: members.filter((m) => m.box.checked).map((m) => m.id),
          channel_ids: served.filter((c) => c.box.checked).map((c) => c.id),
        };
        try {
          if (team) await api('PATCH', `/api/v1/teams/${team.id}`, body);
          else await api('POST', '/api/v1/teams', body);
          status.textContent = t('teams.saved', { name: body.name });
          formSlot.replaceChildren();
          await load();
        } catch (failure) {
          error.textContent = describe(failure);
        }
      },
    },
    h('h2', {}, team ? t('teams.edit_title', { name: team.name }) : t('teams.new_title')),
    h('label', { class: 'cp-field' }, h('span', {}, t('teams.name')), name),
    h('fieldset', { class: 'ch-settings' }, h('legend', {}, t('teams.members')),
      members.map((m) => h('label', { class: 'cp-check' }, m.box, h('span', {}, m.label)))),
    h('fieldset', { class: 'ch-settings' }, h('legend', {}, t('teams.channels')),
      served.map((c) => h('label', { class: 'cp-check' }, c.box, h('span', {}, c.label)))),
    error,
    h('div', { class: 'ch-actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'team-save' }, t('teams.save')),
      h('button', { type: 'button', class: 'cp-button', onclick: () => formSlot.replaceChildren() }, t('channels.cancel'))));
    formSlot.replaceChildren(form);
    name.focus();
  }

  load().catch((error) => (status.textContent = describe(error)));
  return () => element.replaceChildren();
}
