// The explain page: POST /api/explain and show the answer. Every text from the server's
// answer (which quotes the pasted text) is written as a text node, never as markup.
import { el } from './dom.js';
import { REPLY_CLASSES } from './panels.js';

const form = document.getElementById('explain-form');
const result = document.getElementById('explain-result');
const LAYERS = { enhanced: 'Enhanced code', context: 'Reply code here', reply: 'Reply code', server: "Server's words", class: 'Class' };

function evidence(ex) {
  const items = (ex.evidence || []).map((e) => el('li', { data: { layer: e.layer, used: e.used ? 'yes' : 'no' } },
    el('strong', {}, LAYERS[e.layer] || e.layer), e.used ? ' (followed)' : '', ': ', e.says,
    e.source ? ` — source: ${e.source}` : ''));
  const clashes = (ex.contradictions || []).map((c) => el('p', { class: 'contradiction' }, c));
  return [el('ol', { class: 'evidence' }, items), ...clashes];
}

function replyView(ex) {
  return el('div', { class: `exchange-reply c-${ex.class || 'bad'}`, data: { field: 'reply' } },
    el('pre', { class: 'wire reply' }, (ex.lines || []).join('\n')),
    el('p', { class: 'summary' }, el('strong', {}, String(ex.code ?? '???')), ' ',
      el('span', { class: `tag ${ex.class || 'bad'}` }, REPLY_CLASSES[ex.class] || 'malformed'), ' ', ex.summary || ''),
    ex.malformed ? el('p', { class: 'bad' }, `Malformed: ${ex.malformed}`) : null,
    el('p', { data: { field: 'meaning' } }, ex.meaning || ''),
    ex.next ? el('p', { class: 'next' }, el('strong', {}, 'What next: '), ex.next) : null,
    evidence(ex),
    ex.rfc && ex.rfc.length ? el('p', { class: 'rfc' }, `See ${ex.rfc.join(', ')}`) : null);
}

function commandView(ex) {
  const warnings = (ex.warnings || []).map((w) => el('li', {}, w.message, ' ', el('em', {}, w.fix), ` (${w.rfc})`));
  return el('div', { data: { field: 'command' } },
    el('p', {}, el('code', {}, ex.verb || '(none)'), ' — ', ex.summary || ''),
    ex.syntax ? el('p', {}, 'Syntax: ', el('code', {}, ex.syntax)) : null,
    warnings.length ? [el('h3', {}, 'Mistakes'), el('ul', {}, warnings)] : null);
}

function bounceView(ex) {
  if (!ex.recipients.length) return el('p', {}, 'No recipient or reason was found in this text.');
  return el('div', { data: { field: 'bounce' } },
    ex.reporting_mta ? el('p', {}, 'Reported by ', el('code', {}, ex.reporting_mta)) : null,
    ex.recipients.map((r) => el('section', { class: 'recipient', data: { field: 'recipient' } },
      el('h3', {}, r.recipient, ` — ${r.action || 'outcome not stated'}`),
      r.action_meaning ? el('p', {}, r.action_meaning) : null,
      r.status ? el('p', {}, 'Status ', el('code', {}, r.status.code), `: ${r.status.explanation}`) : null,
      r.remote_mta ? el('p', {}, 'Remote server ', el('code', {}, r.remote_mta)) : null,
      r.reply ? replyView(r.reply) : el('p', {}, r.summary))));
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const kind = form.querySelector('input[name="kind"]:checked').value;
  const body = { [kind]: document.getElementById('explain-text').value };
  const after = document.getElementById('explain-after').value;
  if (kind === 'reply' && after) body.after = after;
  const headers = { 'Content-Type': 'application/json' };
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  if (csrf) headers['X-CSRFToken'] = csrf;
  const resp = await fetch('/api/explain', { method: 'POST', headers, body: JSON.stringify(body) });
  const data = await resp.json();
  if (!resp.ok) { result.replaceChildren(el('p', { class: 'bad', role: 'alert' }, data.error || 'The request failed.')); return; }
  const view = { reply: replyView, command: commandView, bounce: bounceView }[data.kind];
  result.replaceChildren(view(data));
});
