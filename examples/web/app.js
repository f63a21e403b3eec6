// The example video-call app of the SFU. It is built only on the client module in client/
// (SfuClient and its helpers, documented in README.md): this file starts the page and wires the
// client's events to the interface; app/ has the lobby, the tiles, the chat and the devices.
//
//   /                         the lobby: room, name, camera preview, devices, Join
//   /?room=R                  the lobby for room R (what an invite link opens)
//   /?room=R&name=N           joins room R as N at once
//   /?token=T                 joins the token's room at once (servers with access tokens)
//   /?name=N&online=1         goes online as N: the people online, and calls (also the lobby's
//                             "Be reachable for calls"); /?token=T&online=1 with a token

import { SfuClient, listDevices, deviceIdOf } from './client/sfu-client.js';
import { showLobby, acquireMedia } from './app/lobby.js';
import { Tiles } from './app/tiles.js';
import { Chat } from './app/chat.js';
import { Calls } from './app/calls.js';
import { mediaProblem, remember } from './app/devices.js';
import { setStatus, clearStatus } from './app/status.js';

const $ = (selector) => document.querySelector(selector);

// What a failed call says, by error code: a title, and what the person can do.
const FAILURES = {
  room_full: ['This room is full', 'The room has as many people as the server allows. Try again later, or pick another room.'],
  too_many_rooms: ['The server is full', 'The server has as many rooms as it allows. Try again later, or join an existing room.'],
  too_many_connections: ['Too many connections', 'Your network has too many calls open on this server already.'],
  token_required: ['An access link is needed', 'This server admits only people with an access link. Open the link you were given.'],
  token_invalid: ['Your access link was refused', 'The link is damaged or not for this server. Ask for a new one.'],
  token_expired: ['Your access link has expired', 'Ask whoever sent it for a new one.'],
  wrong_room: ['Your access link is for another room', 'Open the link without changing the room.'],
  replaced: ['You joined from another window', 'This window left the call because you joined the same room elsewhere.'],
  bad_room: ['That room name is not accepted', 'A room name is 1 to 128 bytes long.'],
  bad_name: ['That name is too long', 'Pick a shorter name.'],
  bad_sdp: ['This browser cannot join', 'The server refused what this browser offered. Try another browser.'],
  name_taken: ['Someone online has that name', 'People call you by your name: pick another one.'],
};

// Server errors that the calls' own messages cover, or that mean nothing to the person.
const QUIET_CODES = new Set(['not_online', 'call_self', 'unknown_person', 'already_calling', 'unknown_call',
  'already_online', 'not_joined']);

// What the page is: online (reachable for calls) or only in a room, and the call it shows.
const app = {
  online: false,
  prefs: { audioMuted: false, videoMuted: false }, // the lobby's choice, for each call
  callTitle: '', // "Call with bob", for a call that was rung
  calls: null,
  chatRoom: '',
};

const RECONNECT_REASONS = {
  shutting_down: 'The server is restarting',
  connection_lost: 'Connection lost',
  connection_failed: 'The media connection failed',
  negotiation_failed: 'The connection needs to start over',
  slow_consumer: 'The connection was too slow',
  name_taken: 'Your name is still online from before',
  internal: 'The server had a problem',
  negotiation: 'The connection needs to start over',
  connect_timeout: 'The media connection did not start',
};

async function start() {
  const params = new URLSearchParams(location.search);
  const token = params.get('token') ?? '';
  const room = params.get('room') ?? '';
  const name = params.get('name');
  if (params.get('online') === '1' && (name || token)) {
    startOnline({ name: name ?? '', token });
    return;
  }
  if (token || (room && name !== null)) {
    // A link that says who and where joins at once, with the remembered devices.
    const client = newClient({ room, name: name ?? '', token });
    setupCall(client);
    showView('call');
    setStatus('Starting camera and microphone…');
    const { stream, problems } = await acquireMedia();
    joinCall(client, { stream, problems, audioMuted: false, videoMuted: false });
    return;
  }
  showView('lobby');
  document.title = 'Join a call';
  const choice = await showLobby(room);
  if (choice.online) {
    history.replaceState(null, '', `?${new URLSearchParams({ name: choice.name, online: '1' })}`);
    startOnline(choice);
    return;
  }
  history.replaceState(null, '', `?${new URLSearchParams({ room: choice.room, name: choice.name })}`);
  const client = newClient({ room: choice.room, name: choice.name });
  setupCall(client);
  showView('call');
  joinCall(client, choice);
}

