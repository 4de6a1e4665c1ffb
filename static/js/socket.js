// The WebSocket to /ws: JSON frames in and out (docs/protocol.md).

export class Connection extends EventTarget {
  constructor(url = Connection.defaultUrl()) {
    super();
    this.url = url;
    this.ws = null;
    this.queue = [];
    // Frames every new socket sends before anything queued (a class's class_join, a
    // follower's follow): the server forgets them when a socket closes.
    this.first = () => [];
  }

  static defaultUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${scheme}//${location.host}/ws`;
  }

  open() {
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    this.ws = new WebSocket(this.url);
    this.ws.addEventListener('open', () => {
      for (const frame of [...this.first(), ...this.queue.splice(0)]) this.ws.send(JSON.stringify(frame));
      this.dispatchEvent(new CustomEvent('open'));
    });
    this.ws.addEventListener('message', (ev) => {
      let frame;
      try {
        frame = JSON.parse(ev.data);
      } catch {
        frame = { type: 'error', message: 'The server sent a frame that is not JSON.' };
      }
      this.dispatchEvent(new CustomEvent('frame', { detail: frame }));
    });
    this.ws.addEventListener('close', (ev) => {
      this.dispatchEvent(new CustomEvent('socketclose', { detail: ev }));
    });
  }

  send(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
    } else {
      this.queue.push(frame);
      this.open();
    }
  }
}

// Frames above this many bytes are refused by the server; long pastes are split.
export const MAX_LINES_PER_FRAME = 2000;
export const MAX_FRAME_BYTES = 900 * 1024;

export function batches(lines) {
  const out = [];
  let batch = [];
  let size = 0;
  for (const line of lines) {
    const cost = line.length * 3 + 4;
    if (batch.length && (batch.length >= MAX_LINES_PER_FRAME || size + cost > MAX_FRAME_BYTES)) {
      out.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(line);
    size += cost;
  }
  if (batch.length) out.push(batch);
  return out;
}
