// The lesson picker: choose a lesson, follow its steps; the server judges each step from the
// real replies and says so in "lesson" frames (docs/protocol.md). Nothing is judged here.

import { el } from './dom.js';

const MARKS = { done: '✓', passed: '✓', current: '▶', pending: '·' };

export class Lessons {
  constructor(root, { send, insert }) {
    this.root = root;
    this.send = send;
    this.insert = insert;
    this.lessons = [];
    this.lesson = null;
    this.picker = el('select', { id: 'lesson-picker', 'aria-label': 'Lesson' }, el('option', { value: '' }, 'Free play (no lesson)'));
    this.picker.addEventListener('change', () => this.pick(this.picker.value || null));
    this.body = el('div', { class: 'lesson-body', 'aria-live': 'polite' });
    root.append(el('h2', {}, 'Lesson'), el('div', { class: 'lesson-pick' }, this.picker), this.body);
  }

  async load() {
    try {
      const resp = await fetch('/api/lessons');
      if (!resp.ok) throw new Error((await resp.json()).error || resp.statusText);
      this.lessons = await resp.json();
    } catch (exc) {
      this.body.replaceChildren(el('p', { class: 'bad' }, `Lessons could not be loaded: ${exc.message}`));
      return;
    }
    for (const l of this.lessons) this.picker.append(el('option', { value: l.id }, `${l.title} (${l.level})`));
  }

  // Ask the server to follow a lesson (null stops); draw it at once, the frame confirms it.
  pick(id) {
    this.send({ type: 'lesson', lesson: id });
    const lesson = this.lessons.find((l) => l.id === id);
    this.lesson = lesson ? { ...lesson } : null;
    if (this.lesson) this.restart();
    else this.render([], false);
  }

  // A new connection starts the lesson over on the server; show it from the first step.
  restart() {
    if (!this.lesson) return;
    this.lesson.steps = this.lesson.steps.map((s, i) => ({ ...s, status: i ? 'pending' : 'current' }));
    this.render([], false);
  }

  // A "lesson" frame: {lesson: {id|lesson, title, steps: [{..., status}]} | null, passed, complete}.
  show(frame) {
    if (frame.type !== 'lesson') return;
    const l = frame.lesson;
    if (!l) {
      this.lesson = null;
      this.picker.value = '';
      this.render([], false);
      return;
    }
    const id = l.id || l.lesson || frame.lesson_id;
    const known = this.lessons.find((x) => x.id === id) || {};
    this.lesson = { ...known, ...l, id };
    this.picker.value = id;
    this.render(frame.passed || [], Boolean(frame.complete ?? l.finished));
  }

  render(passed, complete) {
    const l = this.lesson;
    this.root.dataset.lesson = l ? l.id : '';
    if (!l) {
      this.body.replaceChildren(el('p', { class: 'muted' }, 'Pick a lesson to be guided step by step, or just type.'));
      return;
    }
    const titles = l.steps.filter((s) => passed.includes(s.id)).map((s) => s.title);
    this.body.replaceChildren(
      el('p', { class: 'lesson-summary muted' }, l.summary || ''),
      titles.length ? el('p', { class: 'ok', data: { field: 'passed' } }, `Passed: ${titles.join(', ')}`) : null,
      complete ? el('p', { class: 'ok lesson-complete', data: { field: 'complete' } }, 'Lesson complete. Well done!') : null,
      el('ol', { class: 'lesson-steps' }, l.steps.map((s) => this.stepItem(s))),
    );
  }

  stepItem(step) {
    const status = step.status === 'passed' ? 'done' : step.status;
    const item = el('li', { class: `lesson-step ${status}`, data: { step: step.id, status } },
      el('span', { class: 'mark', 'aria-hidden': 'true' }, MARKS[status] || ''), ' ', el('strong', {}, step.title),
      el('span', { class: 'sr-only' }, ` (${status})`));
    if (status !== 'current') return item;
    item.append(el('p', { class: 'instructions' }, step.instructions));
    if (step.hint) {
      item.append(el('p', {}, el('button', { type: 'button', class: 'small hint-button', title: 'Put the hint in the input',
        on: { click: () => this.insert(step.hint) } }, 'Insert hint: ', el('code', {}, step.hint))));
    }
    return item;
  }
}
