// The replay page: plays a recorded session in the console with its original timing, the
// same guide panels as live, notes at their lines, permalinks (#L12) and, with the edit
// token, notes and title editing. Transcript text is untrusted: only textContent is used.

import { Panels } from './panels.js';
import { api, editTokens, entryLines } from './transcripts.js';
import { $, el } from './dom.js';

const MAX_PAUSE_MS = 2000; // long silences in the recording are shortened to this
// After a seek the panels are shown every frame again, as live (warnings add up), up to this many.
const PANEL_HISTORY = 2000;
// Frames whose mark on the panels outlasts the next exchange (warnings, TLS, injections).
const NOTEWORTHY = (f) => (f.warnings && f.warnings.length) || f.malformed || f.type === 'tls'
  || f.type === 'discarded' || f.type === 'error' || f.type === 'connected';
const LIVE_POLL_MS = 3000;

// An exchange: a run of sent lines and the replies that answer them; events stand alone.
function exchangeEnds(entries) {
  const ends = [];
  entries.forEach((entry, i) => {
    const next = entries[i + 1];
    const joins = next && ((next.kind === 'sent' && entry.kind === 'sent') ||
      (next.kind === 'reply' && (entry.kind === 'sent' || entry.kind === 'reply')));
    if (!joins) ends.push(i);
  });
  return ends;
}

class Replay {
  constructor(root, panels) {
    this.root = root;
    this.id = root.dataset.id;
    this.embed = root.dataset.embed === '1';
    this.panels = panels;
    this.pos = -1;
    this.timer = null;
    this.token = this.embed ? null : takeToken(this.id);
    $('play').addEventListener('click', () => this.toggle());
    $('forward').addEventListener('click', () => this.step(1));
    $('back').addEventListener('click', () => this.step(-1));
    $('speed').addEventListener('change', () => this.playing() && this.schedule());
    document.addEventListener('keydown', (ev) => this.onKey(ev));
    window.addEventListener('hashchange', () => this.followHash());
  }

  // Two steps, so a long transcript is usable at once: the lines first (small, fast), then
  // the frames with every explanation (re-derived on the server) for the panels.
  async load() {
    const first = !this.data;
    const data = await api(`/${encodeURIComponent(this.id)}`, { token: this.token });
    const [oldPos, atEnd] = [this.pos, first || this.pos === this.data.entries.length - 1];
    data.frames = null;
    this.data = data;
    this.ends = exchangeEnds(data.entries);
    this.showMeta(data.transcript);
    this.renderEntries();
    this.renderMarkers();
    this.renderNotes();
    if (data.can_edit) this.enableEditing();
    if (!(first && this.followHash())) this.seek(atEnd ? data.entries.length - 1 : oldPos, false);
    this.framesLoaded = this.loadFrames(data);
    if (data.transcript.status === 'live') setTimeout(() => this.poll(), LIVE_POLL_MS);
  }

  async loadFrames(data) {
    const compact = await api(`/${encodeURIComponent(this.id)}?frames=compact`, { token: this.token });
    if (this.data !== data) return; // a newer load replaced this one
    data.frames = expandFrames(compact);
    this.renderMarkers();
    this.syncPanels();
    $('replay').dataset.frames = '1';
  }

  // A session still recording: fetch what was added, but never under a playing replay.
  poll() {
    if (this.playing()) setTimeout(() => this.poll(), LIVE_POLL_MS);
    else this.load().catch(() => setTimeout(() => this.poll(), LIVE_POLL_MS));
  }

  showMeta(meta) {
    $('title').textContent = meta.title || `SMTP session with ${meta.target}`;
    $('description').textContent = meta.description || '';
    $('target').textContent = meta.target;
    const badge = $('status-badge');
    badge.textContent = meta.status === 'live' ? 'live (recording)' : meta.status;
    badge.className = `state-badge status-${meta.status}`;
    $('close-reason').textContent = meta.close_reason ? `— ${meta.close_reason}` : '';
  }

  renderEntries() {
    // The line-number gutter fits the longest number (a 10,000-line transcript wrapped it).
    const last = this.data.entries.at(-1);
    $('screen').style.setProperty('--ln-digits', String(last ? String(last.seq).length : 1));
    this.nodes = this.data.entries.map((entry, i) => {
      const node = el('div', { class: 'entry' });
      node.id = `L${entry.seq}`;
      node.dataset.index = i;
      const link = el('a', { class: 'ln' }, String(entry.seq));
      link.href = `#L${entry.seq}`;
      link.title = 'Link to this line';
      const lines = el('div', { class: 'lines' });
      lines.append(...entryLines(entry, this.data.event_words?.[entry.seq]));
      lines.addEventListener('click', () => this.select(i));
      node.append(link, lines, el('div', { class: 'notes' }));
      return node;
    });
    $('screen').replaceChildren(...this.nodes);
    this.pos = this.nodes.length - 1;
  }

