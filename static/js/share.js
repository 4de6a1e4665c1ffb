// The share panel's links: one entry per session of this page, newest first, so reconnecting
// does not lose the links of the session before. Server text goes in with textContent (el).

import { el } from './dom.js';

const link = (href, label, field) => el('p', { class: 'share-link' }, el('span', { class: 'muted' }, label),
  el('a', { href, target: '_blank', rel: 'noopener', data: { link: field } }, href));

// A "session" frame's view and edit links, put first in ``list``.
export function addSessionLinks(list, f) {
  const view = new URL(`/t/${encodeURIComponent(f.transcript)}`, location.href).href;
  const edit = `${view}?edit=${encodeURIComponent(f.edit_token)}`;
  const when = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
  const target = f.target?.label || f.target?.name || '';
  list.prepend(el('li', { class: 'share-session', data: { transcript: f.transcript } },
    el('p', { class: 'share-title' }, el('strong', {}, `Session at ${when}`), target ? ` — ${target}` : ''),
    link(view, 'View (anyone with the link): ', 'view'),
    link(edit, 'Edit and annotate (keep it to yourself): ', 'edit')));
}
