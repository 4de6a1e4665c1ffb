// A message's page: the views as tabs (WAI-ARIA tabs: arrows, Home/End move between them)
// and the delete button. Without this script every view is shown, one after another.

import { $ } from './dom.js';
import { send } from './inbox.js';

function wireTabs() {
  const list = document.querySelector('[role="tablist"]');
  const tabs = [...list.querySelectorAll('[role="tab"]')];
  const choose = (tab, focus) => {
    for (const other of tabs) {
      const selected = other === tab;
      other.setAttribute('aria-selected', String(selected));
      other.tabIndex = selected ? 0 : -1;
      $(other.getAttribute('aria-controls')).hidden = !selected;
    }
    if (focus) tab.focus();
    history.replaceState(null, '', `#${tab.id.replace(/^tab-/, '')}`);
  };
  list.addEventListener('click', (ev) => {
    const tab = ev.target.closest('[role="tab"]');
    if (tab) choose(tab, false);
  });
  list.addEventListener('keydown', (ev) => {
    const at = tabs.indexOf(document.activeElement);
    const moves = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 };
    if (at === -1 || !(ev.key in moves)) return;
    ev.preventDefault();
    choose(tabs[(moves[ev.key] + tabs.length) % tabs.length], true);
  });
  list.hidden = false;
  const wanted = $(`tab-${window.location.hash.slice(1)}`);
  choose(tabs.includes(wanted) ? wanted : tabs[0], false);
}

function wireDelete() {
  const root = $('message');
  $('delete-message').addEventListener('click', async () => {
    if (!window.confirm('Delete this message from the sandbox inbox?')) return;
    try {
      await send(`/api/sandbox/messages/${encodeURIComponent(root.dataset.id)}`, 'DELETE');
      window.location.assign(root.dataset.inbox);
    } catch (err) {
      $('message-status').textContent = `Not deleted: ${err.message}`;
    }
  });
}

if ($('message')) {
  wireTabs();
  wireDelete();
}
