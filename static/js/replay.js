// The replay page: plays a recorded session in the console with its original timing, the
// same guide panels as live, a seekable timeline with a marker per SMTP step and note,
// notes at their lines, permalinks (#L12), options from the address (replay-options.js)
// and, with the edit token, editing (replay-editor.js). Transcript text is untrusted: only
// textContent is used.

import { Panels } from './panels.js';
import { Editor } from './replay-editor.js';
import { LiveFollow, offerNotes } from './replay-live.js';
import { clockTimes, exchangeEnds, noteLabel, takeToken } from './replay-data.js';
import { loadKnowledge, readFrames } from './knowledge.js';
import { applyOptions, readOptions, wireSnippet } from './replay-options.js';
import { Timeline, clock } from './timeline.js';
import { $, el } from './dom.js';
import { api, entryLines } from './transcripts.js';

// After a seek the panels are shown every frame again, as live (warnings add up), up to this many.
const PANEL_HISTORY = 2000;
// Frames whose mark on the panels outlasts the next exchange (warnings, TLS, injections).
const NOTEWORTHY = (f) => (f.warnings && f.warnings.length) || f.malformed || f.type === 'tls'
  || f.type === 'discarded' || f.type === 'error' || f.type === 'connected';
const LIVE_POLL_MS = 3000;
// Entries per chunk of the screen: a chunk away from the screen costs the browser one box.
const CHUNK = 100;

class Replay {
  constructor(root, panels, options) {
    this.root = root;
    this.id = root.dataset.id;
    this.embed = root.dataset.embed === '1';
    this.panels = panels;
    this.options = options;
    this.pos = -1;
    this.timer = null;
    this.editor = null;
    this.token = this.embed ? null : takeToken(this.id);
    this.timeline = new Timeline($('timeline'), $('markers'), (index) => this.select(index));
    $('play').addEventListener('click', () => this.toggle());
    $('forward').addEventListener('click', () => this.step(1));
    $('back').addEventListener('click', () => this.step(-1));
    $('fullscreen').addEventListener('click', () => this.fullscreen());
    $('screen').addEventListener('click', (ev) => {
      const entry = ev.target.closest('.lines')?.parentElement;
      const index = entry ? this.nodes.indexOf(entry) : -1;
      if (index !== -1) this.select(index);
    });
    $('speed').addEventListener('change', () => this.playing() && this.schedule());
    document.addEventListener('keydown', (ev) => this.onKey(ev));
    document.addEventListener('fullscreenchange', () => {
      $('fullscreen').setAttribute('aria-pressed', String(document.fullscreenElement === root));
    });
    window.addEventListener('hashchange', () => this.followHash());
  }

  // Two steps, so a long transcript is usable at once: the lines first (small, fast), then
  // the frames with every explanation (re-derived on the server) for the panels, asked for
  // as soon as the lines are here: the server works them out while this page draws the lines.
  async load() {
    const first = !this.data;
    // Without an edit token, the address the page preloaded (replay_preload.html).
    const data = await api(`/${encodeURIComponent(this.id)}${this.token ? '' : '?view=replay'}`, { token: this.token });
    const [oldPos, atEnd] = [this.pos, first || this.pos === this.data.entries.length - 1];
    data.frames = null;
    this.data = data;
    const frames = this.fetchFrames();
    this.ends = exchangeEnds(data.entries);
    this.times = clockTimes(data.entries, this.options.idle * 1000);
    this.showMeta(data.transcript, data.captured);
    this.panels.client = Boolean(data.captured);
    this.showAccess(data.access);
    this.renderEntries();
    if (data.can_edit && !this.embed && !this.editor && $('editor')) this.editor = new Editor(this);
    else if (data.captured && !data.can_edit && !this.embed) offerNotes(this);
    this.notesChanged();
    if (first) this.openAt();
    else this.seek(atEnd ? data.entries.length - 1 : oldPos, false);
    this.framesLoaded = this.loadFrames(data, frames).catch(() => {}); // the next load tries again
    if (data.transcript.status !== 'live') this.live?.close();
    else if (!data.captured) setTimeout(() => this.poll(), LIVE_POLL_MS);
    else if (!this.live || this.live.closed) {
      // A captured session still going: its entries come over server-sent events.
      const since = (data.entries.at(-1)?.seq ?? -1) + 1;
      this.live = new LiveFollow(this.id, since, () => this.whenPaused(() => this.load()));
    }
  }

