/**
 * Settings forms drawn from a schema (a channel kind's in `GET /api/v1/channel-kinds`, an engine's in
 * `GET /api/v1/agent-engines`): one labelled input per field. Secrets are write-only: the form shows which are set,
 * never their values, and leaves them unchanged unless a new value is typed.
 */

import { t } from './i18n.js';
import { h } from './dom.js';

const NUMBERS = ['count', 'fraction'];

/**
 * Fills `fieldset` with `fields`: `values` are the visible stored values, `configured` the names of the settings
 * that are set (secrets included); each input carries `data-testid` = `testid`, `data-name` and `data-secret`.
 */
export function drawSettings(fieldset, legend, fields, { values = {}, configured = [] }, testid) {
  fieldset.replaceChildren(h('legend', {}, legend),
    ...fields.map((field) => {
      const input = h('input', {
        name: field.name,
        type: field.secret ? 'password' : NUMBERS.includes(field.type) ? 'number' : 'text',
        step: field.type === 'fraction' ? 'any' : null,
        list: field.type === 'choice' ? `settings-options-${field.name}` : null,
        autocomplete: 'off',
        value: field.secret ? '' : values[field.name] ?? '',
        placeholder: field.secret && configured.includes(field.name) ? t('channels.secret_set') : '',
        'data-testid': testid,
        'data-name': field.name,
        'data-secret': String(field.secret),
      });
      return h('label', { class: 'cp-field' },
        h('span', {}, `${field.label}${field.required ? ' *' : ''}`),
        input,
        field.type === 'choice'
          ? h('datalist', { id: `settings-options-${field.name}` }, field.options.map((o) => h('option', { value: o })))
          : null,
        h('small', { class: 'cp-muted' }, field.help));
    }));
}

/** The settings typed in `fieldset`: secrets only when a new value was typed; emptied fields that were set, null. */
export function readSettings(fieldset, fields, configured = []) {
  const body = {};
  for (const field of fields) {
    const value = fieldset.querySelector(`[data-name="${field.name}"]`).value.trim();
    if (field.secret && !value) continue;
    if (!value) {
      if (configured.includes(field.name)) body[field.name] = null;
      continue;
    }
    body[field.name] = NUMBERS.includes(field.type) ? Number(value) : value;
  }
  return body;
}
