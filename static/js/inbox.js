// The sandbox inbox page: live list (polls /api/sandbox/messages with If-None-Match every
// few seconds; docs/api.md), search as you type, delete one message or all. Every value
// from a message goes in with textContent.

import { $, el } from './dom.js';

const POLL_MS = 2000;
const API = '/api/sandbox/messages';

// A write with the CSRF token the page was rendered with (docs/security.md).
export async function send(path, method) {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  const response = await fetch(path, { method, headers: csrf ? { 'X-CSRFToken': csrf } : {} });
  if (!response.ok && response.status !== 404) throw new Error(`the server answered ${response.status}`);
  return response.status;
}

const link = (text, href) => el('a', { href }, text);

class Inbox {
  constructor() {
    this.etag = null;
    this.known = new Set([...document.querySelectorAll('#messages tr[data-id]')].map((r) => r.dataset.id));
    this.q = $('inbox-q').value;
    for (const row of document.querySelectorAll('#messages tr[data-id]')) this.addDelete(row, row.dataset.id);
    $('inbox-search').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.search($('inbox-q').value);
    });
    $('inbox-q').addEventListener('input', () => {
      clearTimeout(this.typing);
      this.typing = setTimeout(() => this.search($('inbox-q').value), 250);
    });
    $('delete-all').addEventListener('click', () => this.deleteAll());
    $('live').addEventListener('change', () => this.schedule());
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    if ($('live').checked) this.timer = setTimeout(() => this.refresh().finally(() => this.schedule()), POLL_MS);
  }

  async refresh(announce = true) {
    if (document.hidden && announce) return;
    const headers = this.etag ? { 'If-None-Match': this.etag } : {};
    const q = this.q.trim();
    const response = await fetch(`${API}${q ? `?q=${encodeURIComponent(q)}` : ''}`, { headers }).catch(() => null);
    if (!response || response.status === 304 || !response.ok || this.q.trim() !== q) return;
    this.etag = response.headers.get('ETag');
    const messages = await response.json();
    if (this.q.trim() !== q) return; // the search changed while this answer was on its way
    const fresh = messages.filter((m) => !this.known.has(m.id));
    this.render(messages, new Set(fresh.map((m) => m.id)));
    if (announce && fresh.length) {
      $('inbox-status').textContent = fresh.length === 1
        ? `New message: ${fresh[0].subject || '(no subject)'}`
        : `${fresh.length} new messages.`;
    }
    this.known = new Set(messages.map((m) => m.id));
  }

  search(q) {
    this.q = q;
    const url = new URL(window.location.href);
    if (q.trim()) url.searchParams.set('q', q.trim());
    else url.searchParams.delete('q');
    history.replaceState(null, '', url);
    this.etag = null;
    this.known = new Set();
    this.refresh(false).then(() => {
      const count = document.querySelectorAll('#messages tr[data-id]').length;
      const words = count === 1 ? '1 message matches' : `${count} messages match`;
      $('inbox-status').textContent = q.trim() ? `${words} “${q.trim()}”.` : '';
    });
  }

  render(messages, fresh) {
    const rows = messages.map((m) => {
      const row = el('tr');
      row.dataset.id = m.id;
      if (fresh.has(m.id) && this.known.size) row.className = 'new';
      const href = `/sandbox/${encodeURIComponent(m.id)}`;
      const subject = el('td');
      subject.append(link(m.subject || '(no subject)', href));
      if (m.attachments) subject.append(' ', el('span', { class: 'clip' }, `${m.attachments} attachment${m.attachments > 1 ? 's' : ''}`));
      const received = el('td');
      received.append(link(m.received_at.replace('T', ' ').replace('Z', ''), href));
      row.append(received, el('td', {}, m.from_header || m.mail_from || '<>'),
        el('td', {}, m.to_header || m.rcpt_tos.join(', ')), subject, el('td', { class: 'num' }, `${m.size} B`),
        el('td', { class: 'actions' }));
      this.addDelete(row, m.id);
      return row;
    });
    if (!rows.length) {
      const words = this.q.trim() ? `No message matches “${this.q.trim()}”.` : 'No messages yet. Send one from the console.';
      const row = el('tr', { class: 'empty-row' }, el('td', { class: 'empty', colSpan: 6 }, words));
      rows.push(row);
    }
    document.querySelector('#messages tbody').replaceChildren(...rows);
  }

  addDelete(row, id) {
    const button = el('button', { type: 'button', class: 'secondary' }, 'Delete');
    const subject = row.querySelectorAll('td')[3]?.querySelector('a')?.textContent || 'this message';
    button.setAttribute('aria-label', `Delete “${subject}”`);
    button.addEventListener('click', async () => {
      try {
        await send(`${API}/${encodeURIComponent(id)}`, 'DELETE');
        row.remove();
        this.known.delete(id);
        $('inbox-status').textContent = `Deleted “${subject}”.`;
        if (!document.querySelector('#messages tr[data-id]')) this.render([], new Set());
      } catch (err) {
        $('inbox-status').textContent = `Not deleted: ${err.message}`;
      }
    });
    row.querySelector('.actions').append(button);
  }

  async deleteAll() {
    if (!window.confirm('Delete every message in the sandbox inbox?')) return;
    try {
      await send(API, 'DELETE');
      this.known = new Set();
      this.render([], new Set());
      $('inbox-status').textContent = 'Every message was deleted.';
    } catch (err) {
      $('inbox-status').textContent = `Not deleted: ${err.message}`;
    }
  }
}

if ($('inbox')) window.playgroundInbox = new Inbox();
