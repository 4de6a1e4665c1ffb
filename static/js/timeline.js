// The replay's seekable timeline: an ARIA slider (click, drag, keyboard through the page's
// keys) with a tick per marker, and the list of markers as buttons. It knows positions and
// times, not transcripts: the player hands it both and hears back the index to seek to.

import { el } from './dom.js';

// Seconds as m:ss.s (the clock a reader sees; h:mm:ss past an hour).
export function clock(ms) {
  const total = Math.max(0, ms) / 1000;
  const hours = Math.floor(total / 3600);
  const minutes = Math.floor((total % 3600) / 60);
  const seconds = (total % 60).toFixed(1).padStart(4, '0');
  return hours ? `${hours}:${String(minutes).padStart(2, '0')}:${seconds}` : `${minutes}:${seconds}`;
}

export class Timeline {
  // slider: the role=slider element; list: the nav for the marker buttons; onSeek(index).
  constructor(slider, list, onSeek) {
    this.slider = slider;
    this.list = list;
    this.onSeek = onSeek;
    this.times = [];
    this.markers = [];
    this.progress = slider.querySelector('.progress');
    this.ticks = slider.querySelector('.ticks');
    slider.addEventListener('pointerdown', (ev) => this.grab(ev));
  }

  // times: the player's clock at each entry (ms, idle limit applied); markers: {index, label, kind}.
  setData(times, markers) {
    this.times = times;
    this.markers = markers;
    this.slider.setAttribute('aria-valuemax', String(times.length));
    const ticks = markers.map((m) => {
      const tick = el('span', { class: `tick tick-${m.kind}` });
      tick.style.left = `${this.fraction(m.index) * 100}%`;
      tick.title = m.label;
      tick.dataset.index = m.index;
      return tick;
    });
    this.ticks.replaceChildren(...ticks);
    const buttons = markers.map((m) => {
      const button = el('button', { class: `marker secondary marker-${m.kind}` }, m.label);
      button.type = 'button';
      button.dataset.index = m.index;
      button.addEventListener('click', () => this.onSeek(m.index));
      return button;
    });
    this.list.replaceChildren(...buttons);
  }

  total() {
    return this.times.at(-1) || 0;
  }

  // Where entry ``index`` sits on the bar, 0..1 (by time; by count when no time passed).
  fraction(index) {
    if (index < 0 || !this.times.length) return 0;
    const total = this.total();
    return total > 0 ? this.times[index] / total : (index + 1) / this.times.length;
  }

  // The last entry shown at ``fraction`` of the bar (-1: none yet).
  indexAt(fraction) {
    const total = this.total();
    if (fraction <= 0) return -1;
    if (total <= 0) return Math.ceil(fraction * this.times.length) - 1;
    // Half a percent of slack, so the bar's last pixel reaches the last line.
    const target = fraction * total + Math.max(0.5, total * 0.005);
    let found = -1;
    for (let i = 0; i < this.times.length && this.times[i] <= target; i += 1) found = i;
    return found;
  }

  // The entry shown at ``ms`` on the player's clock.
  indexAtTime(ms) {
    let found = -1;
    for (let i = 0; i < this.times.length && this.times[i] <= ms; i += 1) found = i;
    return found;
  }

  grab(ev) {
    if (ev.button !== 0) return;
    ev.preventDefault();
    this.slider.focus();
    this.slider.setPointerCapture(ev.pointerId);
    const tick = ev.target.closest('.tick');
    if (tick) {
      this.onSeek(Number(tick.dataset.index));
      return;
    }
    const seekAt = (e) => {
      const box = this.slider.getBoundingClientRect();
      this.onSeek(this.indexAt(Math.min(1, Math.max(0, (e.clientX - box.left) / box.width))));
    };
    seekAt(ev);
    const move = (e) => seekAt(e);
    const up = () => {
      this.slider.removeEventListener('pointermove', move);
      this.slider.removeEventListener('pointerup', up);
      this.slider.removeEventListener('pointercancel', up);
    };
    this.slider.addEventListener('pointermove', move);
    this.slider.addEventListener('pointerup', up);
    this.slider.addEventListener('pointercancel', up);
  }

  // The next marker after ``pos`` (direction 1) or the one before it (-1), or undefined.
  markerFrom(pos, direction) {
    const indexes = this.markers.map((m) => m.index);
    return direction > 0 ? indexes.find((i) => i > pos) : indexes.reverse().find((i) => i < pos);
  }

  show(pos, words) {
    const total = this.times.length;
    this.slider.setAttribute('aria-valuenow', String(pos + 1));
    const at = pos >= 0 ? this.times[pos] : 0;
    this.slider.setAttribute('aria-valuetext',
      `Line ${pos + 1} of ${total}, ${clock(at)} of ${clock(this.total())}${words ? `: ${words}` : ''}`);
    this.progress.style.width = `${this.fraction(pos) * 100}%`;
    for (const button of this.list.children) {
      button.classList.toggle('passed', Number(button.dataset.index) <= pos);
    }
  }
}
