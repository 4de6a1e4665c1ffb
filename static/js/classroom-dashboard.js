// The trainer's live dashboard: one row per student (docs/classroom.md, "Dashboard rows"),
// stuck first unless the trainer sorts by another column (a button in each header, aria-sort
// on the sorted one). Rows change in place as `student` frames come; the idle column counts
// on between frames from the row's `idle` and when it arrived.

import { el } from './dom.js';
import { duration } from './classroom-api.js';
import { REPLY_CLASSES } from './panels.js';

const PRESENCE = { online: 'online', left: 'left', lost: 'lost (its worker stopped answering)' };
const byName = (a, b) => a.name.localeCompare(b.name);
const text = (value) => (value === null || value === undefined || value === '' ? '—' : String(value));

// Each column: its header, the value it sorts by, the direction a first press sorts, its cell.
const COLUMNS = [
  { key: 'name', label: 'Student', first: 'ascending', sort: (r) => r.name.toLowerCase(), cell: (r) => el('strong', {}, r.name) },
  {
    key: 'stuck', label: 'Stuck', first: 'descending', sort: (r) => r.stuck_score || 0,
    cell: (r) => (r.stuck ? el('span', { class: 'stuck-tag' }, 'Stuck: ', (r.stuck_reasons || []).join('; ')) : el('span', { class: 'muted' }, 'no')),
  },
  {
    key: 'status', label: 'Console', first: 'descending',
    sort: (r) => (r.connected ? 2 : 0) + (r.session === 'open' ? 1 : 0),
    cell: (r) => el('span', { class: r.connected ? 'ok' : 'muted' },
      r.connected ? 'connected' : PRESENCE[r.presence] || 'closed',
      r.session ? ` · session ${r.session}` : ' · no session yet', r.watched ? ' · watched' : ''),
  },
  { key: 'target', label: 'Target', first: 'ascending', sort: (r) => r.target || '', cell: (r) => text(r.target) },
  { key: 'step', label: 'Where they are', first: 'ascending', sort: (r) => r.step_name || '', cell: (r) => text(r.step_name || r.step) },
  {
    key: 'lesson', label: 'Lesson', first: 'descending',
    sort: (r) => (r.lesson ? (r.lesson_passed || []).length / (r.lesson_steps || 1) : -1),
    cell: (r) => (r.lesson
      ? el('span', {}, `${r.lesson_title || r.lesson}: passed ${(r.lesson_passed || []).length} of ${r.lesson_steps}`,
        r.lesson_step ? ` · now ${r.lesson_step}` : ' · finished',
        r.lesson_failures ? el('span', { class: 'bad' }, ` · ${r.lesson_failures} failed`) : null)
      : '—'),
  },
  {
    key: 'reply', label: 'Last reply', first: 'descending', sort: (r) => r.last_code || 0,
    cell: (r) => (r.last_code ? el('span', {}, el('code', {}, String(r.last_code)), ' ',
      el('span', { class: `tag ${r.last_class || 'bad'}` }, REPLY_CLASSES[r.last_class] || 'malformed'),
      r.negative_streak > 1 ? el('span', { class: 'bad' }, ` ${r.negative_streak} in a row`) : null) : '—'),
  },
  { key: 'warnings', label: 'Warnings', first: 'descending', sort: (r) => r.warnings || 0, cell: (r) => String(r.warnings || 0) },
  { key: 'idle', label: 'Idle', first: 'descending', sort: (r) => r.idleNow(), cell: (r) => (r.last_active ? duration(r.idleNow()) : '—') },
];

export class Dashboard extends EventTarget {
  constructor(table, summary, { classId, onHint }) {
    super();
    this.table = table;
    this.body = table.tBodies[0];
    this.summary = summary;
    this.classId = classId;
    this.onHint = onHint;
    this.rows = new Map(); // student id -> { row, tr }
    this.sortKey = 'stuck';
    this.direction = 'descending';
    this.pending = false;
    this.header();
    setInterval(() => this.tick(), 1000);
  }

  header() {
    const cells = COLUMNS.map((c) => el('th', { scope: 'col', data: { col: c.key } },
      el('button', { type: 'button', class: 'sort', data: { sort: c.key }, on: { click: () => this.sortBy(c.key) } },
        c.label, el('span', { class: 'sort-mark', 'aria-hidden': 'true' }))));
    cells.push(el('th', { scope: 'col' }, 'Actions'));
    this.table.tHead.rows[0].replaceChildren(...cells);
    this.markSort();
  }

