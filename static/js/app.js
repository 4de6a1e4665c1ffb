// The console page: wires the connection bar, the console and the guide panels together.

import { Connection, MAX_FRAME_BYTES, batches } from './socket.js';
import { Console } from './console.js';
import { Panels } from './panels.js';
import { $, el, replyClass } from './dom.js';
import { Helpers, templateFor } from './helpers.js';
import { Lessons } from './lessons.js';
import { editTokens } from './transcripts.js';
import { ConnectBar } from './connectbar.js';
import { IdleCountdown } from './idle.js';
import { addSessionLinks } from './share.js';
import { FrameReader, loadKnowledge } from './knowledge.js';

const LONG_PASTE = 500;
const HEAD_LINES = 200;
const TAIL_LINES = 20;

// The console page's App; the classroom's watch and follow views build one read-only
// ({conn, readOnly: true}): the same frame-applying code, fed another socket's frames, with
// nothing that types, connects or sends.
export class App {
  constructor({ conn = new Connection(), readOnly = false } = {}) {
    this.conn = conn;
    this.readOnly = readOnly;
    this.console = new Console($('screen'), $('input'), $('prompt'));
    this.connected = false;
    this.transcript = null;
    this.state = {};
    this.selected = null;
    this.listeners = [];
    this.anchors = new Map(); // seq of a sent line -> the last console line under it
    this.lastBdat = null; // seq of the BDAT command whose chunk is still to be shown
    this.handlers = {
      session: (f) => this.onSession(f),
      connected: (f) => this.onConnected(f),
      sent: (f) => this.onSent(f),
      reply: (f) => this.onReply(f),
      tls: (f) => this.onTls(f),
      discarded: (f) => this.console.line(`! ${f.message}`, 'warning', { seq: f.seq }),
      error: (f) => this.onError(f),
      held: (f) => this.onHeld(f),
      closed: (f) => this.onClosed(f),
      note: (f) => this.onNote(f),
      mx: (f) => this.onMx(f),
      mx_attempt: (f) => this.console.line(`* ${f.host} (${f.address || 'no address'}): ${f.error.replace(/\.$/, '')}; trying the next`, 'warning', { seq: f.seq }),
    };
    this.limits = {};
    this.idle = new IdleCountdown($('idle'), (text) => this.status(text));
    const insert = (text) => this.insert(text);
    this.panels = new Panels($('guide'), { onCommand: (verb) => insert(templateFor(verb, this.state)) });
    this.lessons = new Lessons($('lesson'), { send: (frame) => this.conn.send(frame), insert, readOnly });
    this.subscribe((f) => this.panels.show(f));
    this.subscribe((f) => this.lessons.show(f));
    $('screen').addEventListener('click', (ev) => this.select(ev.target.closest('.line')));
    $('screen').addEventListener('keydown', (ev) => this.onLineKey(ev));
    if (!readOnly) this.wireControls(insert);
    // Frames come lean (docs/protocol.md v2): they wait for the knowledge document, which the
    // browser's cache usually has; without it the console asks for full frames. A read-only
    // view is relayed full frames (the class's watch and follow sockets) and applies them.
    this.reader = null;
    this.waiting = [];
    loadKnowledge().then((doc) => {
      this.reader = new FrameReader(doc, false);
      for (const raw of this.waiting.splice(0)) this.receive(raw);
    }, () => {
      this.reader = new FrameReader(null, false);
      for (const raw of this.waiting.splice(0)) this.receive(raw);
    });
    this.conn.addEventListener('frame', (ev) => (readOnly ? this.onFrame(ev.detail) : this.receive(ev.detail)));
    this.conn.addEventListener('socketclose', () => this.onSocketClose());
    this.conn.open();
    this.lessons.load();
  }

