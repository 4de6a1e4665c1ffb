// A visible countdown before the server closes an idle session (or one that reached its
// longest duration). The limits come in the "session" frame (docs/protocol.md); activity is
// every line sent or received, as the server counts it.

const WARN_SECONDS = 60; // shown for the last minute (or the last half of a shorter limit)

export class IdleCountdown {
  constructor(node, announce) {
    this.node = node;
    this.announce = announce;
    this.timer = null;
    this.warned = false;
  }

  start(limits) {
    this.stop();
    this.idle = Number(limits?.idle_timeout) || 0;
    this.longest = Number(limits?.max_duration) || 0;
    if (!this.idle && !this.longest) return;
    this.started = this.last = performance.now();
    this.timer = setInterval(() => this.tick(), 250);
  }

  activity() {
    this.last = performance.now();
    if (this.timer) this.tick();
  }

  // Seconds left and why, for the nearer of the two limits.
  left() {
    const now = performance.now();
    const bounds = [];
    if (this.idle) bounds.push([this.idle - (now - this.last) / 1000, 'idle']);
    if (this.longest) bounds.push([this.longest - (now - this.started) / 1000, 'longest']);
    return bounds.reduce((a, b) => (b[0] < a[0] ? b : a));
  }

  tick() {
    const [seconds, why] = this.left();
    const limit = why === 'idle' ? this.idle : this.longest;
    if (seconds > Math.min(WARN_SECONDS, limit / 2)) {
      this.node.hidden = true;
      this.warned = false;
      return;
    }
    const n = Math.max(0, Math.ceil(seconds));
    this.node.dataset.reason = why;
    this.node.textContent = why === 'idle'
      ? `No activity: the server closes this session in ${n} s. Send a line (NOOP does no harm) to keep it open.`
      : `This session reaches its longest allowed time in ${n} s and will be closed.`;
    this.node.hidden = false;
    if (!this.warned) {
      this.warned = true;
      this.announce(this.node.textContent); // once, in the polite status line
    }
  }

  stop() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.warned = false;
    this.node.hidden = true;
  }
}
