// The class report (/class/<id>/report): every student's sessions, lessons, warnings and
// transcripts, from GET /api/classes/<id>/report; the CSV link is the same data.

import { $, el } from './dom.js';
import { api, classData, refusal, when } from './classroom-api.js';

const lessonsCell = (lessons) => (lessons.length
  ? el('ul', {}, lessons.map((l) => el('li', { data: { lesson: l.lesson } },
    `${l.title}: passed ${l.passed.length} of ${l.steps}`, l.complete ? el('span', { class: 'ok' }, ' (complete)') : null)))
  : '—');

const warningsCell = (warnings) => {
  const entries = Object.entries(warnings || {});
  const total = entries.reduce((sum, [, n]) => sum + n, 0);
  return entries.length
    ? el('span', {}, String(total), el('span', { class: 'muted' }, ` (${entries.map(([code, n]) => `${code} ×${n}`).join(', ')})`))
    : '0';
};

const transcriptLinks = (items) => (items.length
  ? el('ul', {}, items.map((t) => el('li', {}, el('a', { href: t.url }, `${when(t.started_at)}${t.target ? ` · ${t.target}` : ''}`))))
  : '—');

async function load(id) {
  let report;
  try {
    report = await api(`/${encodeURIComponent(id)}/report`);
  } catch (exc) {
    $('report-state').textContent = refusal(exc);
    return;
  }
  const k = report.class;
  const title = k.title || `Class ${k.code}`;
  $('report-heading').textContent = `Report: ${title}`;
  document.title = `Report: ${title} — SMTP Playground`;
  $('report-state').textContent = `${report.students.length} students · opened ${when(k.created_at)}${k.ended_at ? ` · ended ${when(k.ended_at)}` : ' · still open'}.`;
  $('report').tBodies[0].replaceChildren(...report.students.map((s) => el('tr', { data: { student: s.id } },
    el('th', { scope: 'row' }, s.name), el('td', {}, when(s.joined_at)), el('td', { data: { field: 'sessions' } }, String(s.sessions)),
    el('td', { data: { field: 'lessons' } }, lessonsCell(s.lessons)), el('td', { data: { field: 'warnings' } }, warningsCell(s.warnings)),
    el('td', { data: { field: 'transcripts' } }, transcriptLinks(s.transcripts)))));
  $('report').hidden = false;
  $('report-transcripts').replaceChildren(...report.transcripts.map((t) => el('li', {},
    el('a', { href: t.url }, `${t.name}: ${when(t.started_at)}${t.target ? ` · ${t.target}` : ''}`))));
}

load(classData().class);