  // A first press sorts the column its natural way; pressing it again turns the order round.
  sortBy(key) {
    const column = COLUMNS.find((c) => c.key === key);
    if (this.sortKey === key) this.direction = this.direction === 'ascending' ? 'descending' : 'ascending';
    else [this.sortKey, this.direction] = [key, column.first];
    this.markSort();
    this.order();
  }

  markSort() {
    for (const th of this.table.tHead.rows[0].cells) {
      const sorted = th.dataset.col === this.sortKey;
      if (sorted) th.setAttribute('aria-sort', this.direction);
      else th.removeAttribute('aria-sort');
      const mark = th.querySelector('.sort-mark');
      if (mark) mark.textContent = sorted ? (this.direction === 'ascending' ? ' ▲' : ' ▼') : '';
    }
  }

  // The `dashboard` frame: every row at once.
  setAll(rows) {
    this.rows.clear();
    this.body.replaceChildren();
    for (const row of rows) this.update(row, false);
    this.order();
  }

  // One `student` frame: the row is redrawn in place, the order follows on the next frame.
  update(row, reorder = true) {
    const received = performance.now();
    const live = { ...row, idleNow: () => (row.idle || 0) + (performance.now() - received) / 1000 };
    let entry = this.rows.get(row.id);
    if (!entry) {
      entry = { tr: el('tr', { data: { student: row.id } }) };
      this.rows.set(row.id, entry);
      this.body.append(entry.tr);
    }
    entry.row = live;
    this.draw(entry);
    if (reorder) this.schedule();
    this.dispatchEvent(new CustomEvent('rows', { detail: this.list() }));
  }

  draw({ tr, row }) {
    tr.className = row.stuck ? 'stuck' : '';
    tr.dataset.stuck = row.stuck ? 'yes' : 'no';
    tr.dataset.connected = row.connected ? 'yes' : 'no';
    const cells = COLUMNS.map((c) => el('td', { data: { field: c.key } }, c.cell(row)));
    const watch = el('a', { href: `/class/${encodeURIComponent(this.classId)}/watch/${encodeURIComponent(row.id)}`,
      target: '_blank', rel: 'noopener', class: 'watch-link', 'aria-label': `Watch ${row.name}` }, 'Watch');
    const hint = el('button', { type: 'button', class: 'small secondary', 'aria-label': `Hint to ${row.name}`,
      on: { click: () => this.onHint(row) } }, 'Hint');
    cells.push(el('td', { class: 'actions' }, watch, ' ', hint));
    // Keyboard focus stays on the button or link it was on when the row is redrawn.
    const focused = tr.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
    tr.replaceChildren(...cells);
    if (focused) tr.querySelector(`[aria-label="${CSS.escape(focused)}"]`)?.focus();
  }

  list() {
    return [...this.rows.values()].map((e) => e.row);
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.order();
    });
  }

  // Rows in the chosen order, ties by name; only moved when the order changed (a moved row
  // would lose the keyboard focus, so it is given back).
  order() {
    const column = COLUMNS.find((c) => c.key === this.sortKey);
    const sign = this.direction === 'ascending' ? 1 : -1;
    const entries = [...this.rows.values()].sort((a, b) => {
      const x = column.sort(a.row);
      const y = column.sort(b.row);
      return (x < y ? -sign : x > y ? sign : 0) || byName(a.row, b.row);
    });
    const now = [...this.body.rows];
    if (entries.some((e, i) => now[i] !== e.tr)) {
      const focused = document.activeElement;
      this.body.append(...entries.map((e) => e.tr));
      if (focused && this.body.contains(focused) && document.activeElement !== focused) focused.focus();
    }
    this.summarise();
  }

  summarise() {
    const rows = this.list();
    const online = rows.filter((r) => r.connected).length;
    const stuck = rows.filter((r) => r.stuck).length;
    const text = rows.length
      ? `${rows.length} student${rows.length === 1 ? '' : 's'}, ${online} connected, ${stuck} stuck.`
      : 'No student has joined yet.';
    if (this.summary.textContent !== text) this.summary.textContent = text;
  }

  tick() {
    for (const { tr, row } of this.rows.values()) {
      const cell = tr.querySelector('[data-field=idle]');
      if (cell && row.last_active) cell.textContent = duration(row.idleNow());
    }
    if (this.sortKey === 'idle') this.order();
  }
}
