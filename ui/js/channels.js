/**
 * The channels page (`#/channels`): the account's channels, and a form to connect or change one, drawn from each
 * network's settings schema (`GET /api/v1/channel-kinds`). Secrets are write-only: the form shows which are set,
 * never their values, and leaves them unchanged unless a new value is typed.
 *
 * Test ids: channels-page, channel-list, channel-row (data-id, data-kind), channel-edit, channel-delete,
 * channel-add, channel-form, channel-kind, channel-name, channel-address, channel-simulation,
 * channel-setting (data-name, data-secret), channel-save, channel-cancel, channel-error, channel-webhook-url.
 */

import { api, describeError as describe } from './api.js';
import { t } from './i18n.js';
import { h } from './dom.js';
import { channelIcon, channelName } from './icons.js';
import { drawSettings, readSettings } from './settings.js';

/** What the provider last said of the channel's launch (RBM agents), or nothing. */
function launchNotice(channel) {
  const launch = channel.notices?.launch;
  if (!launch?.state) return '';
  const state = String(launch.state).replace(/^LAUNCH_STATE_/, '').toLowerCase();
  const comment = launch.comment ? ` — ${launch.comment}` : '';
  return h('span', { class: 'cp-muted', 'data-testid': 'channel-launch' }, `${t('channels.launch', { state })}${comment}`);
}

/** How the channel's mailbox fares (email): the last complete read, or the error, and mails that could not be read. */
function mailboxNotice(channel) {
  const mailbox = channel.notices?.mailbox;
  if (!mailbox) return '';
  const failed = mailbox.failed_imports ? ` · ${t('channels.mailbox_failed', { count: mailbox.failed_imports })}` : '';
  const text = mailbox.error
    ? t('channels.mailbox_error', { error: mailbox.error })
    : t('channels.mailbox_synced', { at: mailbox.synced_at ? new Date(mailbox.synced_at).toLocaleString() : '—' });
  return h('span', { class: mailbox.error ? 'cp-error' : 'cp-muted', 'data-testid': 'channel-mailbox' }, `${text}${failed}`);
}

