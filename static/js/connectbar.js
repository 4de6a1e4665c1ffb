// The connection bar: a configured target, or another server by host (or mx:domain) with a
// port preset. Which servers are reachable is the server's decision (docs/security.md).

import { $ } from './dom.js';

// Common ports: 587 and 465 are submission (RFC 6409, RFC 8314), 25 is relay, 2525 is the
// unofficial alternative many providers offer. 465 speaks TLS from the first byte.
export const PRESETS = {
  587: { port: 587, tls_mode: null },
  465: { port: 465, tls_mode: 'implicit' },
  25: { port: 25, tls_mode: null },
  2525: { port: 2525, tls_mode: null },
};

export class ConnectBar {
  constructor() {
    this.target = $('target');
    this.custom = $('custom-target');
    this.target.addEventListener('change', () => this.sync());
    // An MX route is server-to-server SMTP: port 25, unless the user chose a port already.
    this.presetChosen = false;
    $('preset').addEventListener('change', () => { this.presetChosen = true; });
    $('custom-host').addEventListener('input', () => {
      if (!this.presetChosen && /^mx:/i.test($('custom-host').value.trim())) $('preset').value = '25';
    });
    this.sync();
  }

  sync() {
    this.custom.hidden = this.target.value !== 'custom';
  }

  // The connect frame for the current choice, or null with a reason when it is incomplete.
  frame() {
    if (this.target.value !== 'custom') return { frame: { type: 'connect', target: this.target.value } };
    const host = $('custom-host').value.trim();
    if (!host) return { error: 'Type a host name (or mx:domain) first.' };
    const preset = PRESETS[$('preset').value];
    const extra = { port: preset.port, tls_mode: preset.tls_mode, accept_unverified: $('accept-unverified').checked };
    if (host.toLowerCase().startsWith('mx:')) return { frame: { type: 'connect', target: host, ...extra } };
    return { frame: { type: 'connect', host, ...extra } };
  }

  label() {
    if (this.target.value !== 'custom') return this.target.selectedOptions[0].textContent;
    return `${$('custom-host').value.trim()} port ${$('preset').value}`;
  }
}
