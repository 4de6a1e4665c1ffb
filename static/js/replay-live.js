// A captured session that is still going (docs/api-captured.md): the replay follows its
// entries over server-sent events instead of polling, and reloads when some arrive, at most
// one load at a time; a burst of entries is one reload. The stream ends with the session.

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
