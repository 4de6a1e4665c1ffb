// The Classroom page (/class): join by code; a trainer's classes and the form that opens one.
// The trainer key page (/class/login) is here too: both are small.

import { $, el } from './dom.js';
import { api, classData, when } from './classroom-api.js';

function joinByCode() {
  $('join-code-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const code = $('join-code').value.trim().toUpperCase();
    if (code) location.assign(`/join/${encodeURIComponent(code)}`);
  });
}

function classRow(c) {
  const title = c.title || `Class ${c.code}`;
  return el('tr', { data: { class: c.id } },
    el('td', {}, el('a', { href: `/class/${encodeURIComponent(c.id)}` }, title)),
    el('td', {}, el('code', {}, c.code)),
    el('td', {}, String(c.students)),
    el('td', {}, when(c.created_at)),
    el('td', {}, c.ended_at ? `ended ${when(c.ended_at)}` : 'open'),
    el('td', {}, el('a', { href: `/class/${encodeURIComponent(c.id)}/report` }, 'Report')));
}

async function trainerPart() {
  const status = $('trainer-status');
  let me;
  try {
    me = await api('/me');
  } catch (exc) {
    status.textContent = exc.message;
    return;
  }
  if (!me.trainer) {
    status.replaceChildren(me.mode === 'none'
      ? el('span', {}, 'Trainers sign in with the trainer key: ', el('a', { href: '/class/login' }, 'trainer sign-in'), '.')
      : 'Your account is not a trainer\'s: an admin can make it one (users set-role NAME trainer).');
    return;
  }
  status.textContent = `Signed in as trainer ${me.name || ''}.`.replace(' .', '.');
  $('open-form').hidden = false;
  $('open-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      const c = await api('', { method: 'POST', body: { title: $('class-title').value.trim() } });
      location.assign(`/class/${encodeURIComponent(c.id)}`);
    } catch (exc) {
      status.textContent = exc.message;
    }
  });
  const { classes } = await api('');
  if (classes.length) {
    $('class-list').tBodies[0].replaceChildren(...classes.map(classRow));
    $('class-list').hidden = false;
  }
}

function keyForm() {
  $('key-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    try {
      await api('/trainer-login', { method: 'POST', body: { key: $('trainer-key').value } });
      $('key-status').textContent = 'Signed in as trainer.';
      location.assign('/class');
    } catch (exc) {
      $('key-status').textContent = exc.message;
    }
  });
}

if (classData().page === 'login') {
  keyForm();
} else {
  joinByCode();
  trainerPart();
}