  // What only the console's own user has: the connection bar, the helpers, copy and clear,
  // notes, and the input line.
  wireControls(insert) {
    this.bar = new ConnectBar();
    const sendChunk = (data, last) => (this.connected ? this.conn.send({ type: 'chunk', data, last }) : this.sendLines([]));
    this.helpers = new Helpers($('helpers'), { insert, sendLines: (lines) => this.sendLines(lines), sendChunk });
    this.subscribe((f) => this.helpers.show(f));
    $('connect-bar').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.connect();
    });
    $('disconnect').addEventListener('click', () => this.conn.send({ type: 'close' }));
    $('copy').addEventListener('click', () => this.copy('cs'));
    $('copy-swaks').addEventListener('click', () => this.copy('swaks'));
    // Leaving or reloading the page ends a live session: ask first.
    window.addEventListener('beforeunload', (ev) => {
      if (!this.connected) return;
      ev.preventDefault();
      ev.returnValue = '';
    });
    $('clear').addEventListener('click', () => this.clear());
    $('note-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.addNote();
    });
    this.console.addEventListener('lines', (ev) => this.sendLines(ev.detail));
  }

  // Other modules (panels, lessons) subscribe to every frame.
  subscribe(fn) {
    this.listeners.push(fn);
  }

  connect() {
    const { frame, error } = this.bar.frame();
    if (error) {
      this.status(error);
      return;
    }
    // Lean frames when the knowledge document is here to read them; full ones otherwise.
    frame.frames = this.reader && this.reader.doc ? 'lean' : 'full';
    this.status(`Connecting to ${this.bar.label()}…`);
    $('connect').disabled = true;
    this.panels.reset();
    this.console.line(`* connecting to ${this.bar.label()}`, 'info');
    this.conn.send(frame);
  }

  onMx(f) {
    if (f.error) {
      this.console.line(`* MX lookup for ${f.domain}: ${f.error}`, 'error', { seq: f.seq });
      return;
    }
    for (const text of (f.dig || '').split('\n')) this.console.line(text, 'info', { seq: null });
    this.status(`MX lookup for ${f.domain}: trying the servers in order of preference.`);
  }

  sendLines(lines) {
    if (!this.connected) {
      this.console.line('! Not connected: press Connect first.', 'error');
      return;
    }
    // A line no frame can carry is refused here, in the typist's words, not the protocol's.
    // (JSON.stringify: the frame carries the line escaped, a control character as 6 bytes.)
    const huge = lines.find((line) => line.length * 6 > MAX_FRAME_BYTES && utf8Size(JSON.stringify(line)) > MAX_FRAME_BYTES);
    if (huge !== undefined) {
      const mb = (utf8Size(huge) / 1048576).toFixed(1);
      this.console.line(`! Nothing was sent: one line is ${mb} MB, and the playground sends at most ${MAX_FRAME_BYTES / 1024} KB in a line (SMTP itself allows 1,000 octets per line, RFC 5321 §4.5.3.1.6). Break it into lines.`, 'error');
      return;
    }
    if (lines.length === 1) {
      this.conn.send({ type: 'line', text: lines[0] });
    } else {
      for (const batch of batches(lines)) this.conn.send({ type: 'lines', lines: batch });
    }
  }

  insert(text) {
    if (this.readOnly) return;
    const input = $('input');
    input.value = text;
    input.focus();
    input.setSelectionRange(text.length, text.length);
  }

  // A frame as it came over the socket: read back into the full shape, then applied.
  receive(raw) {
    if (!this.reader) {
      this.waiting.push(raw);
      return;
    }
    this.onFrame(this.reader.read(raw));
  }

  // The one way a frame reaches the view (full shape: what FrameReader.read returns); a
  // viewer of someone else's session can call it with the frames it relays.
  onFrame(frame) {
    if (frame.state) this.state = frame.state;
    const handler = this.handlers[frame.type];
    if (handler) handler(frame);
    for (const fn of this.listeners) fn(frame);
  }

  onSession(f) {
    this.transcript = f.transcript;
    document.body.dataset.transcript = f.transcript;
    // The list and replay pages offer editing for the transcripts whose token this browser holds.
    if (f.edit_token) editTokens.set(f.transcript, f.edit_token);
    this.limits = f.limits || {};
    if (this.readOnly) return; // a watcher gets no links nor notes of someone else's session
    addSessionLinks($('share-links'), f);
    $('notes').replaceChildren();
    $('share').hidden = false;
    this.updateNoteForm();
  }

  onConnected(f) {
    this.connected = true;
    this.tlsOn = false;
    this.idle.start(this.limits);
    this.anchors.clear();
    this.lastBdat = null;
    this.lastError = null;
    this.quitSent = false;
    this.console.forgetAwaiting();
    this.markLine(this.console.line(`* connected to ${f.host} port ${f.port} (${f.address})`, 'info', { seq: f.seq, data: f }));
    this.status(`Connected to ${f.host}:${f.port}. Wait for the 220 greeting, then say EHLO.`);
    this.setButtons(true);
    if (!this.readOnly) this.console.setEnabled(true, `Type an SMTP command, e.g. ${templateFor('EHLO')}`);
  }

  onSent(f) {
    this.idle.activity();
    if (f.verb === 'QUIT') this.quitSent = true;
    if (!f.chunk) this.console.sent(f.kind, f.lines || [f.text]); // typed lines only
    const cls = f.kind === 'data' ? ['data'] : f.kind === 'auth-response' ? ['auth'] : [];
    if (this.tlsOn) cls.push('enc');
    if (f.warnings && f.warnings.length) cls.push('warned');
    if (f.lines) {
      const last = this.onSentLines(f, cls);
      // RFC 3030 §2: a chunk's octets follow its BDAT command, and the server's reply to
      // the command comes after them: it goes under the chunk, not between the two.
      if (f.chunk && this.lastBdat !== null && last) this.anchors.set(this.lastBdat, last);
      return;
    }
    this.lastBdat = f.verb === 'BDAT' ? f.seq : null;
    this.markLine(this.console.line(f.text, 'sent', { cls, seq: f.seq, data: f }));
  }

  // A pasted message arrives as one frame; a very long one is shown by its ends (the
  // transcript keeps every line). Returns the last line shown.
  onSentLines(f, cls) {
    const show = (from, to) => this.console
      .lines(f.lines.slice(from, to), 'sent', (i) => ({ cls, seq: f.seq + from + i, data: f }))
      .map((div) => { this.markLine(div); return div; });
    if (f.lines.length <= LONG_PASTE) return show(0, f.lines.length).pop();
    show(0, HEAD_LINES);
    const hidden = f.lines.length - HEAD_LINES - TAIL_LINES;
    this.console.line(`… ${hidden.toLocaleString()} more message lines sent (the transcript has them all) …`, 'info');
    return show(f.lines.length - TAIL_LINES, f.lines.length).pop();
  }

  // Each reply goes under the line it answers (with PIPELINING several lines leave before
  // their replies come back); the greeting and unsolicited replies go at the end.
  onReply(f) {
    this.idle.activity();
    const cls = [replyClass(f.code)];
    if (this.tlsOn) cls.push('enc');
    if (f.malformed) cls.push('malformed');
    const under = this.replyAnchor(f);
    const divs = this.console.lines(f.lines, 'reply', (i) => ({ cls, seq: i === 0 ? f.seq : null, data: f }), under);
    divs.forEach((div) => this.markLine(div));
    if (under) this.anchors.set(f.answers, divs[divs.length - 1]);
    if (f.malformed) this.console.line(`! malformed reply: ${f.malformed}`, 'warning');
    this.console.secret = f.code === 334;
    const expect = f.state ? f.state.expect : null;
    this.console.setPrompt(expect === 'data' ? 'DATA>' : expect === 'auth-response' ? 'AUTH>' : '>');
    this.status(statusFor(f));
  }

  // The console line a reply goes under: the line it answers, below replies already there.
  replyAnchor(f) {
    if (f.answers === null || f.answers === undefined) return null;
    const last = this.anchors.get(f.answers) || $(`L${f.answers}`);
    const screen = $('screen');
    return last && last !== screen.lastElementChild ? last : null;
  }

  // Lines the playground did not send: the reason in words, then the lines, greyed.
  onHeld(f) {
    this.console.line(`* ${f.message}`, 'info', { seq: f.seq ?? null, data: f });
    const shown = (f.lines || []).slice(0, HEAD_LINES);
    this.console.lines(shown.map((line) => `  (not sent) ${line}`), 'info', () => ({ cls: ['held'] }));
    if ((f.lines || []).length > shown.length) this.console.line(`  … and ${f.lines.length - shown.length} more`, 'info');
  }

  onTls(f) {
    this.tlsOn = true;
    const who = f.subject || 'the server';
    this.markLine(this.console.line(`* TLS ${f.version} ${f.cipher} with ${who}${f.verified ? '' : ' (NOT verified)'}`, 'info', { seq: f.seq, data: f }));
    this.status(`TLS is on (${f.version}). Send EHLO again: what the server said before TLS no longer counts.`);
  }

  onError(f) {
    this.console.line(`! ${f.message}`, 'error', { seq: f.seq ?? null });
    this.lastError = f.message;
    if (!this.connected) this.setButtons(false);
  }

  onClosed(f) {
    this.connected = false;
    this.tlsOn = false;
    this.idle.stop();
    // The focus is on what the close disables (Disconnect, or the input after QUIT): it
    // goes to Connect, not back to the top of the page.
    // (Not when the server ends it while the user types: Enter would then reconnect.)
    const focused = document.activeElement;
    const stranded = focused === $('disconnect') || (focused === $('input') && this.quitSent);
    // A close for the reason an error line has just given says so once, not twice.
    const said = sameWords(f.reason, this.lastError);
    this.lastError = null;
    this.console.line(said ? '* connection closed' : `* connection closed: ${f.reason}`, 'info', { seq: f.seq });
    this.status(`Closed: ${String(f.reason || '').replace(/\.+$/, '')}.`);
    this.console.setEnabled(false, 'Not connected');
    this.console.setPrompt('>');
    this.setButtons(false);
    if (stranded && !this.readOnly) $('connect').focus();
  }

  // Connect and Disconnect follow the session (a read-only view has neither).
  setButtons(connected) {
    if (this.readOnly) return;
    $('connect').disabled = connected;
    $('disconnect').disabled = !connected;
  }

  onSocketClose() {
    if (this.connected) this.onClosed({ reason: 'the connection to the playground was lost' });
    if (this.readOnly) {
      this.status('The connection to the playground was lost.');
      return;
    }
    this.status('The connection to the playground was lost. Press Connect to start again.');
    $('connect').disabled = false;
  }

  // -- explaining a line: click it, or Tab to the console lines and use the arrows and Enter --

  // One line at a time is in the Tab order (a roving tabindex), the selected one or the newest.
  markLine(div) {
    div.tabIndex = -1;
    div.title = 'Show the explanation';
    if (!this.selected) this.setTabStop(div);
  }

  // One console line is the keyboard's way in (tabindex 0); remembered, not searched for,
  // since every new line moves it while nothing is selected.
  setTabStop(div) {
    if (this.tabStop) this.tabStop.tabIndex = -1;
    div.tabIndex = 0;
    this.tabStop = div;
  }

  select(div) {
    if (!div || !div.entry) return;
    this.selected?.classList.remove('selected');
    this.selected = div;
    div.classList.add('selected');
    this.setTabStop(div);
    this.panels.inspect(div.entry);
    if (!this.readOnly) this.updateNoteForm();
  }

  onLineKey(ev) {
    const line = ev.target.closest('.line');
    if (!line) return;
    const lines = [...$('screen').querySelectorAll('.line')].filter((l) => l.entry);
    const at = lines.indexOf(line);
    const moves = { ArrowUp: -1, ArrowDown: 1, Home: -at, End: lines.length - 1 - at };
    if (ev.key === 'Enter' || ev.key === ' ') {
      ev.preventDefault();
      this.select(line);
    } else if (ev.key in moves && at >= 0) {
      ev.preventDefault();
      const next = lines[Math.max(0, Math.min(lines.length - 1, at + moves[ev.key]))];
      this.setTabStop(next);
      next.focus();
    }
  }

  // -- live notes on the selected line ---------------------------------------------------------

  noteSeq() {
    const entry = this.selected?.entry;
    return entry && Number.isInteger(entry.seq) ? entry.seq : null;
  }

  updateNoteForm() {
    const seq = this.noteSeq();
    const line = this.selected ? this.selected.textContent : '';
    $('note-target').textContent = seq === null ? 'Click a line first.' : `On line ${seq}: ${line.slice(0, 60)}`;
    $('note-send').disabled = seq === null || !this.transcript;
  }

  addNote() {
    const text = $('note-text').value.trim();
    const seq = this.noteSeq();
    if (!text || seq === null) return;
    this.conn.send({ type: 'note', seq, text });
    $('note-text').value = '';
  }

  onNote(f) {
    const line = $(`L${f.seq}`);
    if (line) {
      line.classList.add('has-note');
      line.title = `Note: ${f.text}`;
    }
    $('notes')?.append(el('li', { data: { seq: String(f.seq) } }, el('span', { class: 'muted' }, `line ${f.seq}: `), f.text));
  }

  status(text) {
    $('status').textContent = text;
  }

  clear() {
    this.console.clear();
    this.selected = null;
    if (!this.readOnly) this.updateNoteForm();
  }

  async copy(style) {
    const text = this.console.plainText(style);
    try {
      await navigator.clipboard.writeText(text);
      this.status(style === 'swaks' ? 'Copied the session swaks-style (-> sent, <- received).' : 'Copied the session with C: and S: prefixes.');
    } catch {
      this.status('The browser refused the clipboard; select the text and copy it instead.');
    }
  }
}

// The status line follows the state the server's replies made, not the last code alone.
function statusFor(f) {
  const state = f.state || {};
  if (state.closed) return 'The connection is closed.';
  if (state.expect === 'data') return 'Type the message: headers, a blank line, the body; end with a line holding only "."';
  if (state.expect === 'auth-response') return 'The server asks for your credentials: answer in base64 (or * to cancel).';
  if (f.after === 'end-of-data') {
    return f.class === 'positive'
      ? 'The server accepted the message. Start another with MAIL FROM, or say QUIT.'
      : 'The server refused the message. The transaction is over: MAIL FROM starts a new one.';
  }
  const next = state.next_commands || [];
  return next.length ? `Next: ${next.join(', ')}.` : 'Wait for the server.';
}

const encoder = new TextEncoder();
const utf8Size = (text) => encoder.encode(text).length;

// Two messages that say the same, but for case and a final period.
function sameWords(a, b) {
  const norm = (text) => String(text || '').trim().replace(/\.+$/, '').toLowerCase();
  return Boolean(a && b) && norm(a) === norm(b);
}

// The console page boots itself; the classroom's views import App and build their own.
export const app = $('connect-bar') ? new App() : null;
if (app) window.playground = app;
