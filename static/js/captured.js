// The Captured page: every session the sandbox served, newest first, live. It follows
// GET /api/captured/events (server-sent events, docs/api-captured.md): a snapshot of the
// newest sessions, then started / entry / ended with each session's summary, merged into the
// table by id. EventSource reconnects by itself when the server ends a stream (it does every
// few minutes) and the next snapshot fills in whatever happened meanwhile. Every value from a
// session (a client's EHLO name is anyone's text) goes in with textContent.

import { $, el } from './dom.js';

const EVENTS = '/api/captured/events';
const API = '/api/captured';

const count = (value) => (Array.isArray(value) ? value.length : Number(value) || 0);
const STATUS = { live: 'live', closed: 'closed', interrupted: 'interrupted' };

// The client's address and port, the port allowed onto its own line (a narrow screen).
function client(address) {
  const at = (address || '').lastIndexOf(':');
  if (at < 0) return el('code', {}, address || '—');
  return el('code', {}, address.slice(0, at), el('wbr'), address.slice(at));
}

export function sessionRow(s) {
  const started = el('time', { datetime: s.created_at || '', title: (s.created_at || '').slice(0, 10) },
    (s.created_at || '').slice(11, 19));
  const ehlo = s.ehlo ? el('code', {}, s.ehlo) : el('span', { class: 'muted' }, 'none sent');
  const status = STATUS[s.status] || String(s.status || '');
  // A session still going (or cut off) shows its state; an ended one how it ended.
  const outcome = status === 'closed' ? (s.outcome || 'closed')
    : el('span', { class: `state-badge status-${status}` }, status);
  return el('tr', { data: { id: s.id, status } },
    el('td', {}, el('a', { class: 'open', href: `/t/${encodeURIComponent(s.id)}` }, started)),
    el('td', { class: 'client' }, client(s.client)),
    el('td', { class: 'ehlo' }, ehlo),
    el('td', { class: 'outcome' }, outcome),
    el('td', { class: 'num' }, String(count(s.warnings))),
    el('td', { class: 'num' }, String(count(s.messages))));
}

class Captured {
  constructor(root) {
    this.root = root;
    this.pageSize = Number(root.dataset.pageSize) || 50;
    this.sessions = new Map(); // id -> summary, for what the table shows
    this.older = []; // pages fetched with "Older sessions", kept below the live part
    this.source = null;
    $('live').addEventListener('change', () => (this.follow()));
    $('older').addEventListener('click', () => this.loadOlder());
    this.follow();
  }

  follow() {
    this.source?.close();
    this.source = null;
    if (!$('live').checked) {
      this.state('Live updates are off.');
      return;
    }
    const source = new EventSource(EVENTS);
    this.source = source;
    source.addEventListener('open', () => this.state('Live: new sessions appear as they start.'));
    source.addEventListener('error', () => {
      if (source.readyState === EventSource.CLOSED) this.state('Live updates stopped; reload the page.');
      else this.state('Reconnecting…');
    });
    source.addEventListener('snapshot', (ev) => this.snapshot(JSON.parse(ev.data).sessions));
    for (const name of ['started', 'entry', 'ended']) {
      source.addEventListener(name, (ev) => this.update(name, JSON.parse(ev.data)));
    }
  }

  state(text) {
    $('stream-state').textContent = text;
    this.root.dataset.stream = this.source && this.source.readyState === EventSource.OPEN ? 'open' : 'closed';
  }

  snapshot(sessions) {
    this.sessions = new Map(sessions.map((s) => [s.id, s]));
    this.render();
    $('older').hidden = sessions.length < this.pageSize && !this.older.length;
  }

  update(name, { id, summary }) {
    if (!summary || !id) return;
    const known = this.sessions.has(id);
    this.sessions.set(id, summary);
    if (!known) {
      // Newest first: a new session goes on top, whatever order events came in.
      this.sessions = new Map([...this.sessions.entries()]
        .sort(([, a], [, b]) => (b.created_at || '').localeCompare(a.created_at || '')));
    }
    this.queueRender();
    if (name === 'started' && !known) this.announce(`New session from ${summary.client || 'a client'}.`);
    if (name === 'ended') {
      const warnings = count(summary.warnings);
      this.announce(`Session from ${summary.client || 'a client'} ended: ${summary.outcome || summary.status}`
        + (warnings ? `, ${warnings} warning${warnings === 1 ? '' : 's'}.` : '.'));
    }
  }

  // A busy sandbox sends many events a second: the table is redrawn once per frame at most.
  queueRender() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  announce(text) {
    $('captured-status').textContent = text;
  }

  render() {
    const ids = new Set(this.sessions.keys());
    const rows = [...this.sessions.values(), ...this.older.filter((s) => !ids.has(s.id))].map(sessionRow);
    if (!rows.length) {
      rows.push(el('tr', { class: 'empty-row' }, el('td', { colSpan: 6, class: 'empty' },
        'No session captured yet. Send a message to the sandbox with any client and it appears here.')));
    }
    $('sessions').tBodies[0].replaceChildren(...rows);
  }

  async loadOlder() {
    const all = [...this.sessions.values(), ...this.older];
    const before = all.at(-1)?.id;
    const query = new URLSearchParams({ limit: String(this.pageSize) });
    if (before) query.set('before', before);
    try {
      const response = await fetch(`${API}?${query}`);
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const page = await response.json();
      this.older.push(...page.sessions);
      $('older').hidden = page.next_before === null;
      this.render();
      this.announce(`${page.sessions.length} older session${page.sessions.length === 1 ? '' : 's'} added below.`);
    } catch (err) {
      this.announce(`Could not load older sessions: ${err.message}`);
    }
  }
}

if ($('captured')) window.playgroundCaptured = new Captured($('captured'));