// ---------------------------------------------------------------------------------------------
// Online: the people online, calls, and the calls they lead to, on one client (one WebSocket)

function startOnline({ name, token = '', audioMuted = false, videoMuted = false }) {
  app.online = true;
  app.prefs = { audioMuted, videoMuted };
  const client = newClient({ name, token });
  setupCall(client);
  app.calls = new Calls(client, {
    lists: [$('#people-list'), $('#call-people-list')],
    onAccepted: (room, title) => enterCall(client, room, title),
  });
  const renderName = () => {
    $('#online-name').textContent = client.online
      ? `Others see you as ${client.name} and can call you while this page is open.`
      : 'Connecting…';
  };
  client.on('presence', renderName);
  client.on('statechange', renderName);
  $('#go-offline').addEventListener('click', () => {
    client.goOffline();
    showEnd(client, 'You are offline', 'Nobody can call you until you go online again.');
  });
  $('#toggle-people').addEventListener('click', () => togglePeople());
  $('#people-close').addEventListener('click', () => togglePeople(false));
  $('#people-panel').addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      togglePeople(false);
      $('#toggle-people').focus();
    }
  });
  showOnline(client);
  client.goOnline().catch((err) => console.info('sfu: going online failed', err.code ?? err));
}

function showOnline(client) {
  app.callTitle = '';
  togglePeople(false);
  showView('online');
  document.title = 'Online · Video call';
  app.calls?.render();
  if (!client.outgoingCall) $('#people-list button:not(:disabled)')?.focus();
}

// enterCall takes the person into the room of an accepted call, with the camera and microphone
// they chose (asked for now: they stay off while only online).
async function enterCall(client, room, title) {
  app.callTitle = title;
  showView('call');
  renderTitle(client, room);
  if (client.localStream) {
    joinCall(client, { stream: client.localStream, audioMuted: client.audioMuted, videoMuted: client.videoMuted }, room);
    return;
  }
  setStatus('Starting camera and microphone…');
  const { stream, problems } = await acquireMedia();
  joinCall(client, { stream, problems, ...app.prefs }, room);
}

function togglePeople(open = $('#people-panel').hidden) {
  const panel = $('#people-panel');
  const button = $('#toggle-people');
  if (open && !$('#chat').hidden) $('#chat-close').click();
  panel.hidden = !open;
  document.body.toggleAttribute('data-chat-open', open || !$('#chat').hidden);
  button.setAttribute('aria-expanded', String(open));
  button.setAttribute('aria-pressed', String(open));
  if (open) ($('#call-people-list button:not(:disabled)') ?? $('#people-close')).focus();
}

function newClient(options) {
  const client = new SfuClient(options);
  // For tests and curious people: the call's client is at window.sfuClient in the console.
  window.sfuClient = client;
  return client;
}

function showView(id) {
  for (const view of document.querySelectorAll('.view')) view.hidden = view.id !== id;
  document.body.dataset.view = id;
}

// ---------------------------------------------------------------------------------------------
// The call

