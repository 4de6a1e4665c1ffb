// The player's options, read from the address (docs/embedding.md): autoplay, loop, t (start),
// speed, idle (longest pause), theme, poster, markers; applied to the player, and the replay
// page's Embed panel that builds the iframe snippet from them.
// A bad value is ignored with a console warning: an embed never breaks over a typo.

import { $ } from './dom.js';

export const SPEEDS = ['0.5', '1', '2', '4', '8'];
// The values of <html data-theme> (static/js/theme.js); high-contrast is another name for contrast.
export const THEMES = ['dark', 'light', 'contrast', 'high-contrast'];
export const DEFAULT_IDLE_S = 2;

const YES = new Set(['1', 'true', 'yes', 'on', '']);
const NO = new Set(['0', 'false', 'no', 'off']);

// "12", "12.5", "1:05" or "1:02:05" -> milliseconds; null if it is none of those.
export function parseTime(text) {
  if (text === null || text === undefined) return null;
  const match = /^(?:(\d+):)?(?:(\d+):)?(\d+(?:\.\d+)?)$/.exec(String(text).trim());
  if (!match) return null;
  const parts = [match[1], match[2]].filter((p) => p !== undefined).map(Number);
  const [h, m] = parts.length === 2 ? parts : [0, parts[0] || 0];
  return ((h * 60 + m) * 60 + Number(match[3])) * 1000;
}

function flag(params, name, fallback) {
  if (!params.has(name)) return fallback;
  const value = params.get(name).toLowerCase();
  if (YES.has(value)) return true;
  if (NO.has(value)) return false;
  console.warn(`Replay option ${name}=${value} is not 1 or 0; ignored.`);
  return fallback;
}

function number(params, name, low, high) {
  if (!params.has(name)) return null;
  const value = Number(params.get(name));
  if (Number.isFinite(value) && value >= low && value <= high) return value;
  console.warn(`Replay option ${name} must be a number from ${low} to ${high}; ignored.`);
  return null;
}

function poster(params, start) {
  const value = params.get('poster');
  if (value === null) return start === null ? 'end' : start;
  if (value === 'start' || value === 'end') return value;
  const ms = parseTime(value.replace(/^npt:/, ''));
  if (ms !== null) return ms;
  console.warn(`Replay option poster=${value} is start, end or a time; ignored.`);
  return start === null ? 'end' : start;
}

// Every option, with its default, from a query string.
export function readOptions(search) {
  const params = new URLSearchParams(search);
  const start = params.has('t') ? parseTime(params.get('t')) : null;
  if (params.has('t') && start === null) console.warn(`Replay option t=${params.get('t')} is not a time; ignored.`);
  const theme = params.get('theme');
  if (theme !== null && !THEMES.includes(theme)) console.warn(`Replay option theme=${theme} is one of ${THEMES.join(', ')}; ignored.`);
  return {
    autoplay: flag(params, 'autoplay', false),
    loop: flag(params, 'loop', false),
    start,
    speed: number(params, 'speed', 0.1, 16),
    idle: number(params, 'idle', 0.1, 3600) ?? DEFAULT_IDLE_S,
    theme: THEMES.includes(theme) ? theme.replace('high-contrast', 'contrast') : null,
    poster: poster(params, start),
    markers: flag(params, 'markers', true),
  };
}

// The query string for an embed with these choices (defaults left out).
export function embedQuery({ autoplay, loop, start, speed, idle, theme, markers }) {
  const params = new URLSearchParams();
  if (autoplay) params.set('autoplay', '1');
  if (loop) params.set('loop', '1');
  if (start) params.set('t', start);
  if (speed && speed !== '1') params.set('speed', speed);
  if (idle && Number(idle) !== DEFAULT_IDLE_S) params.set('idle', idle);
  if (theme) params.set('theme', theme);
  if (markers === false) params.set('markers', '0');
  const text = params.toString();
  return text ? `?${text}` : '';
}

// The HTML a documentation writer pastes: an iframe of the embed page.
export function embedSnippet(url, title) {
  const safeTitle = title.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
  const safeUrl = url.replace(/&/g, '&amp;').replace(/"/g, '&quot;');
  return `<iframe src="${safeUrl}" title="${safeTitle}" width="100%" height="520" `
    + 'style="border:0" loading="lazy" allow="fullscreen"></iframe>';
}

// The options a reader asked for in the address, applied to the page's own controls.
export function applyOptions(options) {
  if (options.theme) document.documentElement.dataset.theme = options.theme;
  if (options.speed !== null) {
    const speed = String(options.speed);
    if (!SPEEDS.includes(speed)) $('speed').append(new Option(`${speed}×`, speed));
    $('speed').value = speed;
  }
  $('markers').hidden = !options.markers;
}

// The replay page's "Embed" panel: choices -> the iframe snippet, and a copy button.
export function wireSnippet() {
  const form = $('embed-form');
  if (!form) return;
  const base = new URL(form.dataset.embedUrl, window.location.href).href;
  const update = () => {
    const query = embedQuery({
      autoplay: form.elements.autoplay.checked,
      loop: form.elements.loop.checked,
      start: form.elements.start.value.trim(),
      speed: form.elements.speed.value,
      theme: form.elements.theme.value,
      markers: form.elements.markers.checked,
    });
    $('embed-snippet').value = embedSnippet(base + query, $('title').textContent);
    $('embed-preview').href = base + query;
  };
  form.addEventListener('input', update);
  form.addEventListener('change', update);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    update();
    try {
      await navigator.clipboard.writeText($('embed-snippet').value);
      $('embed-status').textContent = 'Snippet copied.';
    } catch {
      $('embed-snippet').select();
      $('embed-status').textContent = 'Press Ctrl+C to copy the selected snippet.';
    }
  });
  update();
}
