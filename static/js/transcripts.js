// Transcripts in the browser: the edit tokens this browser holds, calls to the transcripts
// API, how an entry reads as console lines, and the transcripts page (delete buttons for the
// held tokens, import of a JSON file).

import { $, replyClass, visible } from './dom.js';

// The console stores the token of each transcript it records here, as {id: token}.
export const TOKENS_KEY = 'smtp-playground-edit-tokens';

const readTokens = () => {
  try {
    const value = JSON.parse(localStorage.getItem(TOKENS_KEY) || '{}');
    const ok = value && typeof value === 'object' && !Array.isArray(value);
    // A Map: an id such as "__proto__" must stay an ordinary key.
    return new Map(ok ? Object.entries(value).filter(([, t]) => typeof t === 'string') : []);
  } catch {
    return new Map();
  }
};

const writeTokens = (tokens) => {
  localStorage.setItem(TOKENS_KEY, JSON.stringify(Object.fromEntries(tokens)));
};

export const editTokens = {
  get: (id) => readTokens().get(id) ?? null,
  set: (id, token) => writeTokens(readTokens().set(id, token)),
  remove: (id) => {
    const tokens = readTokens();
    tokens.delete(id);
    writeTokens(tokens);
  },
  ids: () => [...readTokens().keys()],
};

const API = '/api/transcripts';

// The console lines of one entry (classes as in the live console). An event reads as the
// server words it (``event_words`` of GET /api/transcripts/<id>, the exports' wording).
// (Made directly, not with el(): the replay page makes one per line of 10,000 entries.)
const line = (cls, text) => {
  const node = document.createElement('div');
  node.className = cls;
  node.textContent = visible(text);
  return node;
};
const SENT_CLASS = { data: 'line sent data', 'auth-response': 'line sent auth' };

export function entryLines(entry, words) {
  if (entry.kind === 'sent') return [line(SENT_CLASS[entry.line_kind] || 'line sent', entry.text)];
  if (entry.kind === 'reply') {
    const cls = `line reply ${replyClass(entry.code)}`;
    const lines = entry.lines.length ? entry.lines : [''];
    return lines.map((text) => line(cls, text));
  }
  const cls = entry.event === 'error' ? 'line error' : 'line info';
  return [line(cls, `* ${words ?? entry.event}`)];
}

// One API call; resolves to the parsed JSON body (null for 204), rejects with the message.
export async function api(path, { method = 'GET', token = null, body = undefined } = {}) {
  const headers = {};
  if (token) headers['X-Edit-Token'] = token;
  // With accounts (or a proxy) the session cookie is ambient authority: writes carry the
  // CSRF token the page was rendered with (docs/security.md).
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  if (csrf && method !== 'GET') headers['X-CSRFToken'] = csrf;
  if (body !== undefined && !(body instanceof FormData)) headers['Content-Type'] = 'application/json';
  const payload = body instanceof FormData || body === undefined ? body : JSON.stringify(body);
  const response = await fetch(API + path, { method, headers, body: payload });
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new Error(data.error?.message || `the server answered ${response.status}`);
  }
  return data;
}

function addDeleteButton(row, token) {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'secondary delete';
  button.textContent = 'Delete';
  button.addEventListener('click', async () => {
    const title = row.querySelector('.title')?.textContent || 'this transcript';
    if (!window.confirm(`Delete “${title}” for good?`)) return;
    try {
      await api(`/${encodeURIComponent(row.dataset.id)}`, { method: 'DELETE', token });
      editTokens.remove(row.dataset.id);
      row.remove();
      $('list-status').textContent = `Deleted “${title}”.`;
    } catch (err) {
      $('list-status').textContent = `Not deleted: ${err.message}`;
    }
  });
  row.querySelector('.actions').append(button);
}

async function importFile(form) {
  const file = form.elements.file.files[0];
  if (!file) {
    $('list-status').textContent = 'Choose a JSON transcript file first.';
    return;
  }
  const data = new FormData();
  data.append('file', file);
  try {
    const made = await api('/import', { method: 'POST', body: data });
    editTokens.set(made.id, made.edit_token);
    window.location.assign(made.url);
  } catch (err) {
    $('list-status').textContent = `Not imported: ${err.message}`;
  }
}

function wireListPage() {
  for (const row of document.querySelectorAll('#transcript-list tr[data-id]')) {
    const token = editTokens.get(row.dataset.id);
    if (token) addDeleteButton(row, token);
  }
  $('import-form')?.addEventListener('submit', (ev) => {
    ev.preventDefault();
    importFile(ev.target);
  });
}

if ($('transcript-list')) wireListPage();