// setupCall wires the call's view to the client, once per page: an online page enters and
// leaves many calls with it.
function setupCall(client) {
  const tiles = new Tiles(client, $('#grid'));
  new Chat(client);
  renderTitle(client);
  client.on('joined', ({ room }) => {
    if (room !== app.chatRoom) $('#chat-log').replaceChildren(); // a new call, a new chat
    app.chatRoom = room;
  });

  const memberCount = () => {
    const n = client.participants.size + 1;
    $('#member-count').textContent = `${n} ${n === 1 ? 'person' : 'people'}`;
  };
  client.on('statechange', ({ state, reason }) => {
    document.body.dataset.state = state;
    switch (state) {
      case 'connecting':
        setStatus('Connecting…');
        break;
      case 'joined':
        tiles.showLocal();
        memberCount();
        renderTitle(client);
        if (!client.permissions.publish) setStatus('You joined to watch and listen: your access link does not allow sending video or sound', 'warn');
        else if (client.mediaNote) setStatus(client.mediaNote, 'warn');
        else setStatus('');
        break;
      case 'reconnecting':
        setStatus(`${RECONNECT_REASONS[reason] ?? 'Connection lost'}. Reconnecting…`, 'warn');
        break;
      case 'failed':
        tiles.clear();
        showFailure(client);
        break;
      case 'left':
        tiles.clear();
        break;
      case 'online':
        // Out of the room (left, or it could not be joined), or back after a reconnection.
        tiles.clear();
        setStatus('');
        if (document.body.dataset.view === 'call') showOnline(client);
        break;
    }
    renderControls(client);
  });
  client.on('participantjoined', ({ participant }) => { tiles.renderParticipant(participant.id); memberCount(); });
  client.on('participantupdated', ({ participant }) => tiles.renderParticipant(participant.id));
  client.on('participantleft', ({ id }) => { tiles.removeParticipant(id); memberCount(); });
  client.on('speaker', ({ id }) => tiles.showSpeaker(id));
  client.on('quality', ({ quality }) => tiles.showQuality(quality));
  client.on('localmedia', () => {
    if (client.state === 'joined' || client.state === 'reconnecting') tiles.showLocal();
    renderControls(client);
  });
  client.on('screenshare', () => renderControls(client));
  client.on('draining', (d) => showDraining(client, d));
  const interrupted = 'Network interrupted, waiting for it to come back…';
  client.on('connectionstate', ({ state }) => {
    if (state === 'disconnected') setStatus(interrupted, 'warn');
    if (state === 'connected') clearStatus(interrupted);
  });
  client.on('error', ({ code, message, fatal }) => {
    if (QUIET_CODES.has(code)) return;
    if (!fatal && app.online && FAILURES[code]) {
      // A room an online page could not join: it stays online.
      app.calls?.note(FAILURES[code].join('. '));
      return;
    }
    if (fatal || code === 'bad_chat' || code === 'rate_limited' || (code === 'not_allowed' && /chat/i.test(message))) return;
    if (code === 'not_allowed') setStatus('Your access link does not allow that', 'warn');
    else if (code === 'too_many_tracks') setStatus('The server does not take more video or sound from you', 'warn');
    else if (code !== 'shutting_down') setStatus(`Server error: ${message || code}`, 'warn');
  });

  $('#mute-audio').addEventListener('click', () => client.setAudioMuted(!client.audioMuted));
  $('#mute-video').addEventListener('click', () => client.setVideoMuted(!client.videoMuted));
  $('#share-screen').addEventListener('click', () => toggleScreenShare(client));
  $('#invite').addEventListener('click', () => invite(client));
  $('#open-settings').addEventListener('click', () => openSettings(client));
  $('#leave').addEventListener('click', () => leave(client));
  $('#call-camera-select').addEventListener('change', (e) => switchDevice(client, 'camera', e.target.value));
  $('#call-mic-select').addEventListener('change', (e) => switchDevice(client, 'microphone', e.target.value));
  renderControls(client);
}

async function joinCall(client, { stream, problems = {}, audioMuted, videoMuted }, room = undefined) {
  const notes = Object.values(problems).filter(Boolean);
  client.mediaNote = notes.length ? `${notes.join('. ')}: you joined without it` : '';
  client.setAudioMuted(audioMuted);
  client.setVideoMuted(videoMuted);
  client.setLocalStream(stream);
  try {
    await client.join(room);
  } catch (err) {
    console.info('sfu: join failed', err.code ?? err);
  }
}

function renderTitle(client, room = client.room) {
  const title = app.callTitle || room || 'Call';
  $('#room-title').textContent = title;
  document.title = `${title} · Video call`;
}

function renderControls(client) {
  const active = client.state === 'joined' || client.state === 'reconnecting' || client.state === 'connecting';
  const mayPublish = client.permissions.publish;
  control($('#mute-audio'), {
    disabled: !active || !mayPublish || !client.localTrack('audio'),
    pressed: client.audioMuted,
    label: client.audioMuted ? 'Unmute microphone' : 'Mute microphone',
    text: client.audioMuted ? 'Unmute' : 'Mute',
    icon: client.audioMuted || !client.localTrack('audio') ? 'mic-off' : 'mic',
  });
  control($('#mute-video'), {
    disabled: !active || !mayPublish || !client.localTrack('video'),
    pressed: client.videoMuted,
    label: client.videoMuted ? 'Start camera' : 'Stop camera',
    text: client.videoMuted ? 'Start camera' : 'Stop camera',
    icon: client.videoMuted || !client.localTrack('video') ? 'cam-off' : 'cam',
  });
  const sharing = client.screenStream !== null;
  const screen = $('#share-screen');
  screen.hidden = !SfuClient.canShareScreen(); // phones cannot share a screen
  control(screen, {
    disabled: !active || !mayPublish,
    pressed: sharing,
    label: sharing ? 'Stop sharing the screen' : 'Share screen',
    text: sharing ? 'Stop sharing' : 'Share screen',
    icon: 'screen',
  });
  $('#invite').hidden = Boolean(client.token); // with tokens, each person needs their own link
  $('#toggle-people').hidden = !app.online;
}

