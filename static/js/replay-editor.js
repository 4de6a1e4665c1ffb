// Editing on the replay page, for whoever holds the edit token (or owns the transcript):
// title and description, notes on a line or on the whole transcript (add, edit, delete),
// and, with access control, who may see it. Every text goes in with textContent or .value.

import { $, el } from './dom.js';
import { api } from './transcripts.js';

export class Editor {
  constructor(replay) {
    this.replay = replay;
    $('editor').hidden = false;
    const meta = replay.data.transcript;
    $('edit-title').value = meta.title || '';
    $('edit-description').value = meta.description || '';
    $('meta-form').addEventListener('submit', (ev) => this.saveMeta(ev));
    $('note-form').addEventListener('submit', (ev) => this.addNote(ev));
    $('visibility-form').addEventListener('submit', (ev) => this.saveVisibility(ev));
    this.showVisibility(replay.data.access);
  }

  path(suffix = '') {
    return `/${encodeURIComponent(this.replay.id)}${suffix}`;
  }

  call(path, method, body) {
    return api(path, { method, token: this.replay.token, body });
  }

  async edit(action, done) {
    try {
      await action();
      $('edit-status').textContent = done;
    } catch (err) {
      $('edit-status').textContent = `Not saved: ${err.message}`;
    }
  }

  // The note form follows the selected line; with none, only the whole transcript is offered.
  follow(entry) {
    const onLine = $('note-on-line');
    $('note-target').textContent = entry ? `Note on line ${entry.seq}` : 'Note on a line (select one first)';
    onLine.disabled = !entry;
    if (!entry) $('note-on-all').checked = true;
  }

  saveMeta(ev) {
    ev.preventDefault();
    const body = { title: $('edit-title').value || null, description: $('edit-description').value || null };
    this.edit(async () => {
      const made = await this.call(this.path(), 'PATCH', body);
      this.replay.data.transcript = made.transcript;
      this.replay.showMeta(made.transcript, this.replay.data.captured);
    }, 'Title and description saved.');
  }

  addNote(ev) {
    ev.preventDefault();
    const entry = this.replay.data.entries[this.replay.pos];
    const whole = $('note-on-all').checked || !entry;
    const body = { seq: whole ? null : entry.seq, text: $('note-text').value };
    this.edit(async () => {
      const note = await this.call(this.path('/notes'), 'POST', body);
      this.replay.data.notes.push(note);
      this.replay.notesChanged();
      $('note-text').value = '';
    }, whole ? 'Note on the whole transcript added.' : `Note on line ${body.seq} added.`);
  }

  // Edit and Delete buttons on one shown note.
  decorate(node, note) {
    const edit = el('button', { class: 'secondary note-edit' }, 'Edit note');
    edit.type = 'button';
    edit.addEventListener('click', () => this.openNote(node, note));
    const remove = el('button', { class: 'secondary note-delete' }, 'Delete note');
    remove.type = 'button';
    remove.addEventListener('click', () => this.deleteNote(note));
    node.append(edit, remove);
  }

  openNote(node, note) {
    const form = el('form', { class: 'note-editor' });
    const label = el('label', {}, 'Note text');
    const text = el('textarea');
    text.value = note.text;
    text.maxLength = 4000;
    text.rows = 3;
    text.required = true;
    label.append(text);
    const save = el('button', {}, 'Save note');
    save.type = 'submit';
    const cancel = el('button', { class: 'secondary' }, 'Cancel');
    cancel.type = 'button';
    cancel.addEventListener('click', () => this.replay.notesChanged());
    form.append(label, save, cancel);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.edit(async () => {
        const changed = await this.call(this.path(`/notes/${note.id}`), 'PATCH', { text: text.value });
        Object.assign(note, changed);
        this.replay.notesChanged();
      }, 'Note saved.');
    });
    node.replaceChildren(form);
    text.focus();
  }

  deleteNote(note) {
    this.edit(async () => {
      await this.call(this.path(`/notes/${note.id}`), 'DELETE');
      this.replay.data.notes = this.replay.data.notes.filter((n) => n.id !== note.id);
      this.replay.notesChanged();
    }, 'Note deleted.');
  }

  // Visibility exists only with users (PLAYGROUND_AUTH); only the owner may change it.
  showVisibility(access) {
    const form = $('visibility-form');
    form.hidden = !access?.can_change_visibility;
    if (form.hidden) return;
    const current = form.querySelector(`input[value="${access.visibility}"]`);
    if (current) current.checked = true;
  }

  saveVisibility(ev) {
    ev.preventDefault();
    const chosen = $('visibility-form').querySelector('input[name="visibility"]:checked');
    if (!chosen) return;
    this.edit(async () => {
      await this.call(this.path(), 'PATCH', { visibility: chosen.value });
      this.replay.data.access = { ...this.replay.data.access, visibility: chosen.value };
      this.replay.showAccess(this.replay.data.access);
    }, `Visibility saved: ${chosen.parentElement.textContent.trim()}.`);
  }
}
