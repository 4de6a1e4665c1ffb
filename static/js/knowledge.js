// Lean frames (docs/protocol.md v2) read back into today's full shape: the keys resolved with
// the knowledge document, the state kept from its changes. The Python twin is
// smtp_session/guide/lean.py FrameReader; the browser tests check the two agree.

import { pageData } from './dom.js';

const STATE_FRAMES = new Set(['connected', 'reply', 'tls', 'closed']);
const FULL_STATE = new Set(['connected', 'state']);
const RFC_MALFORMED = 'RFC 5321 §4.2.1';

// The document, fetched once per page; its address holds its hash, so the browser's cache
// (immutable) serves every later load, offline too.
let loading = null;
export function loadKnowledge(url = (pageData('knowledge-data') || {}).url) {
  if (!loading) {
    loading = fetch(url, { credentials: 'same-origin' }).then((response) => {
      if (!response.ok) throw new Error(`the knowledge document did not load (${response.status})`);
      return response.json();
    });
  }
  return loading;
}

const has = (obj, key) => obj !== null && typeof obj === 'object' && Object.prototype.hasOwnProperty.call(obj, key);

// A reference: a string names an entry of the section; anything else travelled inline.
function pick(section, ref) {
  if (typeof ref !== 'string') return ref;
  if (!has(section, ref)) throw new Error(`unknown knowledge key ${ref}`);
  return section[ref];
}

function replyFacts(doc, facts) {
  if (!has(facts, 'capabilities')) return facts;
  const capabilities = facts.capabilities.map((cap) => {
    const { ext, ...rest } = cap;
    const out = { ...rest, ...pick(doc.extensions, ext) };
    if (has(cap.facts, 'mechanisms')) {
      out.facts = { ...cap.facts, mechanisms: cap.facts.mechanisms.map((m) => pick(doc.mechanisms, m)) };
    }
    return out;
  });
  return { ...facts, capabilities };
}

export function resolveReplyExplain(doc, lean, frame) {
  if (has(lean, 'full')) return { ...lean.full };
  const evidence = lean.evidence.map((ref, i) => ({ ...pick(doc.layers, ref), used: i === lean.used }));
  const best = evidence[lean.used];
  const head = has(lean, 'head') ? pick(doc.guide, lean.head) : null;
  const rfc = evidence.flatMap((layer) => layer.rfc);
  if (frame.malformed) rfc.push(RFC_MALFORMED);
  const summary = pick(doc.codes, has(lean, 'summary') ? lean.summary : String(frame.code));
  const enhanced = has(lean, 'enhanced') ? lean.enhanced : frame.enhanced;
  return {
    code: frame.code,
    class: frame.class,
    summary: summary.summary,
    meaning: head ? head.says : best.says,
    next: head ? head.next : evidence[lean.next].next,
    rfc: [...new Set(rfc)],
    known: summary.known,
    context: lean.context,
    text: frame.text,
    lines: [...(frame.lines || [])],
    enhanced: enhanced === null || enhanced === undefined ? null : pick(doc.enhanced, enhanced),
    malformed: frame.malformed,
    facts: replyFacts(doc, has(lean, 'facts') ? lean.facts : {}),
    layer: best.key,
    specific: lean.specific,
    evidence,
    contradictions: has(lean, 'contradictions') ? lean.contradictions : [],
    keys: has(lean, 'keys') ? lean.keys : frame.keys,
  };
}

function param(doc, lean) {
  const out = { name: lean.name, value: lean.value, known: lean.known };
  if (!lean.known) return { ...out, ...doc.guide['param-unknown'] };
  const { values, ...entry } = pick(doc.params, lean.name);
  return { ...out, ...entry, value_meaning: has(values, lean.value_key) ? values[lean.value_key] : null };
}

export function resolveCommandExplain(doc, lean, frame) {
  if (has(lean, 'full')) return { ...lean.full };
  const { command, ...out } = lean;
  if (!has(out, 'keys')) out.keys = frame.keys;
  out.parameters = lean.parameters.map((p) => param(doc, p));
  if (has(lean.facts, 'mechanism')) out.facts = { ...lean.facts, mechanism: pick(doc.mechanisms, lean.facts.mechanism) };
  Object.assign(out, command === null ? doc.guide['command-unknown'] : pick(doc.commands, command));
  return out;
}

// Python's str.format with only {name} fields (the warnings' templates).
const fill = (template, values) => template.replace(/\{(\w+)\}/g, (all, name) => (has(values, name) ? values[name] : all));

export function resolveWarning(doc, lean) {
  if (has(lean, 'full')) return { ...lean.full };
  const texts = pick(doc.warnings, lean.code);
  const values = { ...doc.limits, ...lean.values };
  for (const key of Object.keys(values)) values[key] = String(values[key]);
  return {
    code: lean.code,
    message: fill(texts.message, values),
    fix: fill(texts.fix, values),
    rfc: fill(texts.rfc, values),
    line: lean.line,
  };
}

// One receiver's view of a session: lean frames in, full-shaped frames out. A ``session``
// frame says whether what follows is lean; a replay's frames are lean from the start.
export class FrameReader {
  constructor(doc, lean = true) {
    this.doc = doc;
    this.lean = lean;
    this.state = {};
  }

  read(frame) {
    if (frame.type === 'session') this.lean = frame.frames === 'lean';
    if (!this.lean) {
      if (frame.state) this.state = frame.state;
      return frame;
    }
    const out = { ...frame };
    if (has(frame, 'state') && frame.state) {
      this.state = FULL_STATE.has(frame.type) ? { ...frame.state } : { ...this.state, ...frame.state };
    }
    if (STATE_FRAMES.has(frame.type)) out.state = this.state; // shared until it changes: read only
    if (frame.explain && typeof frame.explain === 'object') {
      out.explain = frame.type === 'reply'
        ? resolveReplyExplain(this.doc, frame.explain, frame)
        : resolveCommandExplain(this.doc, frame.explain, frame);
    }
    if (Array.isArray(frame.warnings)) out.warnings = frame.warnings.map((w) => resolveWarning(this.doc, w));
    return out;
  }
}

// A replay's lean frames (?frames=lean), read in order. Explanations that repeat (NOOP, 250 Ok)
// resolve to one shared object, as ?frames=compact shared them: a long transcript stays small.
export function readFrames(doc, frames) {
  const reader = new FrameReader(doc, true);
  const shared = new Map();
  return frames.map((frame) => {
    if (!frame.explain) return reader.read(frame);
    const key = JSON.stringify([frame.type, frame.explain, frame.code, frame.class, frame.text,
      frame.lines, frame.malformed, frame.enhanced, frame.keys]);
    const { explain, ...rest } = frame;
    const out = reader.read(rest);
    if (!shared.has(key)) {
      shared.set(key, frame.type === 'reply' ? resolveReplyExplain(doc, explain, frame) : resolveCommandExplain(doc, explain, frame));
    }
    out.explain = shared.get(key);
    return out;
  });
}
