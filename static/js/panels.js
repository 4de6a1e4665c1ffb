// The guide panels: Last exchange, Where you are, Mistakes and warnings, TLS. Drawn from the
// frames of docs/protocol.md, by the live console and the replay page alike. Every text that
// came from a server, a transcript or a user is written as a text node, never as markup.

import { el } from './dom.js';

// RFC 5321 §4.2.1: the first digit of a reply says how it went.
export const REPLY_CLASSES = {
  positive: 'positive',
  intermediate: 'intermediate',
  transient: 'transient failure',
  permanent: 'permanent failure',
};
const STEP_MARKS = { done: '✓', current: '▶', next: '→', skipped: '–', pending: '·' };
const MAX_WARNINGS = 50;
// A new transaction begins with MAIL; RSET and a new EHLO/HELO end the one before
// (RFC 5321 §3.3, §4.1.1.5, §4.1.4).
const TRANSACTION_STARTS = new Set(['MAIL', 'RSET', 'EHLO', 'HELO']);
const DAY_MS = 86400000;

const put = (node, ...kids) => node.append(...kids.flat().filter((k) => k !== null && k !== undefined && k !== false));
const rfcList = (rfcs) =>
  rfcs && rfcs.length ? el('p', { class: 'rfc', data: { field: 'rfc' } }, `See ${rfcs.join(', ')}`) : null;
const row = (term, ...value) => [el('dt', {}, term), el('dd', {}, ...value)];
const fact = (field, ...text) => el('li', { data: { field } }, ...text);

function paramItem(p) {
  const name = p.value === null || p.value === undefined ? p.name : `${p.name}=${p.value}`;
  const meaning = p.value_meaning ? `${p.meaning} ${p.value_meaning}` : p.meaning;
  return el('li', {}, el('code', {}, name), ' — ', meaning, p.known ? null : el('span', { class: 'tag unknown' }, 'unknown'));
}

function commandFacts(facts = {}, client = false) {
  const items = [];
  const naming = client ? 'The client names itself ' : 'You name yourself ';
  if (facts.domain) items.push(fact('domain', naming, el('code', {}, facts.domain)));
  if (facts.mechanism) {
    const m = facts.mechanism;
    items.push(fact('mechanism', el('strong', {}, m.name), ': ', m.summary, m.needs_tls ? ' Use it only inside TLS.' : ''));
  }
  if (facts.initial_response) items.push(fact('initial-response', 'The credentials travel on this line (initial response); the transcript keeps them redacted.'));
  if (facts.null_sender) items.push(fact('null-sender', 'Empty sender <>: used for bounces, so no bounce can come back.'));
  if (facts.chunk_size !== undefined) items.push(fact('chunk', `Chunk of ${facts.chunk_size} octets${facts.last ? ', the last one' : ''}.`));
  return items.length ? el('ul', { class: 'facts' }, items) : null;
}

// ``client``: a session the sandbox captured, where the one who sent is a client, not "you".
function commandBlock(sent, client = false) {
  const ex = sent.explain;
  const block = el('div', { class: 'exchange-command', data: { kind: sent.kind } },
    el('h3', {}, client ? 'The client sent' : 'You sent'), el('pre', { class: 'wire sent' }, sent.text || '\u00a0'));
  if (sent.kind === 'data' && (sent.lines ? sent.lines[sent.lines.length - 1] : sent.text) === '.') {
    put(block, el('p', {}, 'The end of the data: a line holding only "." ends the message (RFC 5321 §4.1.1.4). The server now answers for the whole message.'));
    return block;
  }
  if (sent.kind === 'data') {
    put(block, el('p', {}, 'A line of the message: the server stores it as it is until the line holding only "."'));
    return block;
  }
  if (sent.kind === 'auth-response') {
    put(block, el('p', {}, 'An answer to the server\'s 334 challenge, in base64. It carries credentials, so the transcript keeps it redacted.'));
    return block;
  }
  if (!ex) return block;
  put(block, el('p', { class: 'summary' }, el('strong', { data: { field: 'verb' } }, ex.verb || '?'), ' — ', ex.summary));
  const dl = el('dl', { class: 'kv' });
  if (ex.syntax) dl.append(...row('Syntax', el('code', {}, ex.syntax)));
  if (ex.address !== null && ex.address !== undefined) dl.append(...row('Address', el('code', {}, ex.address === '' ? '<> (null sender)' : ex.address)));
  else if (ex.argument) dl.append(...row('Argument', el('code', {}, ex.argument)));
  if (dl.childNodes.length) put(block, dl);
  if (ex.parameters && ex.parameters.length) put(block, el('h4', {}, 'Parameters'), el('ul', { class: 'params' }, ex.parameters.map(paramItem)));
  put(block, commandFacts(ex.facts, client));
  const replies = ex.replies && ex.replies.length
    ? el('ul', {}, ex.replies.map((r) => el('li', {}, el('code', {}, String(r.code)), ' ', r.meaning))) : null;
  if (ex.allowed_when || replies) {
    put(block, el('details', { class: 'more' }, el('summary', {}, `When to use ${ex.verb}, and the replies it can get`),
      ex.allowed_when ? el('p', {}, ex.allowed_when) : null, replies));
  }
  put(block, rfcList(ex.rfc));
  return block;
}

