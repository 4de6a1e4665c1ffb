// Helpers: an AUTH encoder (PLAIN, LOGIN, CRAM-MD5, computed here in the browser), templates
// for the next command, and a message template with a correct Date and Message-ID.

import { el, pageData } from './dom.js';

// The sandbox's names and demo login, as the server knows them (smtp_session/sandbox/scenarios.py).
const sandbox = () => pageData('sandbox-data') || {};

// -- encodings --------------------------------------------------------------------------------

const utf8 = (text) => new TextEncoder().encode(text);
const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');

export function b64(data) {
  const bytes = typeof data === 'string' ? utf8(data) : data;
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary);
}

// RFC 1321. WebCrypto has no MD5, and CRAM-MD5 needs it (RFC 2195).
const SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);
const ROUNDS = [
  (b, c, d, i) => [(b & c) | (~b & d), i],
  (b, c, d, i) => [(d & b) | (~d & c), (5 * i + 1) % 16],
  (b, c, d, i) => [b ^ c ^ d, (3 * i + 5) % 16],
  (b, c, d, i) => [c ^ (b | ~d), (7 * i) % 16],
];

export function md5(bytes) {
  const n = bytes.length;
  const padded = new Uint8Array(Math.ceil((n + 9) / 64) * 64);
  padded.set(bytes);
  padded[n] = 0x80;
  const view = new DataView(padded.buffer);
  view.setUint32(padded.length - 8, (n * 8) >>> 0, true);
  view.setUint32(padded.length - 4, Math.floor(n / 0x20000000), true);
  const h = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
  for (let off = 0; off < padded.length; off += 64) {
    let [a, b, c, d] = h;
    for (let i = 0; i < 64; i++) {
      const [f, g] = ROUNDS[i >> 4](b, c, d, i);
      const sum = (f + a + K[i] + view.getUint32(off + g * 4, true)) >>> 0;
      const s = SHIFTS[(i >> 4) * 4 + (i % 4)];
      [a, d, c] = [d, c, b];
      b = (b + ((sum << s) | (sum >>> (32 - s)))) >>> 0;
    }
    [a, b, c, d].forEach((v, i) => { h[i] = (h[i] + v) >>> 0; });
  }
  const out = new Uint8Array(16);
  const outView = new DataView(out.buffer);
  h.forEach((v, i) => outView.setUint32(i * 4, v, true));
  return out;
}

// RFC 2104 with MD5 (block size 64).
export function hmacMd5(key, message) {
  let k = typeof key === 'string' ? utf8(key) : key;
  if (k.length > 64) k = md5(k);
  const block = new Uint8Array(64);
  block.set(k);
  const pad = (x) => block.map((b) => b ^ x);
  const msg = typeof message === 'string' ? utf8(message) : message;
  const inner = md5(Uint8Array.from([...pad(0x36), ...msg]));
  return md5(Uint8Array.from([...pad(0x5c), ...inner]));
}

// RFC 4616: authzid NUL authcid NUL password (an empty authzid: act as yourself).
export const authPlain = (user, password) => b64(`\0${user}\0${password}`);
// RFC 2195: "user hexdigest", base64 encoded.
export const cramMd5 = (user, password, challenge) => b64(`${user} ${hex(hmacMd5(password, challenge))}`);

// -- templates --------------------------------------------------------------------------------

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n) => String(n).padStart(2, '0');

