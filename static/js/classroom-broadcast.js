// The trainer's own console, broadcast to the class's follow view (/class/<id>/console): the
// console of `/` with a toggle that sends `class_broadcast` (docs/classroom.md), again on
// every new socket while it is on.

import { $ } from './dom.js';
import { app } from './app.js';
import { classData } from './classroom-api.js';

class Broadcast {
  constructor(classId) {
    this.classId = classId;
    this.on = false;
    app.conn.first = () => (this.on ? [this.frame()] : []);
    $('broadcast-toggle').addEventListener('click', () => this.set(!this.on));
    app.subscribe((f) => this.onFrame(f));
  }

  frame() {
    return { type: 'class_broadcast', class: this.classId, on: this.on };
  }

  set(on) {
    this.on = on;
    app.conn.send(this.frame());
    this.show(on ? 'Broadcasting: every student who opens the follow view sees this console live.' : 'Not broadcasting: the students\' follow view shows nothing.');
  }

  show(text) {
    $('broadcast-toggle').setAttribute('aria-pressed', String(this.on));
    $('broadcast-toggle').textContent = this.on ? 'Stop broadcasting' : 'Broadcast this console';
    $('broadcast-state').textContent = text;
  }

  onFrame(f) {
    if (f.type === 'error' && ['not_trainer', 'not_found', 'class_ended'].includes(f.code)) {
      this.on = false;
      this.show(f.message);
    } else if (f.type === 'class_ended') {
      this.on = false;
      this.show(f.message);
    }
  }
}

window.classroomBroadcast = new Broadcast(classData().class);
