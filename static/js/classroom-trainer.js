// The trainer's class page (/class/<id>): the join code, link and QR for the projector, the
// steering controls (lesson, restriction, hints, end) and the live dashboard, fed by the
// dashboard socket /ws/class/<id> (docs/classroom.md).

import { $, el } from './dom.js';
import { Connection } from './socket.js';
import { api, classData, refusal, socketUrl, when } from './classroom-api.js';
import { Dashboard } from './classroom-dashboard.js';

const RECONNECT_MS = 2000;

class TrainerPage {
  constructor(id) {
    this.id = id;
    this.klass = null;
    this.ending = null;
    const path = `/class/${encodeURIComponent(id)}`;
    $('broadcast-link').href = `${path}/console`;
    $('follow-link').href = `${path}/follow`;
    $('report-link').href = `${path}/report`;
    this.dashboard = new Dashboard($('dashboard'), $('dash-summary'), { classId: id, onHint: (row) => this.hintTo(row) });
    this.dashboard.addEventListener('rows', (ev) => this.hintChoices(ev.detail));
    this.wire();
    this.load();
  }

  say(text) {
    $('steer-status').textContent = text;
  }

  async load() {
    this.lessons();
    try {
      const { class: klass, students } = await api(`/${encodeURIComponent(this.id)}`);
      this.show(klass);
      this.dashboard.setAll(students);
      this.openSocket();
    } catch (exc) {
      $('class-state').textContent = refusal(exc);
      for (const id of ['projector', 'steer', 'students']) $(id).hidden = true;
    }
  }

  async lessons() {
    try {
      const resp = await fetch('/api/lessons');
      const lessons = await resp.json();
      $('push-lesson').append(...lessons.map((l) => el('option', { value: l.id }, `${l.title} (${l.level})`)));
      if (this.klass) $('push-lesson').value = this.klass.lesson || '';
    } catch {
      this.say('The lessons could not be loaded.');
    }
  }

  show(klass) {
    this.klass = klass;
    const title = klass.title || `Class ${klass.code}`;
    $('class-heading').textContent = title;
    document.title = `${title} — SMTP Playground`;
    $('join-code').textContent = klass.code;
    $('join-link').textContent = klass.join_url;
    $('join-link').href = klass.join_url;
    $('qr').src = klass.qr_url;
    $('qr').alt = `QR code of the join link ${klass.join_url}`;
    $('qr').hidden = false;
    $('push-lesson').value = klass.lesson || '';
    $('restrict-target').value = klass.restrict || '';
    const parts = [`Opened ${when(klass.created_at)} by ${klass.trainer}`, `${klass.students} joined (at most ${klass.max_students})`];
    if (klass.lesson) parts.push(`lesson: ${klass.lesson}`);
    if (klass.restrict) parts.push(`restricted to ${klass.restrict}`);
    if (klass.broadcasting) parts.push('broadcasting');
    if (klass.ended_at) parts.unshift(`Ended ${when(klass.ended_at)}`);
    $('class-state').textContent = `${parts.join(' · ')}.`;
    document.body.dataset.ended = klass.ended_at ? 'yes' : 'no';
    if (klass.ended_at) this.ended();
  }

  ended() {
    for (const form of ['lesson-form', 'restrict-form', 'hint-form']) {
      for (const control of $(form).elements) control.disabled = true;
    }
    $('end-class').disabled = true;
    $('end-class').textContent = 'The class has ended';
  }

  openSocket() {
    const conn = new Connection(socketUrl(`/ws/class/${encodeURIComponent(this.id)}`));
    conn.addEventListener('frame', (ev) => this.onFrame(ev.detail));
    conn.addEventListener('socketclose', () => {
      if (this.klass?.ended_at) return;
      $('dash-summary').textContent = 'The dashboard lost its connection; reconnecting…';
      setTimeout(() => conn.open(), RECONNECT_MS);
    });
    conn.open();
    this.conn = conn;
  }

  onFrame(f) {
    if (f.type === 'dashboard') {
      this.show(f.class);
      this.dashboard.setAll(f.students);
    } else if (f.type === 'student') {
      this.dashboard.update(f.row);
    } else if (f.type === 'class_state') {
      this.show(f.class);
    } else if (f.type === 'error') {
      this.say(f.message);
    }
  }

  hintChoices(rows) {
    const select = $('hint-to');
    const chosen = select.value;
    const options = [...rows].sort((a, b) => a.name.localeCompare(b.name))
      .map((r) => el('option', { value: r.id }, r.name));
    select.replaceChildren(el('option', { value: '' }, 'Everyone'), ...options);
    select.value = rows.some((r) => r.id === chosen) ? chosen : '';
  }

  hintTo(row) {
    $('hint-to').value = row.id;
    $('hint-text').focus();
  }

  async steer(path, body, done) {
    try {
      const result = await api(`/${encodeURIComponent(this.id)}/${path}`, { method: 'POST', body });
      done(result);
    } catch (exc) {
      this.say(exc.message);
    }
  }

  wire() {
    $('lesson-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const lesson = $('push-lesson').value || null;
      const name = $('push-lesson').selectedOptions[0].textContent;
      this.steer('lesson', { lesson }, (klass) => {
        this.show(klass);
        this.say(lesson ? `Pushed the lesson ${name} to everyone.` : 'No lesson now: free play.');
      });
    });
    $('restrict-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const target = $('restrict-target').value || null;
      this.steer('restrict', { target }, (klass) => {
        this.show(klass);
        this.say(target ? `Students may connect to ${target} only.` : 'Students may connect to any target.');
      });
    });
    $('hint-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const text = $('hint-text').value.trim();
      const student = $('hint-to').value || null;
      const to = $('hint-to').selectedOptions[0].textContent;
      if (!text) return;
      this.steer('hint', { text, student }, (r) => {
        $('hint-text').value = '';
        this.say(`Hint sent to ${student ? to : 'everyone'} (${r.sent} reached now).`);
      });
    });
    // Ending takes two presses: the second within a few seconds of the first.
    $('end-class').addEventListener('click', () => {
      if (!this.ending) {
        $('end-class').textContent = 'Press again to end the class for everyone';
        this.say('Ending closes every student\'s session (their transcripts are kept). Press again to end it.');
        this.ending = setTimeout(() => {
          this.ending = null;
          if (!this.klass?.ended_at) $('end-class').textContent = 'End the class';
        }, 8000);
        return;
      }
      clearTimeout(this.ending);
      this.ending = null;
      this.steer('end', {}, (klass) => {
        this.show(klass);
        this.say('The class has ended. The report is ready.');
      });
    });
    // Projector mode: only the join code, link and QR, large. Escape leaves it.
    const toggle = $('projector-toggle');
    const project = (on) => {
      document.body.classList.toggle('projecting', on);
      toggle.setAttribute('aria-pressed', String(on));
      toggle.textContent = on ? 'Back to the dashboard' : 'Show on the projector';
    };
    toggle.addEventListener('click', () => project(!document.body.classList.contains('projecting')));
    document.addEventListener('keydown', (ev) => {
      if (ev.key === 'Escape' && document.body.classList.contains('projecting')) project(false);
    });
  }
}

const data = classData();
window.classroom = new TrainerPage(data.class);