function control(button, { disabled, pressed, label, text, icon }) {
  button.disabled = disabled;
  button.setAttribute('aria-pressed', String(pressed));
  button.setAttribute('aria-label', label);
  button.title = label;
  button.querySelector('.text').textContent = text;
  button.querySelector('.icon').dataset.icon = icon;
}

async function toggleScreenShare(client) {
  if (client.screenStream) {
    client.stopScreenShare();
    return;
  }
  try {
    await client.startScreenShare();
  } catch (err) {
    setStatus(`Cannot share the screen: ${err.message}`, 'warn');
  }
}

// invite copies a link to the room (without a name: the person invited picks theirs in the
// lobby) and shows it, as copying needs a permission the browser may not give.
async function invite(client) {
  const link = `${location.origin}${location.pathname}?${new URLSearchParams({ room: client.room })}`;
  const field = $('#invite-link');
  field.value = link;
  let copied = false;
  try {
    await navigator.clipboard.writeText(link);
    copied = true;
  } catch {
    // no clipboard: the dialog shows the link selected, ready to copy
  }
  $('#invite-note').textContent = copied
    ? 'Link copied. Anyone with it can join the room.'
    : 'Copy this link and send it. Anyone with it can join the room.';
  const dialog = $('#invite-dialog');
  if (!dialog.open) dialog.showModal();
  field.focus();
  field.select();
}

async function openSettings(client) {
  const { cameras, microphones } = await listDevices();
  fill($('#call-camera-select'), cameras, deviceIdOf(client.localTrack('video')), 'No camera');
  fill($('#call-mic-select'), microphones, deviceIdOf(client.localTrack('audio')), 'No microphone');
  $('#settings-note').hidden = true;
  const disabled = !client.permissions.publish;
  $('#call-camera-select').disabled ||= disabled;
  $('#call-mic-select').disabled ||= disabled;
  const dialog = $('#settings');
  if (!dialog.open) dialog.showModal();
}

function fill(select, devices, current, none) {
  select.replaceChildren();
  for (const d of devices) select.append(new Option(d.label, d.deviceId, false, d.deviceId === current));
  if (devices.length === 0) select.append(new Option(none, ''));
  select.disabled = devices.length === 0;
}

async function switchDevice(client, what, deviceId) {
  const note = $('#settings-note');
  try {
    if (what === 'camera') await client.switchCamera(deviceId);
    else await client.switchMicrophone(deviceId);
    remember(what, deviceId);
    note.hidden = true;
  } catch (err) {
    note.textContent = mediaProblem(what, err);
    note.hidden = false;
  }
}

let drainTimer = 0;

function showDraining(client, { until }) {
  clearInterval(drainTimer);
  const render = () => {
    const left = Math.max(0, Math.round((until - Date.now()) / 1000));
    if (client.state !== 'joined' || !client.draining) {
      clearInterval(drainTimer);
      return;
    }
    setStatus(`The server is going down for maintenance: this call ends in ${left} s`, 'warn');
  };
  render();
  drainTimer = setInterval(render, 1000);
}

function leave(client) {
  clearInterval(drainTimer);
  client.leave();
  setStatus('');
  if (app.online) {
    showOnline(client); // still online: others can call again
    app.calls.note('You left the call');
    return;
  }
  showEnd(client, 'You left the call', '');
}

function showFailure(client) {
  const { code, message } = client.failure ?? {};
  const [title, text] = FAILURES[code] ?? ['The call could not go on', message || code || ''];
  setStatus('');
  showEnd(client, title, text);
}

function showEnd(client, title, text) {
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  $('#left-title').textContent = title;
  $('#left-text').textContent = text;
  $('#left-text').hidden = !text;
  let again = client.token ? { token: client.token } : { room: client.room, name: client.name };
  if (app.online) again = client.token ? { token: client.token, online: '1' } : { name: client.name, online: '1' };
  $('#rejoin').href = `?${new URLSearchParams(again)}`;
  $('#rejoin').textContent = client.state === 'failed' ? 'Try again' : app.online ? 'Go online again' : 'Rejoin';
  $('#to-lobby').href = client.room && !app.online ? `?${new URLSearchParams({ room: client.room })}` : './';
  showView('left');
  $('#rejoin').focus();
}

start().catch((err) => {
  console.error('sfu: the page failed to start', err);
  setStatus(`The page failed to start: ${err.message}`, 'error');
});