function capabilityItem(cap) {
  const item = el('li', { class: cap.known ? 'cap' : 'cap unknown', data: { keyword: cap.keyword } },
    el('code', {}, [cap.keyword, ...(cap.params || [])].join(' ')), ' — ', el('strong', {}, cap.title),
    cap.known ? null : el('span', { class: 'tag unknown' }, 'unknown'),
    el('div', { class: 'muted' }, cap.explanation));
  const facts = cap.facts || {};
  if (facts.limit) put(item, el('div', { data: { field: 'size' } }, `Largest message: ${facts.limit}`));
  if (facts.problem) put(item, el('div', { class: 'bad' }, facts.problem));
  for (const m of facts.mechanisms || []) {
    put(item, el('div', { class: 'mech', data: { mechanism: m.name } }, el('code', {}, m.name), ': ', m.summary,
      m.needs_tls ? ' (inside TLS only)' : '', m.known ? null : el('span', { class: 'tag unknown' }, 'unknown')));
  }
  if (facts.limits) put(item, el('div', {}, Object.entries(facts.limits).map(([k, v]) => `${k}=${v}`).join(', ')));
  return item;
}

function replyFacts(facts = {}) {
  const items = [];
  if (facts.challenge !== undefined && facts.challenge !== null) {
    items.push(fact('challenge', 'The server asks (base64 decoded): ', el('code', {}, facts.challenge === '' ? '(empty)' : facts.challenge)));
  }
  if (facts.challenge_error) items.push(fact('challenge', `The challenge is ${facts.challenge_error}.`));
  if (facts.oauth_error) items.push(fact('oauth', `OAuth error: ${JSON.stringify(facts.oauth_error)}`));
  if (facts.queue_id) items.push(fact('queue-id', 'Queue id ', el('code', {}, facts.queue_id), facts.queue_id_form ? ` (${facts.queue_id_form} wording)` : '', ': quote it when you ask the admin about this message.'));
  if (facts.esmtp !== undefined) items.push(fact('greeting', `The server calls itself ${facts.domain || '(no name)'}${facts.esmtp ? ' and says ESMTP: use EHLO.' : '.'}`));
  if (facts.line_endings) items.push(fact('line-endings', `Lines end in ${facts.line_endings}, not CRLF (RFC 5321 §2.3.8): a server bug.`));
  const list = items.length ? el('ul', { class: 'facts' }, items) : null;
  const caps = facts.capabilities && facts.capabilities.length
    ? [el('h4', {}, `What ${facts.domain || 'the server'} offers`), el('ul', { class: 'caps', data: { field: 'capabilities' } }, facts.capabilities.map(capabilityItem))]
    : null;
  return [list, caps];
}

function enhancedBlock(en) {
  if (!en) return null;
  return el('div', { class: 'enhanced', data: { field: 'enhanced' } },
    el('p', {}, el('code', {}, en.code), ' ',
      el('span', { data: { field: 'enhanced-class' } }, en.class_title), ' · ',
      el('span', { data: { field: 'enhanced-subject' } }, en.subject || 'unknown subject'), ' · ',
      el('span', { data: { field: 'enhanced-detail' } }, en.detail || 'detail not in the registry')),
    el('p', { class: 'muted' }, en.explanation));
}

// Which layers of evidence the explanation rests on (docs/knowledge.md), the one it follows first.
const LAYER_NAMES = { enhanced: 'Enhanced code', context: 'Reply code here', reply: 'Reply code', server: 'Server\'s words', class: 'Class' };