  renderMarkers() {
    const withState = (this.data.frames || []).find((f) => f.state?.steps);
    const names = new Map((withState?.state.steps || []).map((s) => [s.id, s.name]));
    const markers = [];
    let step = null;
    this.data.entries.forEach((frame, i) => {
      if (!frame.step || frame.step === step) return;
      step = frame.step;
      const name = names.get(step) || step;
      const button = el('button', { class: 'marker secondary' }, name);
      button.type = 'button';
      button.dataset.index = i;
      button.title = `Go to ${name} (line ${frame.seq})`;
      button.addEventListener('click', () => this.select(i));
      markers.push(button);
    });
    $('markers').replaceChildren(...markers);
  }

  renderNotes() {
    for (const node of this.nodes) node.querySelector('.notes').replaceChildren();
    const general = [];
    for (const note of this.data.notes) {
      const node = this.noteNode(note);
      const index = this.indexOfSeq(note.seq);
      if (index === -1) general.push(node);
      else this.nodes[index].querySelector('.notes').append(node);
    }
    $('general-notes').replaceChildren(...general);
  }

  noteNode(note) {
    const node = el('div', { class: 'note' });
    if (note.author) node.append(el('b', {}, `${note.author}: `));
    node.append(el('span', { class: 'note-text' }, note.text));
    if (this.data.can_edit) {
      const remove = el('button', { class: 'secondary note-delete' }, 'Delete note');
      remove.type = 'button';
      remove.addEventListener('click', () => this.deleteNote(note));
      node.append(remove);
    }
    return node;
  }

  indexOfSeq(seq) {
    return seq === null || seq === undefined ? -1 : this.data.entries.findIndex((e) => e.seq === seq);
  }

  // -- position, panels and playback -------------------------------------------------------

  seek(index, incremental) {
    const old = this.pos;
    this.pos = Math.max(-1, Math.min(index, this.nodes.length - 1));
    const [low, high] = [Math.min(old, this.pos), Math.max(old, this.pos)];
    for (let i = Math.max(0, low); i <= high; i += 1) {
      this.nodes[i].classList.toggle('future', i > this.pos);
    }
    this.nodes[old]?.classList.remove('current');
    this.nodes[this.pos]?.classList.add('current');
    if (!this.data.frames) {
      // The explanations are still on their way; the panels catch up when they arrive.
    } else if (incremental && this.pos === old + 1) this.panels.show(this.data.frames[this.pos]);
    else this.syncPanels();
    this.showPosition();
  }

  // The panels as live showed them at this line: the warnings of the recent past, then the
  // last exchange. Rendering every earlier frame would cost seconds on a long transcript.
  syncPanels() {
    const frames = this.data.frames;
    if (!frames) return;
    this.panels.reset();
    const last = Math.max(0, this.pos - 2);
    for (let i = Math.max(0, this.pos - PANEL_HISTORY); i < last; i += 1) {
      if (frames[i] && NOTEWORTHY(frames[i])) this.panels.show(frames[i]);
    }
    for (let i = last; i <= this.pos; i += 1) if (frames[i]) this.panels.show(frames[i]);
  }

  showPosition() {
    const total = this.nodes.length;
    const entry = this.data.entries[this.pos];
    const seconds = entry ? ` · ${(entry.t / 1000).toFixed(3)} s` : '';
    $('position').textContent = `${this.pos + 1} / ${total}${seconds}`;
    $('progress').style.width = `${total ? ((this.pos + 1) / total) * 100 : 0}%`;
    for (const marker of $('markers').children) {
      marker.classList.toggle('passed', Number(marker.dataset.index) <= this.pos);
    }
    const noteTarget = $('note-target');
    if (noteTarget) noteTarget.textContent = entry ? `Note on line ${entry.seq}` : 'Note on the whole transcript';
  }

  select(index) {
    this.pause();
    this.seek(index, false);
    const entry = this.data.entries[index];
    if (entry) history.replaceState(null, '', `#L${entry.seq}`);
  }

  followHash() {
    const match = /^#L(\d+)$/.exec(window.location.hash);
    const index = match ? this.indexOfSeq(Number(match[1])) : -1;
    if (index === -1) return false;
    this.pause();
    this.seek(index, false);
    for (const node of this.root.querySelectorAll('.entry.target')) node.classList.remove('target');
    this.nodes[index].classList.add('target');
    this.nodes[index].scrollIntoView({ block: 'center' });
    return true;
  }

