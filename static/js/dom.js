// DOM helpers every page shares: one way to make an element, find one, read the page's data
// and colour a reply. Text is always set as text nodes (never markup): server and user text is
// untrusted.

// el('p', {class: 'x', data: {field: 'y'}, on: {click: fn}}, 'text', child) -> element
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.className = value;
    else if (key === 'data') Object.assign(node.dataset, value);
    else if (key === 'on') for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (key in node && typeof value !== 'string') node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

export const $ = (id) => document.getElementById(id);

// JSON the server rendered into the page (<div id="..." data-json='...'>; no inline script,
// so the CSP needs no exception).
export function pageData(id) {
  const node = $(id);
  return node ? JSON.parse(node.dataset.json) : null;
}

// RFC 5321 §4.2.1: the first digit of a reply says how it went; the console colours by it.
const REPLY_CLASS = { 2: 'r2xx', 3: 'r3xx', 4: 'r4xx', 5: 'r5xx' };
export const replyClass = (code) => REPLY_CLASS[Math.floor((code || 0) / 100)] || 'rbad';

// A control character (an ESC, a backspace) would act on the screen or vanish from it: it
// is shown as its Unicode control picture (U+2400 + code, DEL U+2421). Tabs stay tabs, as
// message text keeps them; the transcript keeps every character as it was.
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f]/;
const CONTROLS = /[\u0000-\u0008\u000b-\u001f\u007f]/g;
export function visible(text) {
  if (!CONTROL.test(text)) return text;
  return text.replace(CONTROLS, (c) => String.fromCharCode(c === '\u007f' ? 0x2421 : 0x2400 + c.charCodeAt(0)));
}