function evidenceBlock(ex) {
  const layers = ex.evidence || [];
  if (!layers.length) return null;
  const items = layers.map((e) => el('li', { data: { layer: e.layer, used: e.used ? 'yes' : 'no' } },
    el('strong', {}, LAYER_NAMES[e.layer] || e.layer), e.used ? ' (followed)' : '', ': ', e.says,
    e.servers ? ` — ${e.servers.join(', ')}` : '', e.source ? el('span', { class: 'rfc' }, ` (${e.source})`) : null));
  const clashes = (ex.contradictions || []).map((c) => el('p', { class: 'contradiction', data: { field: 'contradiction' } }, c));
  return el('div', { class: 'evidence', data: { field: 'evidence' } },
    el('h4', {}, 'How this is known'), el('ol', {}, items), clashes);
}

function replyBlock(reply) {
  const ex = reply.explain || {};
  const cls = reply.class || ex.class;
  const block = el('div', { class: `exchange-reply c-${cls || 'bad'}`, data: { class: cls || 'malformed' } },
    el('h3', {}, 'Server replied'), el('pre', { class: 'wire reply' }, (reply.lines || []).join('\n')),
    el('p', { class: 'summary' }, el('strong', { data: { field: 'code' } }, String(reply.code ?? '???')), ' ',
      el('span', { class: `tag ${cls || 'bad'}`, data: { field: 'reply-class' } }, REPLY_CLASSES[cls] || 'malformed'),
      ' ', ex.summary || ''),
    el('p', { data: { field: 'meaning' } }, ex.meaning || ''));
  if (reply.malformed) put(block, el('p', { class: 'bad' }, `Malformed: ${reply.malformed}`));
  put(block, enhancedBlock(ex.enhanced));
  put(block, evidenceBlock(ex));
  if (reply.text) put(block, el('p', { class: 'server-text' }, 'Server\'s own words: ', el('q', {}, reply.text.split('\n')[0])));
  put(block, ...replyFacts(ex.facts).filter(Boolean).flat());
  if (ex.next) put(block, el('p', { class: 'next', data: { field: 'next' } }, el('strong', {}, 'What next: '), ex.next));
  put(block, rfcList(ex.rfc));
  return block;
}

// Whether a reply (its "after": a verb, auth-response or end-of-data) answers a sent line.
function answers(sent, reply) {
  const after = reply.after;
  if (after === 'auth-response') return sent.kind === 'auth-response';
  if (after === 'end-of-data') return sent.kind === 'data' && sent.text === '.';
  return sent.kind === 'command' && sent.verb === after;
}

function validity(notBefore, notAfter, now = Date.now()) {
  const start = Date.parse(notBefore);
  const end = Date.parse(notAfter);
  if (Number.isNaN(start) || Number.isNaN(end)) return 'unknown';
  const span = `${notBefore.slice(0, 10)} to ${notAfter.slice(0, 10)}`;
  if (now < start) return `${span}: NOT valid yet`;
  if (now > end) return `${span}: EXPIRED`;
  return `${span} (${Math.floor((end - now) / DAY_MS)} days left)`;
}

export class Panels {
  constructor(root, { onCommand = null } = {}) {
    this.root = root;
    this.onCommand = onCommand; // the console makes next commands buttons; the replay does not
    this.client = false; // the replay of a captured session: the sender is "the client"
    const section = (name, title) => {
      const body = el('div', { class: 'panel-body' });
      const head = el('h2', {}, title);
      this.root.append(el('section', { class: `panel panel-${name}`, data: { panel: name }, 'aria-label': title }, head, body));
      return { head, body };
    };
    this.steps = section('steps', 'Where you are');
    this.exchange = section('exchange', 'Last exchange');
    this.warnings = section('warnings', 'Mistakes and warnings');
    this.tls = section('tls', 'TLS');
    this.reset();
  }

  reset() {
    this.sent = [];
    this.lastSent = null;
    this.orphan = null;
    this.clearWarnings();
    this.exchange.body.replaceChildren(el('p', { class: 'muted' }, 'Connect and send a command: each command and reply is explained here.'));
    this.steps.body.replaceChildren(el('p', { class: 'muted' }, 'Not connected.'));
    this.tls.body.replaceChildren();
    this.tlsEhloNote = null;
    this.lastState = null;
    this.tls.body.closest('section').hidden = true;
  }

  // Follow the session: one frame after another, in order.
  show(frame) {
    if (frame.state) this.renderState(frame.state);
    if (frame.type === 'sent') this.showSent(frame);
    else if (frame.type === 'reply') this.showReply(frame);
    else if (frame.type === 'tls') this.renderTls(frame);
    else if (frame.type === 'discarded') {
      this.addWarning({ message: frame.message, fix: 'Nothing to do: the playground dropped these bytes, as a client must.', rfc: 'RFC 3207 §4.2' }, frame.text);
    }
  }

