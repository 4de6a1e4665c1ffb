// The terminal-style console: a DOM line per line of the session, and an input line with
// history. Text from servers is untrusted: it is only ever written with textContent.

import { visible } from './dom.js';

// v2: the first version kept pasted AUTH answers (the lines after an AUTH LOGIN in one
// paste); its key is removed on load, so what it may hold leaves the browser.
const HISTORY_KEY = 'smtp-playground-history-v2';
const OLD_HISTORY_KEYS = ['smtp-playground-history'];
const HISTORY_MAX = 200;
const PASTE_HISTORY_MAX = 20; // longer pastes are messages, not commands to recall
const AWAITING_MAX = 64; // lines waiting for their echo (a pipelined paste, a held line)
const PREFIXES = {
  cs: { sent: 'C: ', reply: 'S: ', note: '' },
  swaks: { sent: ' -> ', reply: '<-  ', sentTls: ' ~> ', replyTls: '<~  ', note: '=== ' },
};

export class Console extends EventTarget {
  constructor(screen, input, prompt) {
    super();
    this.screen = screen;
    this.input = input;
    this.prompt = prompt;
    this.history = loadHistory();
    this.historyIndex = this.history.length;
    this.draft = '';
    this.secret = false;
    this.awaiting = []; // submitted lines that may become history once their echo says so
    this.input.addEventListener('keydown', (ev) => this.onKey(ev));
    this.input.addEventListener('paste', (ev) => this.onPaste(ev));
  }

