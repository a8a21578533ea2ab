/** TODO placeholder until the contacts engineer's right pane is merged: the contact's name and archive control. */

import { api } from './api.js';
import { h, contactLabel } from './dom.js';

/** Renders the right pane for `conversation`; `ctx.refresh()` reloads the conversation after a change. */
export function renderContactPane(element, conversation, ctx) {
  const archived = conversation.archived;
  element.replaceChildren(
    h('h2', {}, contactLabel(conversation.contact).primary),
    h(
      'button',
      {
        type: 'button',
        'data-testid': archived ? 'unarchive-button' : 'archive-button',
        onclick: async () => {
          await api('POST', `/api/v1/conversations/${conversation.id}/${archived ? 'unarchive' : 'archive'}`);
          ctx.refresh();
        },
      },
      archived ? 'Unarchive' : 'Archive',
    ),
  );
}