  // Where the page opens: #L12, else the poster (start, end or a time), then autoplay.
  openAt() {
    if (this.followHash()) return;
    const { poster, start, autoplay } = this.options;
    const at = (ms) => this.timeline.indexAtTime(ms);
    if (autoplay) this.seek(start === null ? -1 : at(start), false);
    else if (poster === 'start') this.seek(-1, false);
    else if (poster === 'end') this.seek(this.nodes.length - 1, false);
    else this.seek(at(poster), false);
    if (autoplay) this.play();
  }

  // The live console's lean frames and the knowledge document to read them with.
  fetchFrames() {
    const lean = api(`/${encodeURIComponent(this.id)}?frames=lean`, { token: this.token });
    lean.catch(() => {}); // awaited in loadFrames; a failure there is the next load's to retry
    return Promise.all([lean, loadKnowledge()]);
  }

  // The frames read back (knowledge.js), once the lines are shown.
  async loadFrames(data, frames) {
    const [lean, doc] = await frames;
    if (this.data !== data) return; // a newer load replaced this one
    data.frames = readFrames(doc, lean.frames);
    this.syncPanels();
    $('replay').dataset.frames = '1';
  }

  // A session still recording: fetch what was added, but never under a playing replay.
  poll() {
    if (this.playing()) setTimeout(() => this.poll(), LIVE_POLL_MS);
    else this.load().catch(() => setTimeout(() => this.poll(), LIVE_POLL_MS));
  }

  // Run ``then`` now, or when the replay stops playing (a reload must not jump under it).
  whenPaused(then) {
    if (!this.playing()) return then();
    return new Promise((resolve) => setTimeout(resolve, LIVE_POLL_MS / 10)).then(() => this.whenPaused(then));
  }

  showMeta(meta, captured) {
    const untitled = captured ? `Captured session from ${captured.client}` : `SMTP session with ${meta.target}`;
    $('title').textContent = meta.title || untitled;
    $('description').textContent = meta.description || '';
    $('target').textContent = meta.target;
    const badge = $('status-badge');
    badge.textContent = meta.status === 'live' ? 'live (recording)' : meta.status;
    badge.className = `state-badge status-${meta.status}`;
    $('close-reason').textContent = meta.close_reason ? `— ${meta.close_reason}` : '';
  }

  // With users (PLAYGROUND_AUTH), who owns the transcript and who may see it.
  showAccess(access) {
    const shown = $('access');
    if (!shown) return;
    shown.hidden = !access;
    if (!access) return;
    const who = { private: 'its owner only', team: "the owner's team", link: 'anyone with the link' };
    shown.textContent = `Visible to ${who[access.visibility] || access.visibility}`
      + (access.owner ? ` · recorded by ${access.owner}` : '');
  }

