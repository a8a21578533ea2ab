/** The address book page (`#/contacts`): search, add, edit, delete and merge contacts. */

import { api } from './api.js';
import { t } from './i18n.js';
import { h as el } from './dom.js';
import { avatar, describeError, formValues, uid } from './contact.js';

const PAGE = 50;

/** The best label for a contact in lists: its name, else its phone or email. */
function label(contact) {
  return contact.name || contact.phone || contact.email || t('book.unnamed');
}

/** Renders the address book into `element`; `ctx` is the shell's context (unused by this page). */
export function renderAddressBook(element) {
  const state = { query: '', cursor: null, contacts: [], selected: new Map(), token: 0 };
  const status = el('p', { class: 'ab-status', role: 'status', 'data-testid': 'addressbook-status' });
  const error = el('p', { class: 'cp-error', role: 'alert', 'data-testid': 'addressbook-error' });
  const formPanel = el('div', { class: 'ab-form-panel' });
  const duplicates = el('div', { 'data-testid': 'duplicates-body' });
  const mergePanel = el('div', { class: 'ab-merge-panel', 'data-testid': 'merge-selected' });
  const list = el('ul', { class: 'ab-list', 'data-testid': 'contact-list' });
  const more = el('button', {
    type: 'button', class: 'cp-button', hidden: true, 'data-testid': 'contacts-more', onclick: () => loadList(false),
  }, t('book.more'));
  let debounce;
  const search = el('input', {
    type: 'search',
    name: 'q',
    placeholder: t('book.search_hint'),
    autocomplete: 'off',
    'data-testid': 'contact-search',
    oninput(event) {
      clearTimeout(debounce);
      const query = event.currentTarget.value.trim();
      debounce = setTimeout(() => {
        state.query = query;
        loadList(true);
      }, 250);
    },
  });
  const duplicatesId = uid('ab-dup');
  const listId = uid('ab-list');
  const addButton = el('button', {
    type: 'button', class: 'cp-primary', 'data-testid': 'contact-add-button', onclick: () => openForm(null),
  }, t('book.add'));

  element.classList.add('ab');
  element.replaceChildren(
    el('header', { class: 'ab-head' }, el('h1', {}, t('book.title')), addButton),
    el('form', { role: 'search', class: 'ab-search', onsubmit: (event) => event.preventDefault() },
      el('label', { class: 'cp-field' }, el('span', {}, t('book.search')), search)),
    status,
    error,
    formPanel,
    el('section', { class: 'ab-section', 'aria-labelledby': duplicatesId, 'data-testid': 'duplicates' },
      el('h2', { id: duplicatesId }, t('book.duplicates')), duplicates),
    mergePanel,
    el('section', { class: 'ab-section', 'aria-labelledby': listId },
      el('h2', { id: listId }, t('book.contacts')), list, more),
  );

  /** Runs a request, announcing failures; resolves to its result, or undefined after a failure. */
  async function attempt(request) {
    try {
      return await request();
    } catch (failure) {
      error.textContent = describeError(failure);
      return undefined;
    }
  }

  /** Loads the first page of the current search (`reset`) or the next page. */
  async function loadList(reset) {
    state.token += 1;
    const token = state.token;
    const params = new URLSearchParams({ limit: String(PAGE) });
    if (state.query) params.set('q', state.query);
    if (!reset && state.cursor) params.set('cursor', state.cursor);
    const page = await attempt(() => api('GET', `/api/v1/contacts?${params}`));
    if (!page || token !== state.token) return;
    state.contacts = reset ? page.data : [...state.contacts, ...page.data];
    state.cursor = page.next_cursor;
    more.hidden = !page.next_cursor;
    drawList();
  }

  /** Loads the duplicate suggestions; the section says so when there are none. */
  async function loadDuplicates() {
    const found = await attempt(() => api('GET', '/api/v1/contacts/duplicates'));
    const pairs = found?.data ?? [];
    duplicates.replaceChildren(pairs.length === 0
      ? el('p', { class: 'cp-muted' }, t('book.no_duplicates'))
      : el('ul', { class: 'ab-pairs' }, pairs.map((pair) => el('li', {}, mergeChoice(pair.reason, pair.contacts)))));
  }

  function reload() {
    loadList(true);
    loadDuplicates();
  }

  /** Two contacts side by side, each with a button keeping it and merging the other into it. */
  function mergeChoice(reason, [a, b]) {
    const card = (keep, other) => el('div', { class: 'ab-card', 'data-contact-id': String(keep.id) },
      avatar(keep),
      el('div', { class: 'ab-card-text' },
        el('strong', {}, label(keep)),
        keep.phone ? el('span', {}, keep.phone) : null,
        keep.email ? el('span', {}, keep.email) : null),
      el('button', {
        type: 'button',
        class: 'cp-button',
        'data-testid': 'merge-keep',
        'data-contact-id': String(keep.id),
        'aria-label': t('book.keep_label', { keep: label(keep), other: label(other) }),
        onclick: () => merge(keep, other),
      }, t('book.keep')));
    return el('div', { class: 'ab-pair', 'data-testid': 'duplicate-pair', 'data-reason': reason },
      el('p', { class: 'ab-reason' }, t(`book.reason.${reason}`)),
      el('div', { class: 'ab-cards' }, card(a, b), card(b, a)));
  }

  /** Clears the previous outcome before an operator's action. */
  function clearMessages() {
    error.textContent = '';
    status.textContent = '';
  }

  async function merge(keep, other) {
    clearMessages();
    const merged = await attempt(() => api('POST', `/api/v1/contacts/${keep.id}/merge`, { contact_id: other.id }));
    if (!merged) return;
    state.selected.clear();
    drawMergePanel();
    status.textContent = t('book.merged', { name: label(merged) });
    search.focus();
    reload();
  }

  function drawMergePanel() {
    const chosen = [...state.selected.values()];
    const id = uid('ab-merge');
    mergePanel.replaceChildren(chosen.length === 0 ? '' : el('section', { class: 'ab-section', 'aria-labelledby': id },
      el('h2', { id }, t('book.merge_selected')),
      chosen.length === 2 ? mergeChoice('selected', chosen) : el('p', { class: 'cp-muted' }, t('book.select_two'))));
  }

  function drawList() {
    list.replaceChildren(...(state.contacts.length === 0
      ? [el('li', { class: 'cp-muted' }, t('book.empty'))]
      : state.contacts.map(row)));
  }

  /** One contact: select for merging, name, phone, email, edit and delete (delete asks first). */
  function row(contact) {
    const name = label(contact);
    const actions = el('div', { class: 'ab-actions' });
    const showActions = () => actions.replaceChildren(
      el('button', {
        type: 'button',
        class: 'cp-button',
        'aria-label': t('book.edit_label', { name }),
        'data-testid': 'contact-edit',
        onclick: () => openForm(contact),
      }, t('book.edit')),
      el('button', {
        type: 'button',
        class: 'cp-button ab-danger',
        'aria-label': t('book.delete_label', { name }),
        'data-testid': 'contact-delete',
        onclick: askDelete,
      }, t('book.delete')));
    function askDelete() {
      const confirm = el('button', {
        type: 'button',
        class: 'cp-button ab-danger',
        'data-testid': 'contact-delete-confirm',
        async onclick() {
          clearMessages();
          if (await attempt(() => api('DELETE', `/api/v1/contacts/${contact.id}`)) === undefined) {
            showActions();
            actions.querySelector('[data-testid="contact-delete"]')?.focus();
            return;
          }
          state.selected.delete(contact.id);
          drawMergePanel();
          status.textContent = t('book.deleted', { name });
          search.focus();
          reload();
        },
      }, t('book.confirm'));
      actions.replaceChildren(
        el('span', {}, t('book.confirm_delete', { name })),
        confirm,
        el('button', {
          type: 'button',
          class: 'cp-button',
          'data-testid': 'contact-delete-cancel',
          onclick() {
            showActions();
            actions.querySelector('[data-testid="contact-delete"]')?.focus();
          },
        }, t('book.cancel')));
      confirm.focus();
    }
    showActions();
    return el('li', { class: 'ab-row', 'data-testid': 'contact-row', 'data-contact-id': String(contact.id) },
      el('input', {
        type: 'checkbox',
        checked: state.selected.has(contact.id),
        'aria-label': t('book.select', { name }),
        'data-testid': 'contact-select',
        onchange(event) {
          if (event.currentTarget.checked) state.selected.set(contact.id, contact);
          else state.selected.delete(contact.id);
          drawMergePanel();
        },
      }),
      avatar(contact),
      el('div', { class: 'ab-row-text' },
        el('span', { class: 'ab-name', 'data-testid': 'contact-row-name' }, name,
          contact.in_address_book ? null : el('span', { class: 'cp-badge' }, t('book.not_saved'))),
        contact.phone ? el('span', { class: 'ab-detail' }, contact.phone) : null,
        contact.email ? el('span', { class: 'ab-detail' }, contact.email) : null),
      actions);
  }

  /** Opens the add form (`contact` null) or the edit form; saving puts the contact in the address book. */
  function openForm(contact) {
    const id = uid('ab-form');
    const returnFocus = document.activeElement;
    const close = () => {
      formPanel.replaceChildren();
      (returnFocus?.isConnected ? returnFocus : addButton).focus();
    };
    const input = (name, type, testid) => el('input', {
      name, type, autocomplete: 'off', value: contact?.[name] ?? '', 'data-testid': testid,
    });
    const form = el('form', {
      class: 'ab-form',
      'aria-labelledby': id,
      'data-testid': 'contact-form',
      async onsubmit(event) {
        event.preventDefault();
        clearMessages();
        const values = formValues(event.currentTarget);
        const saved = await attempt(() => (contact
          ? api('PATCH', `/api/v1/contacts/${contact.id}`, { ...values, in_address_book: true })
          : api('POST', '/api/v1/contacts', values)));
        if (!saved) return;
        close();
        status.textContent = t('book.saved', { name: label(saved) });
        reload();
      },
      onkeydown(event) {
        if (event.key === 'Escape') close();
      },
    },
    el('h2', { id }, t(contact ? 'book.edit_title' : 'book.new_title')),
    el('label', { class: 'cp-field' }, el('span', {}, t('contact.name')), input('name', 'text', 'contact-form-name')),
    el('label', { class: 'cp-field' }, el('span', {}, t('contact.phone')), input('phone', 'tel', 'contact-form-phone')),
    el('label', { class: 'cp-field' }, el('span', {}, t('contact.email')), input('email', 'email', 'contact-form-email')),
    el('div', { class: 'ab-actions' },
      el('button', { type: 'submit', class: 'cp-primary', 'data-testid': 'contact-form-save' }, t('book.save')),
      el('button', { type: 'button', class: 'cp-button', 'data-testid': 'contact-form-cancel', onclick: close },
        t('book.cancel'))));
    formPanel.replaceChildren(form);
    form.querySelector('input')?.focus();
  }

  reload();
}