  showSent(frame) {
    this.sent.push(frame);
    if (TRANSACTION_STARTS.has(frame.verb)) this.newTransaction();
    // A batch's warnings name their own line (line i of the frame is seq + i).
    for (const w of frame.warnings || []) this.addWarning(w, frame.lines && Number.isInteger(w.line) ? frame.lines[w.line] ?? frame.text : frame.text);
    // A fast server's reply can overtake the frame of the line it answers.
    const early = this.orphan && answers(frame, this.orphan) ? this.orphan : null;
    this.orphan = null;
    this.lastSent = early ? null : frame;
    this.renderExchange(frame, early);
  }

  showReply(frame) {
    const byLine = this.sentAt(frame.answers);
    const sent = frame.after === 'greeting' ? null : byLine || this.lastSent;
    this.orphan = sent || frame.after === 'greeting' ? null : frame;
    this.lastSent = null;
    this.renderExchange(sent, frame);
    if (frame.malformed) this.addWarning({ message: `The server's reply is malformed: ${frame.malformed}`, fix: 'Treat this server with suspicion.', rfc: 'RFC 5321 §4.2' }, (frame.lines || []).join('\n'));
  }

  // Explain one earlier frame (a clicked line) without moving the session on.
  inspect(frame) {
    if (frame.type === 'reply') {
      this.renderExchange(frame.after === 'greeting' ? null : this.answered(frame), frame);
    } else if (frame.type === 'sent') {
      this.renderExchange(frame, null);
      const warnings = frame.warnings || [];
      if (warnings.length) put(this.exchange.body, el('ul', { class: 'warning-list' }, warnings.map((w) => this.warningItem(w, null))));
    } else if (frame.type === 'tls') {
      this.renderTls(frame);
      this.tls.body.closest('section').scrollIntoView({ block: 'nearest' });
      return;
    } else if (frame.type === 'connected') {
      this.exchange.body.replaceChildren(el('p', {}, `Connected to ${frame.host} port ${frame.port} (${frame.address}). In SMTP the server speaks first: wait for its 220 greeting.`));
    }
    this.exchange.body.closest('section').scrollIntoView({ block: 'nearest' });
  }

  // The sent frame holding transcript line `seq` (a batch holds seq .. seq + lines - 1).
  sentAt(seq) {
    if (!Number.isInteger(seq)) return null;
    return this.sent.find((s) => s.seq === seq || (s.lines && s.seq < seq && seq < s.seq + s.lines.length)) || null;
  }

  // The line a reply answered: the one it names, else the last matching one before it, else
  // the first after it.
  answered(reply) {
    const named = this.sentAt(reply.answers);
    if (named) return named;
    const matching = this.sent.filter((s) => answers(s, reply));
    const before = matching.filter((s) => s.seq < reply.seq);
    return before.length ? before[before.length - 1] : matching.find((s) => s.seq > reply.seq) || null;
  }

  renderExchange(sent, reply) {
    const body = this.exchange.body;
    body.replaceChildren();
    if (sent) put(body, commandBlock(sent, this.client));
    if (reply) put(body, replyBlock(reply));
  }

  renderState(state) {
    this.lastState = state;
    this.showTlsEhloNote();
    const steps = el('ol', { class: 'steps' }, (state.steps || []).map((s) =>
      el('li', { class: `step ${s.status}`, data: { step: s.id, status: s.status }, title: s.status },
        el('span', { class: 'mark', 'aria-hidden': 'true' }, STEP_MARKS[s.status] || ''), ` ${s.name}`,
        el('span', { class: 'sr-only' }, ` (${s.status})`))));
    const rejected = (state.rejected_recipients || []).length;
    const badges = el('p', { class: 'badges' },
      el('span', { class: `badge ${state.tls ? 'on' : 'off'}`, data: { badge: 'tls' } }, state.tls ? 'TLS on' : 'no TLS'),
      el('span', { class: `badge ${state.authenticated ? 'on' : 'off'}`, data: { badge: 'auth' } }, state.authenticated ? 'logged in' : 'not logged in'),
      el('span', { class: 'badge', data: { badge: 'recipients' } }, `${(state.accepted_recipients || []).length} accepted, ${rejected} rejected`),
      state.messages_sent ? el('span', { class: 'badge on' }, `${state.messages_sent} sent`) : null);
    const next = state.next_commands || [];
    const nextLine = el('p', { class: 'next-commands', data: { field: 'next-commands' } }, el('span', { class: 'muted' }, next.length ? 'Next: ' : state.closed ? 'Closed.' : 'Next: wait for the server.'),
      ...next.map((verb) => this.onCommand
        ? el('button', { type: 'button', class: 'chip', title: `Put a ${verb} command in the input`, on: { click: () => this.onCommand(verb) } }, verb)
        : el('code', { class: 'chip' }, verb)));
    this.steps.body.replaceChildren(steps, badges, nextLine);
  }