  // Every line, each entry a copy of one empty entry filled with text (10,000 entries are
  // ~40,000 elements: built one by one they took most of a second), in chunks of CHUNK
  // entries that the browser lays out only near the screen (replay.css). A click on a line
  // selects its entry (one listener on the screen, see constructor).
  renderEntries() {
    const screen = $('screen');
    // The line-number gutter fits the longest number (a 10,000-line transcript wrapped it).
    const last = this.data.entries.at(-1);
    screen.style.setProperty('--ln-digits', String(last ? String(last.seq).length : 1));
    // The sandbox's 250 after the final dot names the message it queued: link to it.
    const queued = new Map((this.data.inbox || []).map((m) => [m.seq, m]));
    const words = this.data.event_words || {};
    const blank = el('div', { class: 'entry' }, el('a', { class: 'ln', title: 'Link to this line' }), el('div', { class: 'lines' }));
    const all = document.createDocumentFragment();
    let chunk = null;
    let lineCount = 0;
    this.chunks = [];
    this.nodes = this.data.entries.map((entry, i) => {
      if (i % CHUNK === 0) {
        chunk?.style.setProperty('--lines', String(lineCount));
        chunk = all.appendChild(el('div', { class: 'chunk' }));
        this.chunks.push(chunk);
        lineCount = 0;
      }
      const node = blank.cloneNode(true);
      node.id = `L${entry.seq}`;
      const link = node.firstChild;
      const lines = link.nextSibling;
      link.textContent = String(entry.seq);
      link.setAttribute('href', `#L${entry.seq}`);
      link.setAttribute('aria-label', `Line ${entry.seq}`);
      const shown = entryLines(entry, words[entry.seq]);
      lineCount += shown.length;
      lines.append(...shown);
      const message = queued.get(entry.seq);
      if (message) {
        const open = el('a', { class: 'inbox-link' }, 'Open the message in the sandbox inbox');
        open.href = message.url;
        lines.append(open);
      }
      chunk.append(node);
      return node;
    });
    chunk?.style.setProperty('--lines', String(lineCount));
    screen.replaceChildren(all);
    this.pos = this.nodes.length - 1;
  }

  // Markers from the server (SMTP steps) and from the notes as they are now.
  markers() {
    const index = new Map(this.data.entries.map((e, i) => [e.seq, i]));
    const steps = (this.data.markers || []).filter((m) => m.kind !== 'note');
    const notes = this.data.notes.filter((n) => index.has(n.seq))
      .map((n) => ({ seq: n.seq, kind: 'note', label: noteLabel(n) }));
    return [...steps, ...notes]
      .map((m) => ({ ...m, index: index.get(m.seq) }))
      .filter((m) => m.index !== undefined)
      .sort((a, b) => a.index - b.index || (a.kind === 'note') - (b.kind === 'note'));
  }

  notesChanged() {
    this.renderNotes();
    this.timeline.setData(this.times, this.options.markers ? this.markers() : []);
    if (this.nodes) this.showPosition();
  }

  // Notes at their lines (an entry's .notes box is made with its first note) and above.
  renderNotes() {
    for (const box of this.root.querySelectorAll('#screen .notes')) box.remove();
    const general = [];
    for (const note of this.data.notes) {
      const node = this.noteNode(note);
      const index = this.indexOfSeq(note.seq);
      if (index === -1) general.push(node);
      else this.notesOf(this.nodes[index]).append(node);
    }
    $('general-notes-list').replaceChildren(...general);
    $('general-notes').hidden = general.length === 0;
  }

  notesOf(entry) {
    if (entry.lastElementChild.classList.contains('notes')) return entry.lastElementChild;
    return entry.appendChild(el('div', { class: 'notes' }));
  }

