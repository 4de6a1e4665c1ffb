// Captured sessions on the replay page (docs/api-captured.md). One still going is followed
// over server-sent events instead of polling: a reload when entries arrive, at most one load
// at a time (a burst of entries is one reload); the stream ends with the session. And as
// nobody owns a captured session, the page offers to take its edit token to add notes.

import { $ } from './dom.js';
import { editTokens } from './transcripts.js';

const RETRY_MS = 3000;

export class LiveFollow {
  constructor(id, since, reload) {
    this.reload = reload; // () => Promise: fetch the transcript again and redraw
    this.busy = false;
    this.again = false;
    this.closed = false; // the stream is over: the replay starts another if still live
    this.source = new EventSource(`/api/captured/${encodeURIComponent(id)}/events?since=${since}`);
    this.source.addEventListener('entry', () => this.changed());
    this.source.addEventListener('ended', () => {
      this.close();
      this.changed();
    });
    // Refused for good (not 200: the session is gone, or signed out): try again later.
    this.source.addEventListener('error', () => {
      if (this.source.readyState !== EventSource.CLOSED) return; // it reconnects by itself
      this.closed = true;
      setTimeout(() => this.changed(), RETRY_MS);
    });
  }

  async changed() {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    try {
      await this.reload();
    } catch {
      // The next entry (or the end) tries again.
    } finally {
      this.busy = false;
      if (this.again) {
        this.again = false;
        this.changed();
      }
    }
  }

  close() {
    this.closed = true;
    this.source.close();
  }
}

// "Add notes": POST /api/captured/<id>/edit-token, keep the token as the console keeps its
// own (transcripts.js editTokens), and load again: the editor appears.
export function offerNotes(replay) {
  const offer = $('captured-notes');
  if (!offer || offer.dataset.wired) return;
  offer.dataset.wired = '1';
  offer.hidden = false;
  $('take-token').addEventListener('click', async () => {
    const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
    const response = await fetch(`/api/captured/${encodeURIComponent(replay.id)}/edit-token`, {
      method: 'POST', headers: csrf ? { 'X-CSRFToken': csrf } : {},
    });
    if (!response.ok) return;
    const { edit_token: token } = await response.json();
    editTokens.set(replay.id, token);
    replay.token = token;
    offer.hidden = true;
    await replay.load();
    $('note-text')?.focus();
  });
}
