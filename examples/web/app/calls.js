// Calls between people who are online: the list of who is (with a Call button each, and a mark
// for those in a call), the "Calling bob…" banner with Cancel, the incoming-call dialog with its
// ring, and a short message for how each call ended. The same list shows on the online page and,
// during a call, in the People panel, to ring someone into the call.
//
// Accepting is the app's business (app.js): onAccepted(room, title) takes both sides into the call.

import { startRing } from './ring.js';
import { setStatus, clearStatus } from './status.js';

const $ = (selector) => document.querySelector(selector);

// How long an outcome ("bob declined the call") stays in the status bar.
const NOTE_MS = 8000;

// What the person is told when their call request is refused (call(): the server's error code).
const CALL_ERRORS = {
  unknown_person: (to) => `${to} is not online any more`,
  call_self: () => 'You cannot call yourself',
  already_calling: () => 'You are calling someone already',
  not_online: () => 'You are not online: reconnecting…',
  rate_limited: () => 'Too many calls: wait a moment',
};

export class Calls {
  // lists: the <ul> elements to show the people in, each with an element to show when it is
  // empty (data-empty on the list names it by id).
  constructor(client, { lists, onAccepted }) {
    this.client = client;
    this.lists = lists;
    this.onAccepted = onAccepted;
    this.stopRing = null;
    this.ringing = null; // the incoming call the dialog shows
    this.noteTimer = 0;

    for (const list of lists) {
      list.addEventListener('click', (event) => {
        const button = event.target.closest('button[data-person]');
        if (button) this.call(button.dataset.person);
      });
    }
    const render = () => this.render();
    for (const type of ['presence', 'persononline', 'personoffline', 'calling', 'joined', 'participantjoined', 'participantleft', 'statechange']) {
      client.on(type, render);
    }
    client.on('incomingcall', (call) => this.#ring(call));
    client.on('callresult', (result) => this.#ended(result));
    $('#cancel-call').addEventListener('click', () => client.cancel());
    $('#accept-call').addEventListener('click', () => this.#answer(true));
    $('#reject-call').addEventListener('click', () => this.#answer(false));
    // Escape (the dialog's cancel) turns the call down.
    $('#incoming-call').addEventListener('cancel', (event) => {
      event.preventDefault();
      this.#answer(false);
    });
    this.render();
  }

  // render draws the people online in each list, and the banner of the call we make.
  render() {
    const c = this.client;
    const here = new Set([...c.participants.values()].map((p) => p.identity || p.name));
    const people = [...c.people.entries()].sort(([, a], [, b]) => a.name.localeCompare(b.name));
    for (const list of this.lists) {
      list.replaceChildren(...people.map(([key, person]) => personItem(key, person, {
        inThisCall: c.state === 'joined' && here.has(key),
        calling: c.outgoingCall !== null,
        online: c.online,
      })));
      const empty = document.getElementById(list.dataset.empty);
      if (empty) {
        empty.hidden = people.length > 0;
        empty.textContent = c.online ? 'Nobody else is online yet. Whoever opens this page online shows here.' : 'Connecting…';
      }
    }
    const calling = c.outgoingCall;
    $('#calling').hidden = !calling;
    if (calling) $('#calling-text').textContent = `Calling ${calling.person?.name || calling.to}…`;
    const count = c.people.size;
    const badge = $('#people-count');
    badge.hidden = count === 0;
    badge.textContent = String(count);
  }

  async call(key) {
    const person = this.client.people.get(key);
    const name = person?.name || key;
    try {
      await this.client.call(key);
      $('#cancel-call').focus();
    } catch (err) {
      this.note((CALL_ERRORS[err.code] ?? (() => `Could not call ${name}: ${err.message}`))(name));
    }
    this.render();
  }

  // note shows a short message in the status bar for a while.
  note(text) {
    clearTimeout(this.noteTimer);
    setStatus(text);
    this.noteTimer = setTimeout(() => clearStatus(text), NOTE_MS);
  }

  #ring(call) {
    this.ringing = call;
    const c = this.client;
    $('#incoming-name').textContent = call.name || call.identity || 'Someone';
    $('#incoming-text').textContent = c.state === 'joined'
      ? 'Accepting leaves the call you are in.'
      : call.room ? 'to join their call' : 'Video call';
    const dialog = $('#incoming-call');
    if (!dialog.open) dialog.showModal();
    $('#accept-call').focus();
    this.stopRing?.();
    this.stopRing = startRing();
  }

  #closeDialog() {
    this.stopRing?.();
    this.stopRing = null;
    this.ringing = null;
    const dialog = $('#incoming-call');
    if (dialog.open) dialog.close();
  }

  #answer(accept) {
    const call = this.ringing;
    if (!call) return;
    if (accept) {
      // The server answers both sides with the room (callresult "accepted").
      this.client.accept(call.callId);
      $('#accept-call').disabled = true;
      $('#incoming-text').textContent = 'Connecting…';
      this.stopRing?.();
    } else {
      this.client.reject(call.callId);
    }
  }

  #ended({ callId, result, room, outgoing, to, person, name, local }) {
    this.render();
    if (!outgoing) {
      if (this.ringing?.callId !== callId) return;
      this.#closeDialog();
      $('#accept-call').disabled = false;
      if (result === 'accepted') this.onAccepted(room, `Call with ${name}`);
      else if (result === 'cancelled' || result === 'unanswered') this.note(`Missed call from ${name}`);
      return;
    }
    const who = person?.name || to;
    switch (result) {
      case 'accepted':
        if (this.client.state === 'joined' && this.client.room === room) this.note(`${who} is joining the call`);
        else this.onAccepted(room, `Call with ${who}`);
        break;
      case 'rejected': this.note(`${who} declined the call`); break;
      case 'busy': this.note(`${who} is busy`); break;
      case 'unanswered': this.note(`${who} did not answer`); break;
      case 'offline': this.note(`${who} went offline`); break;
      case 'cancelled': this.note(local ? `The call to ${who} ended: connection lost` : 'Call cancelled'); break;
      default: this.note(`The call to ${who} ended (${result})`);
    }
  }
}

function personItem(key, person, { inThisCall, calling, online }) {
  const item = document.createElement('li');
  item.className = 'person';
  item.dataset.person = key;
  const name = document.createElement('span');
  name.className = 'person-name';
  name.textContent = person.name;
  const mark = document.createElement('span');
  mark.className = 'in-call';
  mark.textContent = inThisCall ? 'in this call' : 'in a call';
  mark.hidden = !person.inCall && !inThisCall;
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'primary call-button';
  button.dataset.person = key;
  button.textContent = 'Call';
  button.setAttribute('aria-label', `Call ${person.name}${person.inCall ? ' (in a call)' : ''}`);
  button.disabled = inThisCall || calling || !online;
  item.append(name, mark, button);
  return item;
}