  warningItem(w, line) {
    return el('li', { class: 'warning', data: { code: w.code || 'warning' } },
      line ? el('code', { class: 'warned-line' }, line) : null,
      el('p', { data: { field: 'message' } }, w.message),
      w.fix ? el('p', { class: 'fix', data: { field: 'fix' } }, el('strong', {}, 'Fix: '), w.fix) : null,
      w.rfc ? el('p', { class: 'rfc' }, w.rfc) : null);
  }

  // The current transaction's warnings come first, newest first; earlier ones are folded
  // away below them. Clear empties the panel (the transcript keeps every warning).
  addWarning(w, line) {
    this.current.unshift(this.warningItem(w, line));
    this.warningCount += 1;
    this.renderWarnings();
  }

  newTransaction() {
    if (!this.current.length) return;
    this.earlier = [...this.current, ...this.earlier].slice(0, MAX_WARNINGS);
    this.current = [];
    this.renderWarnings();
  }

  clearWarnings() {
    this.current = [];
    this.earlier = [];
    this.warningCount = 0;
    this.renderWarnings();
  }

  renderWarnings() {
    const total = this.current.length + this.earlier.length;
    this.warnings.head.textContent = total ? `Mistakes and warnings (${this.warningCount})` : 'Mistakes and warnings';
    if (!total) {
      this.warnings.body.replaceChildren(el('p', { class: 'muted empty' }, 'No mistakes so far. Warnings appear when a line is sent; they never block it.'));
      return;
    }
    const current = this.current.length
      ? el('ul', { class: 'warning-list', data: { group: 'current' } }, this.current.slice(0, MAX_WARNINGS))
      : el('p', { class: 'muted', data: { group: 'current' } }, 'None in this transaction.');
    const earlier = this.earlier.length
      ? el('details', { class: 'earlier-warnings', data: { group: 'earlier' } },
        el('summary', {}, `Earlier in the session (${this.earlier.length})`),
        el('ul', { class: 'warning-list' }, this.earlier))
      : null;
    const clear = el('button', { type: 'button', class: 'small secondary', id: 'clear-warnings',
      on: { click: () => this.clearWarnings() } }, 'Clear warnings');
    this.warnings.body.replaceChildren();
    put(this.warnings.body, el('h3', {}, 'This transaction'), current, earlier, el('p', {}, clear));
  }

  renderTls(f) {
    const dl = el('dl', { class: 'kv' },
      ...row('How', f.tls_mode === 'implicit' ? 'implicit TLS from the first byte (RFC 8314)' : 'STARTTLS upgrade (RFC 3207)'),
      ...row('Protocol', f.version || '?'),
      ...row('Cipher', `${f.cipher || '?'}${f.bits ? ` (${f.bits}-bit)` : ''}`),
      ...row('Subject', f.subject || '(none)'),
      ...row('Names (SAN)', (f.san || []).join(', ') || '(none)'),
      ...row('Issuer', `${f.issuer || '?'}${f.certificate && f.certificate.self_signed ? ' (self-signed)' : ''}`),
      ...row('Valid', validity(f.not_before || '', f.not_after || '')),
      ...row('Checked', el('span', { class: f.verified ? 'ok' : 'bad', data: { field: 'verification' } }, f.verification || (f.verified ? 'verified' : 'NOT verified'))));
    const note = f.chain_note ? el('p', { class: 'muted' }, f.chain_note) : null;
    // RFC 3207 §4.2: after STARTTLS the client greets again; said until it has.
    this.tlsEhloNote = f.tls_mode === 'implicit' ? null
      : el('p', { class: 'muted', data: { field: 'tls-ehlo-note' } }, 'What the server said before TLS no longer counts: send EHLO again.');
    this.showTlsEhloNote();
    this.tls.body.replaceChildren(dl, note, this.tlsEhloNote);
    this.tls.body.closest('section').hidden = false;
  }

  showTlsEhloNote() {
    const state = this.lastState;
    if (this.tlsEhloNote) this.tlsEhloNote.hidden = Boolean(state && (state.hello || state.closed));
  }
}
