// The transcript as the player reads it: where exchanges end, the player's clock, the words of
// a note's marker, and the edit token taken out of the address.

import { editTokens } from './transcripts.js';

// RFC 3207 §4: the 220 to STARTTLS and the handshake it starts are one step; stepping stops
// after the handshake, where the state has caught up (EHLO again), not between the two.
// Entries say tls_mode; those recorded before it said mode.
const isStarttlsDone = (entry) => entry.kind === 'event' && entry.event === 'tls'
  && ((entry.data || {}).tls_mode ?? (entry.data || {}).mode) === 'starttls';

// An exchange: a run of sent lines and the replies that answer them; events stand alone.
export function exchangeEnds(entries) {
  const ends = [];
  entries.forEach((entry, i) => {
    const next = entries[i + 1];
    const joins = next && ((next.kind === 'sent' && entry.kind === 'sent')
      || (next.kind === 'reply' && (entry.kind === 'sent' || entry.kind === 'reply'))
      || (isStarttlsDone(next) && entry.kind === 'reply'));
    if (!joins) ends.push(i);
  });
  return ends;
}

// The player's clock at each entry: the recorded gaps, each at most ``idleMs``.
export function clockTimes(entries, idleMs) {
  const times = [];
  entries.forEach((entry, i) => {
    const gap = i === 0 ? 0 : Math.max(0, entry.t - entries[i - 1].t);
    times.push((times[i - 1] || 0) + Math.min(gap, idleMs));
  });
  return times;
}

// The label of a note's marker; transcripts/markers.py words it the same way.
const NOTE_LABEL_CHARS = 60;
export function noteLabel(note) {
  const first = (note.text.trim().split('\n')[0] || '');
  const cut = first.length > NOTE_LABEL_CHARS ? `${first.slice(0, NOTE_LABEL_CHARS - 1)}…` : first;
  return `Note: ${cut}`;
}

// ?edit=TOKEN is moved out of the address (history, referrers) into this tab's storage.
export function takeToken(id) {
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
