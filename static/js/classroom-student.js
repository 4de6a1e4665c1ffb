// A student's console in a class (/join/<code>): the console of `/` with a class bar above
// it. Joining is a `class_join` frame on the console's own socket, sent first on every new
// socket (docs/classroom.md); the bar says when the trainer watches, shows the trainer's
// hints (a live region; each is a line in the console too) and links the follow view.

import { $, el } from './dom.js';
import { app } from './app.js';
import { classData, tokens } from './classroom-api.js';

const JOIN_ERRORS = new Set(['bad_code', 'class_ended', 'class_full', 'name_taken', 'bad_name']);

class StudentBar {
  constructor(data) {
    this.data = data;
    this.join = null; // {code, name, token} while in a class
    this.klass = null;
    const saved = data.code ? tokens.get(`join:${data.code}`) : null;
    $('join-code').value = data.code || '';
    $('join-name').value = data.account || saved?.name || '';
    if (data.account) $('join-name').readOnly = true;
    app.conn.first = () => (this.join ? [{ type: 'class_join', ...this.join }] : []);
    app.subscribe((f) => this.onFrame(f));
    $('join-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.start($('join-code').value.trim().toUpperCase(), $('join-name').value.trim(), null);
    });
    $('leave-class').addEventListener('click', () => app.conn.send({ type: 'class_leave' }));
    if (saved?.token) this.start(data.code, saved.name, saved.token);
    else this.showForm();
  }

  say(text) {
    $('class-message').textContent = text;
  }

  showForm() {
    $('join-form').hidden = false;
    $('class-info').hidden = true;
    ($('join-code').value ? $('join-name') : $('join-code')).focus();
  }

  start(code, name, token) {
    if (!code || !name) return;
    this.join = { code, name, token };
    this.say(`Joining class ${code}…`);
    const ws = app.conn.ws;
    if (ws && ws.readyState === WebSocket.OPEN) app.conn.send({ type: 'class_join', ...this.join });
    else app.conn.open(); // first() sends it as soon as the socket is open
  }

  onFrame(f) {
    const handler = {
      class_joined: () => this.joined(f),
      class_hint: () => this.hint(f),
      class_watch: () => this.watched(f),
      class_state: () => this.state(f),
      class_ended: () => this.ended(f),
      class_left: () => this.left(f),
      error: () => this.error(f),
    }[f.type];
    if (handler) handler();
  }

  joined(f) {
    const k = f.class;
    this.klass = k;
    this.join = { code: k.code, name: f.student.name, token: f.token };
    tokens.set({ [k.id]: f.token, [`code:${k.id}`]: k.code, [`join:${k.code}`]: { token: f.token, name: f.student.name } });
    $('class-title').textContent = k.title || k.code;
    $('class-code').textContent = k.code;
    $('class-me').textContent = f.student.name;
    $('follow-link').href = `/class/${encodeURIComponent(k.id)}/follow`;
    $('join-form').hidden = true;
    $('class-info').hidden = false;
    document.body.dataset.classStudent = f.student.id;
    this.showState(k);
    this.say(`You are in the class as ${f.student.name}. Only the trainer sees your console.`);
  }

  hint(f) {
    const from = f.from ? `Hint from ${f.from}` : 'Hint from the trainer';
    const scope = f.to === 'all' ? ' (to everyone)' : '';
    const latest = $('hint-latest');
    if (latest.textContent) {
      $('hint-list').prepend(el('li', {}, latest.textContent));
      $('hint-earlier').hidden = false;
    }
    $('hints').hidden = false;
    latest.textContent = `${from}${scope}: ${f.text}`;
    app.console.line(`* ${from}${scope}: ${f.text}`, 'info', { cls: ['class-hint'] });
  }

  watched(f) {
    document.body.dataset.watched = f.watching ? 'yes' : 'no';
    $('watching').textContent = f.watching ? 'The trainer is watching your console.' : '';
  }

  state(f) {
    const before = this.klass || {};
    const now = { ...before, lesson: f.lesson, restrict: f.restrict, broadcasting: f.broadcasting };
    this.klass = now;
    this.showState(now);
    if (f.restrict !== before.restrict) this.say(f.restrict ? `The trainer restricted the class to ${f.restrict}.` : 'The trainer lifted the restriction: any target again.');
    else if (f.lesson !== before.lesson) this.say(f.lesson ? 'The trainer started a lesson for everyone: see the Lesson panel.' : 'The trainer stopped the lesson.');
    else if (f.broadcasting !== before.broadcasting) this.say(f.broadcasting ? 'The trainer is broadcasting: follow their screen with the link above.' : 'The trainer stopped broadcasting.');
  }

  showState(k) {
    $('follow-link').hidden = !k.broadcasting;
    if (k.restrict) {
      const option = [...$('target').options].find((o) => o.value === k.restrict);
      if (option) $('target').value = k.restrict;
    }
  }

  ended(f) {
    this.join = null;
    document.body.dataset.classEnded = 'yes';
    $('class-info').hidden = true;
    $('watching').textContent = '';
    this.say(`${f.message} Your transcripts are kept; the console goes on as a plain console.`);
  }

  left(f) {
    this.join = null;
    $('watching').textContent = '';
    this.say(f.message);
    this.showForm();
  }

  error(f) {
    if (f.code === 'class_restricted') this.say(f.message);
    if (!JOIN_ERRORS.has(f.code)) return;
    if (this.join?.token) tokens.set({ [`join:${this.join.code}`]: null });
    this.join = null;
    this.say(f.message);
    this.showForm();
  }
}

window.classroomStudent = new StudentBar(classData());
