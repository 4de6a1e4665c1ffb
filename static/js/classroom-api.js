// What every classroom page shares: calls to the class API (docs/classroom.md), the student's
// token kept per class, the class sockets' address, and times in words.

import { pageData } from './dom.js';

export const classData = () => pageData('class-data') || {};

export class ApiError extends Error {
  constructor(message, code, status) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

// JSON in and out; an error is thrown in the API's own words ({"error": {code, message}}).
export async function api(path, { method = 'GET', body } = {}) {
  const headers = { Accept: 'application/json' };
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content;
  if (csrf && method !== 'GET') headers['X-CSRFToken'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const resp = await fetch(`/api/classes${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(err.message || `The server answered ${resp.status}.`, err.code || 'http', resp.status);
  }
  return data;
}

// A trainer page explains a refusal: not signed in, not a trainer, no such class.
export function refusal(exc) {
  if (exc.code === 'not_trainer' || exc.status === 403) return `${exc.message} Only the class's trainer sees this page: sign in as a trainer on the Classroom page.`;
  if (exc.status === 401) return `${exc.message} Sign in first.`;
  return exc.message;
}

// The student's token of each class (class_joined's, for class_join after a reload and for
// the follow socket), kept in this browser: {classId: token} and {code: classId}.
const TOKENS = 'smtp-playground-class-tokens';
const read = () => {
  try {
    const value = JSON.parse(localStorage.getItem(TOKENS) || '{}');
    return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
};
export const tokens = {
  get: (key) => (Object.hasOwn(read(), key) ? read()[key] : null),
  set: (entries) => {
    try {
      localStorage.setItem(TOKENS, JSON.stringify({ ...read(), ...entries }));
    } catch {
      // a private window: the token lasts for this page only
    }
  },
};

export const socketUrl = (path) => `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}${path}`;

// 75 -> "1 min 15 s"; the dashboard's idle column.
export function duration(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export const when = (iso) => (iso ? new Date(iso).toLocaleString() : '');
