// The lesson picker: choose a lesson, follow its steps; the server judges each step from the
// real replies and says so in "lesson" frames (docs/protocol.md). Nothing is judged here.
// The server keeps a lesson's progress across connections (a lesson may ask for two), so a
// new session does not start it over: only "Start over" or picking another lesson does.

import { el } from './dom.js';

const MARKS = { done: '✓', passed: '✓', current: '▶', pending: '·' };
const present = (...nodes) => nodes.filter((n) => n !== null && n !== undefined && n !== false);

export class Lessons {
  // readOnly (a trainer watching, a student following): the lesson is shown, never changed.
  constructor(root, { send, insert, readOnly = false }) {
    this.root = root;
    this.send = send;
    this.insert = insert;
    this.readOnly = readOnly;
    this.lessons = [];
    this.lesson = null;
    this.picker = el('select', { id: 'lesson-picker', 'aria-label': 'Lesson' }, el('option', { value: '' }, 'Free play (no lesson)'));
    this.picker.addEventListener('change', () => this.pick(this.picker.value || null));
    this.picker.disabled = readOnly;
    this.again = el('button', { type: 'button', id: 'lesson-restart', class: 'small secondary', hidden: true,
      on: { click: () => this.pick(this.lesson?.id || null) } }, 'Start over');
    this.body = el('div', { class: 'lesson-body', 'aria-live': 'polite' });
    root.append(el('h2', {}, 'Lesson'), el('div', { class: 'lesson-pick' }, this.picker, this.again), this.body);
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

  // Ask the server to follow a lesson from its first step (null stops); draw it at once,
  // the frame confirms it.
  pick(id) {
    this.send({ type: 'lesson', lesson: id });
    const lesson = this.lessons.find((l) => l.id === id);
    this.lesson = lesson ? { ...lesson, steps: lesson.steps.map((s, i) => ({ ...s, status: i ? 'pending' : 'current' })) } : null;
    this.render(false);
  }

  // A "lesson" frame: {lesson: {lesson, title, finished, steps: [{..., status}]} | null, passed, complete}.
  show(frame) {
    if (frame.type !== 'lesson') return;
    const l = frame.lesson;
    if (!l) {
      this.lesson = null;
      this.picker.value = '';
      this.render(false);
      return;
    }
    const id = l.id || l.lesson || frame.lesson_id;
    const known = this.lessons.find((x) => x.id === id) || {};
    this.lesson = { ...known, ...l, id };
    this.picker.value = id;
    this.render(Boolean(frame.complete ?? l.finished));
  }

  render(complete) {
    const l = this.lesson;
    this.root.dataset.lesson = l ? l.id : '';
    this.again.hidden = !l || this.readOnly;
    if (!l) {
      this.body.replaceChildren(el('p', { class: 'muted' }, 'Pick a lesson to be guided step by step, or just type.'));
      return;
    }
    // Every step passed so far, in the lesson's order (a frame's "passed" is only this event's).
    const passed = l.steps.filter((s) => s.status === 'passed' || s.status === 'done');
    this.body.replaceChildren(...present(
      l.summary ? el('p', { class: 'lesson-summary muted' }, l.summary) : null,
      passed.length ? el('p', { class: 'ok', data: { field: 'passed' } },
        `Passed ${passed.length} of ${l.steps.length}: ${passed.map((s) => s.title).join(', ')}`) : null,
      complete ? el('p', { class: 'ok lesson-complete', data: { field: 'complete' } }, 'Lesson complete. Well done!') : null,
      el('ol', { class: 'lesson-steps' }, l.steps.map((s) => this.stepItem(s))),
    ));
  }

  stepItem(step) {
    const status = step.status === 'passed' ? 'done' : step.status;
    const item = el('li', { class: `lesson-step ${status}`, data: { step: step.id, status } },
      el('span', { class: 'mark', 'aria-hidden': 'true' }, MARKS[status] || ''), ' ', el('strong', {}, step.title),
      el('span', { class: 'sr-only' }, ` (${status})`));
    if (status !== 'current') return item;
    if (step.instructions) item.append(el('p', { class: 'instructions' }, step.instructions));
    if (step.hint && !this.readOnly) {
      item.append(el('p', {}, el('button', { type: 'button', class: 'small hint-button', title: 'Put the hint in the input',
        on: { click: () => this.insert(step.hint) } }, 'Insert hint: ', el('code', {}, step.hint))));
    }
    return item;
  }
}
