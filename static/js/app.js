// The console page: wires the connection bar, the console and the guide panels together.

import { Connection, batches } from './socket.js';
import { Console } from './console.js';

const $ = (id) => document.getElementById(id);

const REPLY_CLASS = { 2: 'r2xx', 3: 'r3xx', 4: 'r4xx', 5: 'r5xx' };

class App {
  constructor() {
    this.conn = new Connection();
    this.console = new Console($('screen'), $('input'), $('prompt'));
    this.connected = false;
    this.transcript = null;
    this.listeners = [];
    this.handlers = {
      session: (f) => this.onSession(f),
      connected: (f) => this.onConnected(f),
      sent: (f) => this.onSent(f),
      reply: (f) => this.onReply(f),
      tls: (f) => this.onTls(f),
      discarded: (f) => this.console.line(`! ${f.message}`, 'warning', { seq: f.seq }),
      error: (f) => this.onError(f),
      closed: (f) => this.onClosed(f),
    };
    $('connect-bar').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.connect();
    });
    $('disconnect').addEventListener('click', () => this.conn.send({ type: 'close' }));
    $('copy').addEventListener('click', () => this.copy());
    $('clear').addEventListener('click', () => this.console.clear());
    this.console.addEventListener('lines', (ev) => this.sendLines(ev.detail));
    this.conn.addEventListener('frame', (ev) => this.onFrame(ev.detail));
    this.conn.addEventListener('socketclose', () => this.onSocketClose());
    this.conn.open();
  }

  // Other modules (panels, lessons) subscribe to every frame.
  subscribe(fn) {
    this.listeners.push(fn);
  }

  connect() {
    const target = $('target').value;
    this.status(`Connecting to ${$('target').selectedOptions[0].textContent}…`);
    $('connect').disabled = true;
    this.console.line(`* connecting to ${target}`, 'info');
    this.conn.send({ type: 'connect', target });
  }

  sendLines(lines) {
    if (!this.connected) {
      this.console.line('! Not connected: press Connect first.', 'error');
      return;
    }
    if (lines.length === 1) {
      this.conn.send({ type: 'line', text: lines[0] });
    } else {
      for (const batch of batches(lines)) this.conn.send({ type: 'lines', lines: batch });
    }
  }

  onFrame(frame) {
    const handler = this.handlers[frame.type];
    if (handler) handler(frame);
    for (const fn of this.listeners) fn(frame);
  }

  onSession(f) {
    this.transcript = f.transcript;
    document.body.dataset.transcript = f.transcript;
  }

  onConnected(f) {
    this.connected = true;
    this.console.line(`* connected to ${f.host} port ${f.port} (${f.address})`, 'info', { seq: f.seq });
    this.status(`Connected to ${f.host}:${f.port}. Wait for the 220 greeting, then say EHLO.`);
    $('disconnect').disabled = false;
    this.console.setEnabled(true, 'Type an SMTP command, e.g. EHLO client.example');
  }

  onSent(f) {
    const cls = f.kind === 'data' ? ['data'] : f.kind === 'auth-response' ? ['auth'] : [];
    this.console.line(f.text, 'sent', { cls, seq: f.seq, data: f });
  }

  onReply(f) {
    const cls = [REPLY_CLASS[Math.floor((f.code || 0) / 100)] || 'rbad'];
    if (f.malformed) cls.push('malformed');
    f.lines.forEach((text, i) => {
      this.console.line(text, 'reply', { cls, seq: i === 0 ? f.seq : null, data: f });
    });
    if (f.malformed) this.console.line(`! malformed reply: ${f.malformed}`, 'warning');
    this.console.secret = f.code === 334;
    const inData = f.code === 354;
    this.console.setPrompt(inData ? 'DATA>' : f.code === 334 ? 'AUTH>' : '>');
    if (inData) this.status('Type the message: headers, a blank line, the body; end with a line holding only "."');
  }

  onTls(f) {
    const who = f.subject || 'the server';
    this.console.line(`* TLS ${f.version} ${f.cipher} with ${who}${f.verified ? '' : ' (NOT verified)'}`, 'info', { seq: f.seq });
    this.status(`TLS is on (${f.version}). Send EHLO again: what the server said before TLS no longer counts.`);
  }

  onError(f) {
    this.console.line(`! ${f.message}`, 'error', { seq: f.seq ?? null });
    if (!this.connected) $('connect').disabled = false;
  }

  onClosed(f) {
    this.connected = false;
    this.console.line(`* connection closed: ${f.reason}`, 'info', { seq: f.seq });
    this.status(`Closed: ${f.reason}.`);
    this.console.setEnabled(false, 'Not connected');
    this.console.setPrompt('>');
    $('connect').disabled = false;
    $('disconnect').disabled = true;
  }

  onSocketClose() {
    if (this.connected) this.onClosed({ reason: 'the connection to the playground was lost' });
    this.status('The connection to the playground was lost. Press Connect to start again.');
    $('connect').disabled = false;
  }

  status(text) {
    $('status').textContent = text;
  }

  async copy() {
    const text = this.console.plainText();
    try {
      await navigator.clipboard.writeText(text);
      this.status('Copied the session as plain text.');
    } catch {
      this.status('The browser refused the clipboard; select the text and copy it instead.');
    }
  }
}

export const app = new App();
window.playground = app;
