// The read-only console views of a class: watching one student (/class/<id>/watch/<student>,
// the dashboard socket's watch) and following the trainer's broadcast (/class/<id>/follow,
// the follow socket). Both are the console's own App, read-only, fed the watched console's
// frames: the panels show what the student's (or trainer's) panels show.

import { $ } from './dom.js';
import { App } from './app.js';
import { Connection } from './socket.js';
import { api, classData, refusal, socketUrl, tokens } from './classroom-api.js';

const RECONNECT_MS = 2000;

// A socket that looks like the console's Connection to App: it emits the watched console's
// frames as `frame` events (a snapshot first resets the view) and sends nothing for App.
class ConsoleFeed extends EventTarget {
  constructor(url, hello, source, onMeta, ready = Promise.resolve()) {
    super();
    this.ready = ready;
    this.source = source;
    this.onMeta = onMeta;
    this.inner = new Connection(url);
    this.inner.first = () => [hello()];
    this.inner.addEventListener('frame', (ev) => this.onFrame(ev.detail));
    this.inner.addEventListener('socketclose', (ev) => {
      this.dispatchEvent(new CustomEvent('socketclose', { detail: ev.detail }));
      if (!this.closed) setTimeout(() => this.inner.open(), RECONNECT_MS);
    });
  }

  // The socket opens once the page knows it may (a watch asks the class API first, so a
  // refusal is said in words rather than as a handshake that fails).
  open() {
    this.ready.then(() => this.inner.open(), () => { this.closed = true; });
  }

  send() {
    // Read-only: nothing typed here reaches the watched session.
  }

  emit(frame) {
    this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
  }

  onFrame(f) {
    if (f.type === 'console_snapshot' && f.source === this.source) {
      this.dispatchEvent(new CustomEvent('reset'));
      for (const frame of f.frames) this.emit(frame);
    } else if (f.type === 'console' && f.source === this.source) {
      this.emit(f.frame);
    } else if (f.type === 'overflow' && f.source === this.source) {
      this.onMeta(f);
      this.inner.send(this.resync());
    } else {
      this.onMeta(f);
    }
  }
}

class ClassView {
  constructor(data) {
    this.data = data;
    const id = encodeURIComponent(data.class);
    if (data.page === 'watch') {
      const allowed = api(`/${id}`).catch((exc) => {
        this.state(refusal(exc));
        throw exc;
      });
      this.feed = new ConsoleFeed(socketUrl(`/ws/class/${id}`), () => ({ type: 'watch', student: data.student }),
        data.student, (f) => this.onWatchMeta(f), allowed);
      this.feed.resync = () => ({ type: 'watch', student: data.student });
    } else {
      const token = tokens.get(data.class);
      this.feed = new ConsoleFeed(socketUrl(`/ws/class/${id}/follow`), () => (token ? { type: 'follow', token } : { type: 'follow' }),
        'trainer', (f) => this.onFollowMeta(f));
      this.feed.resync = () => (token ? { type: 'follow', token } : { type: 'follow' });
      if (token) $('view-back').href = `/join/${encodeURIComponent(tokens.get(`code:${data.class}`) || '')}`;
    }
    this.app = new App({ conn: this.feed, readOnly: true });
    this.feed.addEventListener('reset', () => this.reset());
    this.feed.addEventListener('socketclose', () => this.state('The connection was lost; reconnecting…'));
  }

  state(text) {
    $('view-state').textContent = text;
  }

  reset() {
    this.app.clear();
    this.app.panels.reset();
    this.app.anchors.clear();
    this.app.status('Live: the console as it is now, and every line from here on.');
  }

  onWatchMeta(f) {
    if (f.type === 'dashboard') {
      const row = f.students.find((r) => r.id === this.data.student);
      if (row) this.showStudent(row);
    } else if (f.type === 'student' && f.row.id === this.data.student) {
      this.showStudent(f.row);
    } else if (f.type === 'overflow') {
      this.state(`This view fell behind (${f.dropped} frames dropped); asking for the console again.`);
    } else if (f.type === 'error') {
      this.state(f.message);
    }
  }

  showStudent(row) {
    $('view-heading').textContent = `Watching ${row.name}`;
    document.title = `Watching ${row.name} — SMTP Playground`;
    const presence = row.connected ? 'connected' : row.presence || 'not connected';
    this.state(`Read-only, live. ${row.name} is ${presence}${row.session ? `, session ${row.session}` : ''}; they see that you are watching.`);
  }

  onFollowMeta(f) {
    if (f.type === 'class_state') {
      const k = f.class;
      const title = k.title || `class ${k.code}`;
      $('view-heading').textContent = `Following the trainer of ${title}`;
      this.state(k.broadcasting ? 'Read-only, live: the trainer\'s console as they type.' : 'The trainer is not broadcasting now; their console appears here when they do.');
    } else if (f.type === 'class_ended') {
      this.feed.closed = true;
      this.state(f.message);
    } else if (f.type === 'overflow') {
      this.state(`This view fell behind (${f.dropped} frames dropped); asking for the console again.`);
    } else if (f.type === 'error') {
      this.feed.closed = f.code === 'bad_token';
      this.state(f.code === 'bad_token' ? `${f.message} Join the class first (the link on the projector).` : f.message);
    }
  }
}

window.classroom = new ClassView(classData());