  step(direction) {
    this.pause();
    const target = direction > 0
      ? this.ends.find((end) => end > this.pos)
      : [...this.ends].reverse().find((end) => end < this.pos);
    this.seek(target ?? (direction > 0 ? this.pos : -1), false);
    this.nodes[this.pos]?.scrollIntoView({ block: 'nearest' });
  }

  playing() {
    return this.timer !== null;
  }

  toggle() {
    if (this.playing()) {
      this.pause();
      return;
    }
    if (this.pos >= this.nodes.length - 1) this.seek(-1, false);
    $('play').textContent = '❚❚ Pause';
    $('play').setAttribute('aria-pressed', 'true');
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    const next = this.pos + 1;
    if (next >= this.nodes.length) {
      this.pause();
      return;
    }
    const gap = next === 0 ? 0 : this.data.entries[next].t - this.data.entries[this.pos].t;
    const delay = Math.min(Math.max(gap, 0), MAX_PAUSE_MS) / Number($('speed').value);
    this.timer = setTimeout(() => {
      this.seek(next, true);
      this.nodes[next].scrollIntoView({ block: 'nearest' });
      this.schedule();
    }, delay);
  }

  pause() {
    clearTimeout(this.timer);
    this.timer = null;
    $('play').textContent = '▶ Play';
    $('play').setAttribute('aria-pressed', 'false');
  }

  onKey(ev) {
    if (ev.target.closest('input, textarea, select, [contenteditable]') || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    const actions = { ' ': () => this.toggle(), ArrowRight: () => this.step(1), ArrowLeft: () => this.step(-1) };
    const action = actions[ev.key];
    if (!action) return;
    ev.preventDefault();
    action();
  }

  // -- editing (with the edit token) -------------------------------------------------------

  enableEditing() {
    const editor = $('editor');
    if (!editor || !editor.hidden) return;
    editor.hidden = false;
    $('edit-title').value = this.data.transcript.title || '';
    $('edit-description').value = this.data.transcript.description || '';
    $('meta-form').addEventListener('submit', (ev) => this.saveMeta(ev));
    $('note-form').addEventListener('submit', (ev) => this.addNote(ev));
    this.renderNotes();
    this.showPosition();
  }

  async edit(action, done) {
    try {
      await action();
      $('edit-status').textContent = done;
    } catch (err) {
      $('edit-status').textContent = `Not saved: ${err.message}`;
    }
  }

  saveMeta(ev) {
    ev.preventDefault();
    const body = { title: $('edit-title').value || null, description: $('edit-description').value || null };
    this.edit(async () => {
      const made = await api(`/${encodeURIComponent(this.id)}`, { method: 'PATCH', token: this.token, body });
      this.data.transcript = made.transcript;
      this.showMeta(made.transcript);
    }, 'Title and description saved.');
  }

  addNote(ev) {
    ev.preventDefault();
    const entry = this.data.entries[this.pos];
    const body = { seq: entry ? entry.seq : null, text: $('note-text').value };
    this.edit(async () => {
      const note = await api(`/${encodeURIComponent(this.id)}/notes`, { method: 'POST', token: this.token, body });
      this.data.notes.push(note);
      this.renderNotes();
      $('note-text').value = '';
    }, 'Note added.');
  }

  deleteNote(note) {
    this.edit(async () => {
      await api(`/${encodeURIComponent(this.id)}/notes/${note.id}`, { method: 'DELETE', token: this.token });
      this.data.notes = this.data.notes.filter((n) => n.id !== note.id);
      this.renderNotes();
    }, 'Note deleted.');
  }
}

// ?edit=TOKEN is moved out of the address (history, referrers) into this tab's storage.
function takeToken(id) {
  const key = `smtp-playground-edit:${id}`;
  const url = new URL(window.location.href);
  const given = url.searchParams.get('edit');
  if (given) {
    sessionStorage.setItem(key, given);
    url.searchParams.delete('edit');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  return sessionStorage.getItem(key) || editTokens.get(id);
}

// Undo ?frames=compact: shared explanations back in place, each frame's state carried forward.
function expandFrames({ frames, explanations }) {
  let state = null;
  for (const frame of frames) {
    if ('explain_ref' in frame) frame.explain = explanations[frame.explain_ref];
    if (frame.state) state = frame.state;
    else if (state && (frame.type === 'reply' || frame.type === 'tls' || frame.type === 'closed'
      || frame.type === 'connected')) frame.state = state;
  }
  return frames;
}

async function main() {
  const root = $('replay');
  const replay = new Replay(root, new Panels($('panels')));
  try {
    await replay.load();
    root.dataset.ready = '1';
  } catch (err) {
    $('position').textContent = `Could not load the transcript: ${err.message}`;
  }
  window.playgroundReplay = replay;
}

main();