/** Mounts the page in `element`; returns the function that unmounts it. */
export function mountChannels(element) {
  let kinds = [];
  const list = h('ul', { class: 'ch-list', 'data-testid': 'channel-list' });
  const formSlot = h('div', { class: 'ch-form-slot' });
  const status = h('p', { class: 'ch-status', role: 'status' });
  const add = h('button', { type: 'button', class: 'primary', 'data-testid': 'channel-add', onclick: () => openForm(null) },
    t('channels.add'));
  element.replaceChildren(
    h('section', { class: 'ch-page', 'data-testid': 'channels-page' },
      h('header', { class: 'ch-head' }, h('h1', {}, t('channels.title')), add),
      status,
      list,
      formSlot));

  async function load() {
    const [kindList, channels] = await Promise.all([api('GET', '/api/v1/channel-kinds'), api('GET', '/api/v1/channels')]);
    kinds = kindList.data;
    list.replaceChildren(...channels.data.map(row));
    if (!channels.data.length) list.append(h('li', { class: 'cp-muted' }, t('channels.empty')));
  }

  function row(channel) {
    return h('li', { class: 'ch-row', 'data-testid': 'channel-row', 'data-id': channel.id, 'data-kind': channel.kind },
      h('span', { class: 'ch-icon', 'aria-hidden': 'true', html: channelIcon(channel.kind, { decorative: true }) }),
      h('span', { class: 'ch-text' },
        h('strong', {}, channel.name),
        h('span', { class: 'cp-muted' },
          `${channelName(channel.kind)} · ${channel.address}${channel.simulation ? ` · ${t('channels.simulation')}` : ''}`),
        launchNotice(channel),
        mailboxNotice(channel)),
      h('button', { type: 'button', class: 'cp-button', 'data-testid': 'channel-edit', onclick: () => openForm(channel) },
        t('channels.edit')),
      h('button', {
        type: 'button',
        class: 'cp-button',
        'data-testid': 'channel-delete',
        onclick: async () => {
          if (!window.confirm(t('channels.confirm_delete', { name: channel.name }))) return;
          try {
            await api('DELETE', `/api/v1/channels/${channel.id}`);
            status.textContent = t('channels.deleted', { name: channel.name });
            await load();
          } catch (error) {
            status.textContent = describe(error);
          }
        },
      }, t('channels.delete')));
  }

  /** The form for a new channel (`channel` null) or for changing one. */
  function openForm(channel) {
    const error = h('p', { class: 'cp-error', role: 'alert', 'data-testid': 'channel-error' });
    const kindSelect = h('select', { name: 'kind', 'data-testid': 'channel-kind', disabled: Boolean(channel) },
      kinds.map((kind) => h('option', { value: kind.kind, selected: channel?.kind === kind.kind }, channelName(kind.kind))));
    const name = h('input', { name: 'name', required: true, value: channel?.name ?? '', 'data-testid': 'channel-name' });
    const address = h('input', { name: 'address', required: true, value: channel?.address ?? '', 'data-testid': 'channel-address' });
    const simulation = h('input', { type: 'checkbox', 'data-testid': 'channel-simulation', checked: channel?.simulation ?? false });
    const settings = h('fieldset', { class: 'ch-settings' });
    const hook = h('p', { class: 'cp-muted', 'data-testid': 'channel-webhook-url' });

    const schema = () => kinds.find((k) => k.kind === kindSelect.value)?.settings || [];
    const configured = channel?.settings_configured || [];

    function showSettings() {
      const kind = kinds.find((k) => k.kind === kindSelect.value);
      const path = kind?.webhook_path?.replace('{channel}', channel ? String(channel.id) : t('channels.id_placeholder'));
      hook.textContent = path ? t('channels.webhook_url', { url: `${location.origin}/hooks/${path}` }) : '';
      hook.hidden = !path;
      drawSettings(settings, t('channels.settings'), schema(), { values: channel?.settings, configured }, 'channel-setting');
    }

    const form = h('form', {
      class: 'ch-form',
      'data-testid': 'channel-form',
      onsubmit: async (event) => {
        event.preventDefault();
        error.textContent = '';
        const body = { name: name.value.trim(), address: address.value.trim(), simulation: simulation.checked, settings: readSettings(settings, schema(), configured) };
        try {
          if (channel) await api('PATCH', `/api/v1/channels/${channel.id}`, body);
          else await api('POST', '/api/v1/channels', { kind: kindSelect.value, ...body });
          status.textContent = t('channels.saved', { name: body.name });
          formSlot.replaceChildren();
          await load();
        } catch (failure) {
          error.textContent = describe(failure);
        }
      },
    },
    h('h2', {}, channel ? t('channels.edit_title', { name: channel.name }) : t('channels.new_title')),
    h('label', { class: 'cp-field' }, h('span', {}, t('channels.kind')), kindSelect),
    h('label', { class: 'cp-field' }, h('span', {}, t('channels.name')), name),
    h('label', { class: 'cp-field' }, h('span', {}, t('channels.address')), address),
    h('label', { class: 'cp-check' }, simulation, h('span', {}, t('channels.simulation_label'))),
    hook,
    settings,
    error,
    h('div', { class: 'ch-actions' },
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'channel-save' }, t('channels.save')),
      h('button', { type: 'button', class: 'cp-button', 'data-testid': 'channel-cancel', onclick: () => formSlot.replaceChildren() },
        t('channels.cancel'))));
    kindSelect.addEventListener('change', showSettings);
    showSettings();
    formSlot.replaceChildren(form);
    name.focus();
  }

  load().catch((error) => (status.textContent = describe(error)));
  return () => element.replaceChildren();
}
