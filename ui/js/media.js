/**
 * The media library dialog: upload by file picker or drag-and-drop, filter originals / AI-generated,
 * sort by date or format, select one or more files and "Proceed" to attach them.
 */

import { api, query, mediaUrl } from './api.js';
import { t, shortTime } from './i18n.js';
import { glyph } from './icons.js';
import { h } from './dom.js';

const SORTS = [
  ['-created_at', 'media.sort_newest'],
  ['created_at', 'media.sort_oldest'],
  ['content_type', 'media.sort_format'],
  ['-content_type', 'media.sort_format_desc'],
];

function size(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} kB`;
  return `${bytes} B`;
}

/** Opens the dialog; `onProceed(items)` receives the selected media objects (`key`, `content_type`, `filename`…). */
export function openMediaLibrary({ onProceed }) {
  const state = { origin: '', sort: '-created_at', cursor: null, loading: false, generation: 0 };
  const selected = new Map();

  const status = h('div', { class: 'media-status', role: 'status', 'data-testid': 'media-status' });
  const grid = h('div', {
    class: 'media-grid',
    role: 'listbox',
    'aria-multiselectable': 'true',
    'aria-label': t('media.media_library'),
    'data-testid': 'media-grid',
  });
  const sentinel = h('div', { class: 'media-sentinel', 'aria-hidden': 'true' });
  const count = h('span', { class: 'media-count', 'data-testid': 'media-selected-count' });
  const proceed = h(
    'button',
    { type: 'button', class: 'primary', disabled: true, 'data-testid': 'media-proceed', onclick: () => finish(true) },
    t('media.proceed'),
  );
  const fileInput = h('input', {
    type: 'file',
    multiple: true,
    class: 'visually-hidden',
    'data-testid': 'media-file-input',
    'aria-label': t('media.upload_files'),
    onchange: () => {
      upload([...fileInput.files]);
      fileInput.value = '';
    },
  });
  const dropzone = h(
    'div',
    {
      class: 'dropzone',
      'data-testid': 'media-dropzone',
      ondragover: (event) => {
        event.preventDefault();
        dropzone.classList.add('over');
      },
      ondragleave: () => dropzone.classList.remove('over'),
      ondrop: (event) => {
        event.preventDefault();
        dropzone.classList.remove('over');
        upload([...(event.dataTransfer?.files || [])]);
      },
    },
    h('span', { html: glyph('upload', 28) }),
    h('span', {}, t('media.drop_here'), ' '),
    h('label', { class: 'link' }, fileInput, t('media.choose_files')),
  );
  const originButtons = ['', 'original', 'ai_generated'].map((origin) =>
    h(
      'button',
      {
        type: 'button',
        class: 'chip',
        'data-testid': 'media-origin',
        'data-origin': origin,
        'aria-pressed': String(origin === state.origin),
        onclick: () => {
          state.origin = origin;
          for (const b of originButtons) b.setAttribute('aria-pressed', String(b.dataset.origin === origin));
          reload();
        },
      },
      t(origin ? `media.origin_${origin}` : 'media.origin_all'),
    ),
  );
  const sort = h(
    'select',
    {
      'aria-label': t('media.sort'),
      'data-testid': 'media-sort',
      onchange: () => {
        state.sort = sort.value;
        reload();
      },
    },
    SORTS.map(([value, key]) => h('option', { value }, t(key))),
  );

  const dialog = h(
    'dialog',
    {
      class: 'media-dialog',
      'aria-labelledby': 'media-title',
      'data-testid': 'media-library',
      onclose: () => dialog.remove(),
    },
    h(
      'header',
      { class: 'dialog-head' },
      h('h2', { id: 'media-title' }, t('media.media_library')),
      h('button', {
        type: 'button',
        class: 'icon-button',
        'aria-label': t('media.close'),
        'data-testid': 'media-close',
        html: glyph('close', 18),
        onclick: () => finish(false),
      }),
    ),
    dropzone,
    h(
      'div',
      { class: 'media-toolbar' },
      h('div', { class: 'chips', role: 'group', 'aria-label': t('media.origin') }, originButtons),
      h('label', { class: 'field inline' }, h('span', {}, t('media.sort')), sort),
    ),
    h('div', { class: 'media-scroll' }, grid, sentinel, status),
    h(
      'footer',
      { class: 'dialog-foot' },
      count,
      h('button', { type: 'button', 'data-testid': 'media-cancel', onclick: () => finish(false) }, t('media.cancel')),
      proceed,
    ),
  );
  document.body.append(dialog);
  dialog.showModal();

  const observer = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) load();
  });
  observer.observe(sentinel);

  function finish(accepted) {
    observer.disconnect();
    dialog.close();
    if (accepted && selected.size) onProceed([...selected.values()]);
  }

  function toggle(item, tile) {
    if (selected.has(item.key)) selected.delete(item.key);
    else selected.set(item.key, item);
    tile.setAttribute('aria-selected', String(selected.has(item.key)));
    count.textContent = selected.size ? t('media.selected', { count: selected.size }) : '';
    proceed.disabled = selected.size === 0;
  }

  function tile(item) {
    const name = item.filename || item.key.split('/').pop();
    const node = h(
      'button',
      {
        type: 'button',
        class: 'media-item',
        role: 'option',
        'aria-selected': String(selected.has(item.key)),
        'aria-label': name,
        'data-testid': 'media-item',
        'data-key': item.key,
        'data-origin': item.origin || '',
        onclick: () => toggle(item, node),
      },
      item.content_type.startsWith('image/')
        ? h('img', { src: mediaUrl(item.key), alt: '', loading: 'lazy', decoding: 'async' })
        : h('span', { class: 'media-icon', html: glyph('file', 36) }),
      h('span', { class: 'media-name' }, name),
      h('span', { class: 'media-info' }, `${item.content_type} · ${size(item.size)} · ${shortTime(item.created_at)}`),
    );
    return node;
  }

  function reload() {
    state.generation += 1;
    state.cursor = null;
    state.loading = false;
    grid.replaceChildren();
    load(true);
  }

  async function load(first = false) {
    if (state.loading || (!first && !state.cursor)) return;
    const mine = state.generation;
    state.loading = true;
    try {
      const params = query({ origin: state.origin, sort: state.sort, cursor: state.cursor });
      const page = await api('GET', `/api/v1/media${params}`);
      if (mine !== state.generation) return;
      grid.append(...page.data.map(tile));
      state.cursor = page.next_cursor || null;
      status.textContent = grid.children.length ? '' : t('media.no_media');
    } catch (error) {
      if (mine === state.generation) status.textContent = error.message;
    } finally {
      if (mine === state.generation) state.loading = false;
    }
  }

  async function upload(files) {
    for (const file of files) {
      status.textContent = t('media.uploading', { name: file.name });
      const form = new FormData();
      form.append('origin', 'original');
      form.append('file', file, file.name);
      try {
        const item = await api('POST', '/api/v1/media', form);
        const node = tile(item);
        grid.prepend(node);
        toggle(item, node);
        status.textContent = '';
      } catch (error) {
        status.textContent = t('media.upload_failed', { name: file.name, reason: error.message });
      }
    }
  }

  reload();
}