  noteNode(note) {
    const node = el('div', { class: 'note' });
    if (note.author) node.append(el('b', {}, `${note.author}: `));
    node.append(el('span', { class: 'note-text' }, note.text));
    if (this.editor) this.editor.decorate(node, note);
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
    // A chunk whose entries are all still to come is not there at all (not an empty box
    // the size of its lines, replay.css).
    for (let k = Math.floor(Math.max(0, low) / CHUNK); k <= Math.floor(high / CHUNK); k += 1) {
      this.chunks[k]?.classList.toggle('future', k * CHUNK > this.pos);
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
    const at = this.pos >= 0 ? this.times[this.pos] : 0;
    $('position').textContent = `${this.pos + 1} / ${total} · ${clock(at)} / ${clock(this.times.at(-1) || 0)}`;
    const words = entry ? entryLines(entry, this.data.event_words?.[entry.seq])[0].textContent : '';
    this.timeline.show(this.pos, words.length > 80 ? `${words.slice(0, 79)}…` : words);
    this.editor?.follow(entry);
  }

  select(index) {
    this.pause();
    this.seek(index, false);
    const entry = this.data.entries[index];
    if (entry) history.replaceState(null, '', `#L${entry.seq}`);
    this.nodes[this.pos]?.scrollIntoView({ block: 'nearest' });
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

  // One entry forward (".") or back (",").
  line(direction) {
    this.pause();
    this.seek(this.pos + direction, direction > 0);
    this.nodes[this.pos]?.scrollIntoView({ block: 'nearest' });
  }

  toMarker(direction) {
    const index = this.timeline.markerFrom(this.pos, direction);
    if (index !== undefined) this.select(index);
  }

  // 0..9: to 0 %..90 % of the recording's time, as asciinema's player does.
  toPercent(tenths) {
    this.select(this.timeline.indexAt(tenths / 10));
  }

  playing() {
    return this.timer !== null;
  }

  toggle() {
    if (this.playing()) this.pause();
    else this.play();
  }

  play() {
    if (this.pos >= this.nodes.length - 1) this.seek(-1, false);
    $('play').textContent = '❚❚ Pause';
    $('play').setAttribute('aria-pressed', 'true');
    // A screen reader hears where playing stopped, not every line as it passes.
    $('position').setAttribute('aria-live', 'off');
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    const next = this.pos + 1;
    if (next >= this.nodes.length) {
      this.pause();
      if (this.options.loop && this.nodes.length) this.loopAgain();
      return;
    }
    const gap = next === 0 ? 0 : this.times[next] - this.times[this.pos];
    this.timer = setTimeout(() => {
      this.seek(next, true);
      this.nodes[next].scrollIntoView({ block: 'nearest' });
      this.schedule();
    }, gap / Number($('speed').value));
  }

  // loop=1: after the last line, a pause as long as the idle limit, then from the start again.
  loopAgain() {
    this.timer = setTimeout(() => {
      const start = this.options.start;
      this.seek(start === null ? -1 : this.timeline.indexAtTime(start), false);
      this.play();
    }, this.options.idle * 1000);
    $('play').textContent = '❚❚ Pause';
    $('play').setAttribute('aria-pressed', 'true');
  }

  pause() {
    clearTimeout(this.timer);
    this.timer = null;
    $('play').textContent = '▶ Play';
    $('play').setAttribute('aria-pressed', 'false');
    $('position').setAttribute('aria-live', 'polite');
  }

  fullscreen() {
    if (document.fullscreenElement) document.exitFullscreen();
    else this.root.requestFullscreen?.().catch(() => {});
  }

  onKey(ev) {
    const target = ev.target;
    if (target.closest('input, textarea, select, [contenteditable]') || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    // Inside the player Space always plays or pauses (as in a media player; Enter still
    // presses a focused marker); elsewhere on the page a focused button keeps its Space.
    if (ev.key === 'Enter' || (ev.key === ' ' && !this.root.contains(target) && target !== document.body)) return;
    const onSlider = target === $('timeline');
    const actions = {
      ' ': () => this.toggle(),
      ArrowRight: () => this.step(1),
      ArrowLeft: () => this.step(-1),
      ArrowUp: onSlider ? () => this.step(1) : null,
      ArrowDown: onSlider ? () => this.step(-1) : null,
      PageUp: onSlider ? () => this.select(this.timeline.indexAt(this.timeline.fraction(this.pos) + 0.1)) : null,
      PageDown: onSlider ? () => this.select(this.timeline.indexAt(this.timeline.fraction(this.pos) - 0.1)) : null,
      Home: () => this.select(-1),
      End: () => this.select(this.nodes.length - 1),
      '[': () => this.toMarker(-1),
      ']': () => this.toMarker(1),
      '.': () => this.line(1),
      ',': () => this.line(-1),
      f: () => this.fullscreen(),
    };
    const action = /^[0-9]$/.test(ev.key) ? () => this.toPercent(Number(ev.key)) : actions[ev.key];
    if (!action) return;
    ev.preventDefault();
    action();
  }
}

async function main() {
  const root = $('replay');
  const options = readOptions(window.location.search);
  applyOptions(options);
  const replay = new Replay(root, new Panels($('panels')), options);
  try {
    await replay.load();
    wireSnippet();
    root.dataset.ready = '1';
  } catch (err) {
    $('position').textContent = `Could not load the transcript: ${err.message}`;
  }
  window.playgroundReplay = replay;
}

main();