// RFC 5322 §3.3: "Mon, 1 Jan 2024 10:00:00 +0100", local time with its offset.
export function rfc5322Date(d = new Date()) {
  const off = -d.getTimezoneOffset();
  const zone = `${off < 0 ? '-' : '+'}${two(Math.floor(Math.abs(off) / 60))}${two(Math.abs(off) % 60)}`;
  const time = `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  return `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${time} ${zone}`;
}

// RFC 5322 §3.6.4: unique left part "@" a domain of ours.
export function messageId(domain = sandbox().client_hostname) {
  const random = hex(crypto.getRandomValues(new Uint8Array(8)));
  return `<${Date.now().toString(36)}.${random}@${domain}>`;
}

export function messageTemplate(from = sandbox().sender, to = sandbox().recipient) {
  return [
    `From: Alice <${from}>`,
    `To: <${to}>`,
    'Subject: Hello from the SMTP Playground',
    `Date: ${rfc5322Date()}`,
    `Message-ID: ${messageId(from.split('@')[1] || sandbox().client_hostname)}`,
    '',
    'Hi,',
    '',
    'this message was typed by hand, one SMTP line at a time.',
  ].join('\n');
}

// The line each next-command button puts in the input.
const TEMPLATES = {
  EHLO: () => `EHLO ${sandbox().client_hostname}`,
  HELO: () => `HELO ${sandbox().client_hostname}`,
  MAIL: () => `MAIL FROM:<${sandbox().sender}>`,
  RCPT: () => `RCPT TO:<${sandbox().recipient}>`,
  DATA: () => 'DATA',
  BDAT: () => 'BDAT 0 LAST',
  STARTTLS: () => 'STARTTLS',
  AUTH: (state) => (state.capability_params?.AUTH || []).includes('PLAIN') ? `AUTH PLAIN ${authPlain(sandbox().demo_user, sandbox().demo_password)}` : 'AUTH LOGIN',
  VRFY: () => `VRFY ${sandbox().recipient.split('@')[0]}`,
  HELP: () => 'HELP',
  NOOP: () => 'NOOP',
  RSET: () => 'RSET',
  QUIT: () => 'QUIT',
};

// The user's message with the Date and Message-ID header lines of ``fresh`` put in their place
// (in the header section only; lines the user removed stay removed).
function restamp(text, fresh) {
  const stamp = Object.fromEntries(fresh.split('\n').filter((l) => /^(Date|Message-ID):/i.test(l))
    .map((l) => [l.split(':')[0].toLowerCase(), l]));
  const lines = text.split('\n');
  const end = lines.indexOf('');
  return lines.map((l, i) => {
    const name = l.split(':')[0].toLowerCase();
    return (end < 0 || i < end) && stamp[name] ? stamp[name] : l;
  }).join('\n');
}

export const templateFor = (verb, state = {}) => (TEMPLATES[verb] ? TEMPLATES[verb](state) : verb);

// -- the panel --------------------------------------------------------------------------------

const field = (label, input) => el('label', { class: 'field' }, el('span', {}, label), input);

// RFC 3030 §2: a chunk is exactly its octets; mail lines end in CRLF.
export const chunkOctets = (text) => text.replace(/\r\n?/g, '\n').split('\n').join('\r\n');

export class Helpers {
  constructor(root, { insert, sendLines, sendChunk = () => {} }) {
    this.root = root;
    this.insert = insert;
    this.sendLines = sendLines;
    this.sendChunk = sendChunk;
    this.state = {};
    const { demo_user: demoUser, demo_password: demoPassword } = sandbox();
    this.user = el('input', { type: 'text', value: demoUser, 'aria-label': 'User name', spellcheck: 'false' });
    this.password = el('input', { type: 'text', value: demoPassword, 'aria-label': 'Password', spellcheck: 'false' });
    this.mech = el('select', { 'aria-label': 'Mechanism' }, ['PLAIN', 'LOGIN', 'CRAM-MD5'].map((m) => el('option', { value: m }, m)));
    this.challenge = el('input', { type: 'text', 'aria-label': 'CRAM-MD5 challenge (decoded)', placeholder: 'filled in from the last 334' });
    this.out = el('div', { class: 'auth-out', 'aria-live': 'polite' });
    for (const input of [this.user, this.password, this.challenge]) input.addEventListener('input', () => this.update());
    this.mech.addEventListener('change', () => this.encode());
    this.message = el('textarea', { rows: 9, spellcheck: 'false', 'aria-label': 'Message to send after DATA' });
    this.message.value = messageTemplate();
    // Once the user has edited the message it is theirs: the 354 no longer refills it.
    this.edited = false;
    this.message.addEventListener('input', () => { this.edited = true; });
    this.sendButton = el('button', { type: 'button', disabled: true, on: { click: () => this.sendMessage() } }, 'Send message and "."');
    this.chunk = el('textarea', { rows: 6, spellcheck: 'false', 'aria-label': 'BDAT chunk to send' });
    this.chunk.value = 'Subject: Sent in chunks\n\nHello from BDAT.\n';
    this.chunkLast = el('input', { type: 'checkbox', checked: true, 'aria-label': 'Last chunk (LAST)' });
    this.chunkCommand = el('code', { data: { out: 'bdat' } });
    this.chunkButton = el('button', { type: 'button', disabled: true, on: { click: () => this.sendChunkNow() } }, 'Send chunk');
    for (const input of [this.chunk, this.chunkLast]) input.addEventListener('input', () => this.countChunk());
    root.append(
      el('h2', {}, 'Helpers'),
      el('details', { class: 'helper', open: true, data: { helper: 'auth' } }, el('summary', {}, 'AUTH encoder'),
        el('div', { class: 'fields' }, field('Mechanism', this.mech), field('User', this.user), field('Password', this.password)),
        el('p', { class: 'muted' }, `Computed in your browser. The sandbox wants TLS first (STARTTLS, then EHLO); its demo login is ${demoUser} / ${demoPassword}.`),
        this.out),
      el('details', { class: 'helper', data: { helper: 'message' } }, el('summary', {}, 'Message template'),
        el('p', { class: 'muted' }, 'Headers, a blank line, the body (RFC 5322). Send DATA first; lines starting with "." are doubled (RFC 5321 §4.5.2).'),
        this.message,
        el('p', { class: 'buttons' }, this.sendButton,
          el('button', { type: 'button', class: 'secondary', on: { click: () => this.refreshMessage() } }, 'New Date and Message-ID'))),
      el('details', { class: 'helper', data: { helper: 'chunk' } }, el('summary', {}, 'BDAT chunk'),
        el('p', { class: 'muted' }, 'When EHLO offers CHUNKING (RFC 3030): type or paste the chunk; the playground counts its octets (line breaks become CRLF) and sends BDAT with exactly that count, then the octets. No dot rules apply.'),
        this.chunk,
        el('label', { class: 'field inline' }, this.chunkLast, el('span', {}, 'Last chunk (LAST): the message ends with it')),
        el('p', { class: 'out-line' }, el('span', { class: 'muted' }, 'Will send: '), this.chunkCommand),
        el('p', { class: 'buttons' }, this.chunkButton)),
    );
    this.encode();
    this.countChunk();
  }

  outputLine(label, make, field) {
    const code = el('code', { data: { out: field } });
    this.outputs.push([code, make]);
    return el('div', { class: 'out-line' }, el('span', { class: 'muted' }, label), code,
      el('button', { type: 'button', class: 'small secondary', title: 'Put this line in the input', on: { click: () => this.insert(make()) } }, 'Insert'));
  }

  // Rebuilt when the mechanism changes; typing only refreshes the computed lines.
  encode() {
    const user = () => this.user.value;
    const pw = () => this.password.value;
    this.outputs = [];
    const lines = {
      PLAIN: () => [this.outputLine('One line; the initial response is base64 of "\\0user\\0password":', () => `AUTH PLAIN ${authPlain(user(), pw())}`, 'plain')],
      LOGIN: () => [this.outputLine('1. Start:', () => 'AUTH LOGIN', 'login'),
        this.outputLine('2. After "334 Username:":', () => b64(user()), 'login-user'),
        this.outputLine('3. After "334 Password:":', () => b64(pw()), 'login-password')],
      'CRAM-MD5': () => [this.outputLine('1. Start:', () => 'AUTH CRAM-MD5', 'cram'), field('2. Challenge', this.challenge),
        this.outputLine('3. Answer, base64 of "user HMAC-MD5(password, challenge)":', () => cramMd5(user(), pw(), this.challenge.value), 'cram-response')],
    }[this.mech.value]();
    this.out.replaceChildren(...lines);
    this.update();
  }

  update() {
    for (const [code, make] of this.outputs) code.textContent = make();
  }

  // Follow the session: the state enables the message button, a 334 fills the challenge.
  show(frame) {
    if (frame.state) {
      this.state = frame.state;
      this.sendButton.disabled = !frame.state.in_data;
      const s = frame.state;
      this.chunkButton.disabled = s.closed || !(s.capabilities || []).includes('CHUNKING') || !(s.accepted_recipients || []).length;
      if (frame.type === 'reply' && frame.code === 354 && !this.edited) this.refreshMessage();
    }
    const challenge = frame.explain?.facts?.challenge;
    if (frame.type === 'reply' && frame.code === 334 && challenge) {
      this.challenge.value = challenge;
      this.update();
    }
  }

  countChunk() {
    const size = utf8(chunkOctets(this.chunk.value)).length;
    this.chunkCommand.textContent = `BDAT ${size}${this.chunkLast.checked ? ' LAST' : ''}`;
  }

  sendChunkNow() {
    this.sendChunk(chunkOctets(this.chunk.value), this.chunkLast.checked);
  }

  refreshMessage() {
    const s = this.state;
    const fresh = messageTemplate(s.mail_from || undefined, (s.accepted_recipients || [])[0]);
    this.message.value = this.edited ? restamp(this.message.value, fresh) : fresh;
  }

  sendMessage() {
    const lines = this.message.value.replace(/\r\n?/g, '\n').split('\n').map((l) => (l.startsWith('.') ? `.${l}` : l));
    this.sendLines([...lines, '.']);
    this.sendButton.disabled = true;
  }
}
