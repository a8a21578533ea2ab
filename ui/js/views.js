/**
 * The pages beside the inbox, one entry each: the hash they answer to, the navigation link's label and test id,
 * and `mount(element, context)`, which draws the page into its own container and returns the function that
 * unmounts it. The shell mounts a page when its hash is opened and unmounts it when another one is; `context` is
 * the shell's `{openConversation(id), refresh()}`.
 */

import { renderAddressBook } from './addressbook.js';
import { mountChannels } from './channels.js';
import { mountAgents } from './agents.js';
import { mountTeams } from './teams.js';
import { mountReports } from './reports.js';
import { mountQuickReplies } from './quickreplies.js';

export const VIEWS = [
  {
    hash: '#/contacts',
    label: 'app.nav_contacts',
    nav: 'nav-contacts',
    testid: 'address-book',
    mount: (element, context) => {
      renderAddressBook(element, context);
      return () => element.replaceChildren();
    },
  },
  { hash: '#/channels', label: 'app.nav_channels', nav: 'nav-channels', testid: 'channels', mount: mountChannels },
  { hash: '#/agents', label: 'app.nav_agents', nav: 'nav-agents', testid: 'agents', mount: mountAgents },
  { hash: '#/teams', label: 'app.nav_teams', nav: 'nav-teams', testid: 'teams', mount: mountTeams },
  { hash: '#/reports', label: 'app.nav_reports', nav: 'nav-reports', testid: 'reports', mount: mountReports },
  {
    hash: '#/quick-replies',
    label: 'app.nav_quick_replies',
    nav: 'nav-quick-replies',
    testid: 'quick-replies-settings',
    mount: mountQuickReplies,
  },
];