  onKey(ev) {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      this.submit([this.input.value]);
    } else if (ev.key === 'ArrowUp') {
      ev.preventDefault();
      this.recall(-1);
    } else if (ev.key === 'ArrowDown') {
      ev.preventDefault();
      this.recall(1);
    } else if (ev.key === 'u' && ev.ctrlKey) {
      ev.preventDefault();
      this.input.value = '';
    }
  }

  onPaste(ev) {
    const text = ev.clipboardData ? ev.clipboardData.getData('text') : '';
    if (!/[\r\n]/.test(text)) return;
    ev.preventDefault();
    const lines = text.replace(/\r\n?/g, '\n').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    lines[0] = this.input.value + lines[0];
    this.submit(lines);
  }

  submit(lines) {
    this.input.value = '';
    // A typed line or a pasted handful of commands may go into the history; a pasted
    // message does not (its lines are no commands to recall, and would push every
    // command out).
    if (lines.length <= PASTE_HISTORY_MAX) {
      for (const line of lines) this.waitForEcho(line);
    }
    this.historyIndex = this.history.length;
    this.draft = '';
    this.dispatchEvent(new CustomEvent('lines', { detail: lines }));
  }

  // The history lives in localStorage, so only commands go there, and the browser does not
  // decide what a line is: the playground does, from the replies so far (a line after a
  // 334 is a SASL answer, after a 354 message text, whatever it looks like) and says so in
  // the line's echo. A line waits here until its echo; ``sent`` keeps it if the echo is a
  // command with the text as typed (credentials are redacted in the echo, so never match).
  // A line typed after a 334, or AUTH with an initial response, waits as a blank (null):
  // its text is never kept, even here, and its echo still passes it.
  waitForEcho(line) {
    if (!line.trim()) return;
    const secret = this.secret || /^\s*AUTH\s+\S+\s+\S+/i.test(line);
    this.awaiting.push(secret ? null : line);
    if (this.awaiting.length > AWAITING_MAX) this.awaiting.shift();
  }

  // A ``sent`` frame's echo (kind: command | data | auth-response; its lines: one line's
  // text, or a message's lines). Echoes come in the order the lines were submitted; a line
  // never echoed (held back, refused) is passed over when a later one is.
  sent(kind, texts) {
    if (kind !== 'command') { // SASL answers or message text: forgotten (blank ones never waited)
      for (const text of texts) {
        // Message text comes back as it was typed; a message the helper sent never waited.
        if (!text.trim() || (kind === 'data' && this.awaiting[0] !== text)) continue;
        this.awaiting.shift();
      }
      return;
    }
    const text = texts[0];
    const at = this.awaiting.indexOf(text);
    if (at < 0) return; // not typed here (another tab's session), or redacted
    this.awaiting.splice(0, at + 1);
    if (this.history[this.history.length - 1] === text) return;
    const atEnd = this.historyIndex >= this.history.length; // not browsing the history
    this.history.push(text);
    if (this.history.length > HISTORY_MAX) this.history.shift();
    saveHistory(this.history);
    if (atEnd) this.historyIndex = this.history.length;
  }

  // A new session: what waited for an echo from the last one never gets it.
  forgetAwaiting() {
    this.awaiting = [];
  }

  recall(step) {
    if (this.historyIndex === this.history.length) this.draft = this.input.value;
    const next = Math.min(this.history.length, Math.max(0, this.historyIndex + step));
    this.historyIndex = next;
    this.input.value = next === this.history.length ? this.draft : this.history[next];
    const end = this.input.value.length;
    this.input.setSelectionRange(end, end);
  }

  // Append one line. kind: sent | reply | info | error | warning; cls: extra classes.
  line(text, kind, options = {}) {
    return this.lines([text], kind, () => options)[0];
  }

  // Append several lines at once: options(i) gives line i's { cls, seq, data }. One layout
  // read and one scroll for the lot; reading the scroll position after every appended line
  // forced a layout each time, which made a pasted message take seconds to show. With
  // `after` (a line element), they go right under it instead of at the end.
  lines(texts, kind, options, after = null) {
    const stick = this.atBottom();
    const batch = document.createDocumentFragment();
    const divs = texts.map((text, i) => {
      const { cls = [], seq = null, data = null } = options(i);
      const div = document.createElement('div');
      div.className = ['line', kind, ...cls].join(' ');
      div.textContent = text === '' ? '\u00a0' : visible(text);
      if (seq !== null) {
        div.dataset.seq = String(seq);
        div.id = `L${seq}`;
      }
      if (data) div.entry = data;
      batch.append(div);
      return div;
    });
    if (after && after.parentNode === this.screen) after.after(batch);
    else this.screen.append(batch);
    if (stick) this.screen.scrollTop = this.screen.scrollHeight;
    return divs;
  }

  atBottom() {
    const s = this.screen;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 40;
  }

  setEnabled(on, placeholder) {
    this.input.disabled = !on;
    if (placeholder !== undefined) this.input.placeholder = placeholder;
    if (on) this.input.focus();
  }

  setPrompt(text) {
    this.prompt.textContent = text;
  }

  // The screen as text. "cs": C: before sent lines, S: before replies (the RFC 5321
  // examples' style); "swaks": " -> " sent, "<-  " received, "~>"/"<~" once TLS is on, and
  // "=== " before the playground's own notes, the way swaks prints a session.
  plainText(style = 'cs') {
    const prefix = PREFIXES[style] || PREFIXES.cs;
    return [...this.screen.querySelectorAll('.line')].map((div) => {
      const kind = ['sent', 'reply'].find((k) => div.classList.contains(k)) || 'note';
      const enc = div.classList.contains('enc') && prefix[`${kind}Tls`] ? `${kind}Tls` : kind;
      return prefix[enc] + div.textContent.replace(/\u00a0/g, '');
    }).join('\n');
  }

  clear() {
    this.screen.replaceChildren();
  }
}

function loadHistory() {
  try {
    for (const key of OLD_HISTORY_KEYS) localStorage.removeItem(key);
    const saved = JSON.parse(localStorage.getItem(HISTORY_KEY) || '[]');
    return Array.isArray(saved) ? saved.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

function saveHistory(history) {
  try {
    localStorage.setItem(HISTORY_KEY, JSON.stringify(history));
  } catch {
    // Private windows may refuse storage; history then lasts for the page only.
  }
}
