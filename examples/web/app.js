// Example web client of the SFU. It joins a room over the /ws signaling WebSocket, publishes the
// camera (in simulcast) and microphone, and on request the screen, on one RTCPeerConnection,
// and shows every other member in a grid. The protocol it speaks is docs/protocol.md; these
// modules are meant to be read alongside it:
//
//   app.js          start-up, controls, and the session: connecting, messages, reconnecting
//   negotiation.js  the PeerConnection and its perfect negotiation with the server
//   publish.js      the local tracks: simulcast, trackInfo, screen sharing, dynacast (layers)
//   tiles.js        the remote members and their tiles, the grid and the active speaker
//   viewsize.js     trackSettings: how large each remote video is shown, if at all
//   state.js        the state they share, and the status bar

import { $, call, clearStatus, client, send, setStatus } from './state.js';
import { createPeerConnection, onRemoteAnswer, onRemoteCandidate, onRemoteOffer } from './negotiation.js';
import {
  applyLayers, captureScreen, publish, publishScreen, requestCameraAndMicrophone, unpublishScreen,
} from './publish.js';
import {
  addParticipant, clearRemoteParticipants, localTile, onRemoteTrack, onTrackPublished,
  onTrackUnpublished, removeLocalTile, removeParticipant, renderMuteState, showLocalTile, showSpeaker,
} from './tiles.js';

// Reconnection delays grow from BACKOFF_FIRST_MS, doubling, up to BACKOFF_MAX_MS. They start
// over only after a session whose media stayed connected for BACKOFF_RESET_MS, so that a session
// that fails soon after connecting, again and again, does not reconnect in a tight loop.
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 5000;
const BACKOFF_RESET_MS = 10000;

// Errors after which a new attempt would fail the same way, so the client stops (and closes the
// socket if the server has not) instead of reconnecting.
const FATAL_ERRORS = new Set(['bad_room', 'bad_name', 'already_joined', 'message_too_big', 'bad_sdp',
  'token_required', 'token_invalid', 'token_expired', 'wrong_room', 'replaced']);
// Errors about this client's optional messages (trackInfo, trackSettings) that the call goes on
// without: a track the server dropped a moment before, or a server too old to know the message.
// They are logged, not shown.
const QUIET_ERRORS = new Set(['bad_track', 'unknown_type']);
const CLOSE_POLICY_VIOLATION = 1008;
const CLOSE_MESSAGE_TOO_BIG = 1009;

const ERROR_TEXT = {
  bad_room: 'That room name is not accepted',
  bad_name: 'That name is too long',
  already_joined: 'This connection already joined a room',
  message_too_big: 'A message was too big for the server',
  bad_sdp: 'The server refused this browser\'s session description',
  shutting_down: 'The server is shutting down',
  internal: 'The server failed',
  slow_consumer: 'The connection was too slow',
  negotiation: 'Renegotiation failed',
  connection_lost: 'The media connection was lost',
  token_required: 'This server needs an access token: open the link you were given',
  token_invalid: 'The access token was rejected',
  token_expired: 'The access token has expired: ask for a new link',
  wrong_room: 'The access token is for another room',
  replaced: 'You joined this room again from another window',
  not_allowed: 'Your access token does not allow that',
};

// ---------------------------------------------------------------------------------------------
// Start-up and views

function start() {
  const params = new URLSearchParams(location.search);
  // With an access token the room is the token's: ?token= alone joins at once.
  call.token = params.get('token') ?? '';
  const room = params.get('room') ?? (call.token ? '' : null);
  if (room === null || (!room && !call.token)) {
    showView('lobby');
    $('#join-form input[name=room]').focus();
    return;
  }
  call.room = room;
  call.name = params.get('name') ?? '';
  $('#rejoin').href = `?${new URLSearchParams({ room: call.room, name: call.name, ...(call.token ? { token: call.token } : {}) })}`;
  $('#mute-audio').addEventListener('click', toggleAudio);
  $('#mute-video').addEventListener('click', toggleVideo);
  $('#share-screen').addEventListener('click', toggleScreenShare);
  $('#leave').addEventListener('click', leave);
  window.addEventListener('pagehide', sayGoodbye);
  document.title = `${room} · SFU example`;
  showView('call');
  renderControls();
  setStatus('Connecting…');
  connect();
}

function showView(id) {
  for (const view of document.querySelectorAll('.view')) view.hidden = view.id !== id;
}

function setState(state) {
  client.state = state;
  document.body.dataset.state = state;
}

// ---------------------------------------------------------------------------------------------
// Signaling session

function signalingURL() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = call.token ? `?token=${encodeURIComponent(call.token)}` : '';
  return `${scheme}://${location.host}/ws${query}`;
}

function connect() {
  const ws = new WebSocket(signalingURL());
  const session = {
    ws,
    pc: null,
    makingOffer: false,
    pendingCandidates: [], // server candidates that came before a remote description
    inbox: Promise.resolve(), // handles messages one at a time, in order
    lastError: '',
    connectedAt: 0, // when the PeerConnection first became connected
    ended: false,
  };
  call.session = session;
  client.ws = ws;
  client.pc = null;
  ws.onopen = () => send(session, { type: 'join', room: call.room, name: call.name });
  ws.onmessage = (event) => receive(session, event.data);
  ws.onclose = (event) => onSocketClosed(session, event);
}

function receive(session, data) {
  let message;
  try {
    message = JSON.parse(data);
  } catch (err) {
    console.warn('sfu: ignoring a message that is not JSON', err);
    return;
  }
  // Offers, answers and candidates must be applied in the order they came, and each step is
  // asynchronous: chain them.
  session.inbox = session.inbox
    .then(() => session.ended || handle(session, message))
    .catch((err) => onSessionError(session, err));
}

async function handle(session, message) {
  switch (message.type) {
    case 'joined': return onJoined(session, message);
    case 'participantJoined': return addParticipant(message.participant);
    case 'participantUpdated': return addParticipant(message.participant);
    case 'participantLeft': return removeParticipant(message.id);
    case 'trackPublished': return onTrackPublished(message.track);
    case 'trackUnpublished': return onTrackUnpublished(message.track);
    case 'layers': return applyLayers(session.pc, message.trackId, message.active ?? []);
    case 'activeSpeaker': return showSpeaker(message.id ?? '');
    case 'offer': return onRemoteOffer(session, message.sdp);
    case 'answer': return onRemoteAnswer(session, message.sdp);
    case 'candidate': return onRemoteCandidate(session, message.candidate);
    case 'error': return onServerError(session, message);
    default: console.info('sfu: ignoring message of unknown type', message.type);
  }
}

async function onJoined(session, message) {
  client.participantId = message.id;
  for (const participant of message.participants ?? []) {
    if (participant.id !== message.id) addParticipant(participant);
  }
  if (message.room) call.room = message.room;
  // A token that does not allow publishing joins receive-only.
  call.mayPublish = message.permissions?.publish ?? true;
  const stream = call.mayPublish ? await localMedia() : null;
  if (session.ended) return;

  showLocalTile(message.id);
  const pc = createPeerConnection(session, message.iceServers ?? [], {
    onTrack: (event) => onRemoteTrack(pc, event),
    onConnectionState: () => onConnectionState(session),
    onError: (err) => onSessionError(session, err),
  });
  session.pc = pc;
  client.pc = pc;
  publish(session, stream, call.screenStream);
  if (call.audioMuted || call.videoMuted) sendMute();
  setState('joined');
  renderControls();
  setStatus(call.mediaUnavailable ? 'Camera/microphone unavailable: joined receive-only' : '',
    call.mediaUnavailable ? 'warn' : 'info');
}

function onServerError(session, { code, message }) {
  console.warn('sfu: server error', code, message);
  if (QUIET_ERRORS.has(code)) return;
  session.lastError = code;
  const text = `${ERROR_TEXT[code] ?? 'Server error'}${message ? `: ${message}` : ''}`;
  if (FATAL_ERRORS.has(code)) {
    fail(session, text);
    return;
  }
  setStatus(text, 'warn');
}

// onSocketClosed reconnects unless the server refused us for good: a fatal error, or a close for
// a protocol violation (1008, 1009) other than being too slow to read, which may pass.
function onSocketClosed(session, event) {
  if (session.ended || client.state === 'left') return;
  // A slow consumer's error message cannot be queued; the close reason carries its code.
  const code = session.lastError || event.reason;
  const violation = event.code === CLOSE_POLICY_VIOLATION || event.code === CLOSE_MESSAGE_TOO_BIG;
  if (FATAL_ERRORS.has(code) || (violation && code !== 'slow_consumer')) {
    fail(session, `The server closed the connection: ${event.reason || `code ${event.code}`}`);
    return;
  }
  reconnect(session, ERROR_TEXT[code] ?? 'Connection lost');
}

// endSession closes a session's PeerConnection and WebSocket and silences their handlers.
function endSession(session) {
  if (session.ended) return;
  session.ended = true;
  session.pendingCandidates = [];
  session.pc?.close();
  session.ws.onopen = null;
  session.ws.onmessage = null;
  session.ws.onclose = null;
  session.ws.close(1000);
  if (client.pc === session.pc) client.pc = null;
}

function fail(session, text) {
  endSession(session);
  setState('error');
  setStatus(text, 'error');
  renderControls();
}

// reconnect ends the session and starts a new one after a growing delay. Remote tiles go away:
// the new "joined" brings the members back.
function reconnect(session, reason) {
  if (session !== call.session || client.state === 'left' || client.state === 'error') return;
  endSession(session);
  if (session.connectedAt && Date.now() - session.connectedAt >= BACKOFF_RESET_MS) call.attempt = 0;
  clearRemoteParticipants();
  setState('reconnecting');
  setStatus(`${reason}. Reconnecting…`, 'warn');
  const delay = Math.min(BACKOFF_FIRST_MS * 2 ** call.attempt, BACKOFF_MAX_MS);
  call.attempt++;
  clearTimeout(call.reconnectTimer);
  call.reconnectTimer = setTimeout(connect, delay);
}

// onSessionError handles a failure in this client's own handling of the session, mostly a
// description or offer the browser refused: start over with a fresh session.
function onSessionError(session, err) {
  if (session.ended) return;
  console.error('sfu: session failed', err);
  reconnect(session, 'Negotiation failed');
}

const NETWORK_INTERRUPTED = 'Network interrupted, waiting for it to come back…';

function onConnectionState(session) {
  if (session.ended) return;
  switch (session.pc.connectionState) {
    case 'connected':
      session.connectedAt ||= Date.now();
      clearStatus(NETWORK_INTERRUPTED);
      break;
    case 'disconnected': // often heals by itself within seconds
      setStatus(NETWORK_INTERRUPTED, 'warn');
      break;
    case 'failed':
      reconnect(session, 'The media connection failed');
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Local media and controls

// localMedia asks for the camera and microphone once per page; reconnections reuse the stream.
function localMedia() {
  call.mediaPromise ??= requestMedia();
  return call.mediaPromise;
}

async function requestMedia() {
  try {
    call.localStream = await requestCameraAndMicrophone();
  } catch (err) {
    console.warn('sfu: no camera or microphone, joining receive-only', err);
    call.mediaUnavailable = true;
    call.localStream = null;
  }
  renderControls();
  return call.localStream;
}

function localTrack(kind) {
  return call.localStream?.getTracks().find((track) => track.kind === kind) ?? null;
}

function toggleAudio() {
  const track = localTrack('audio');
  if (!track) return;
  call.audioMuted = !call.audioMuted;
  track.enabled = !call.audioMuted;
  afterMuteChange();
}

function toggleVideo() {
  const track = localTrack('video');
  if (!track) return;
  call.videoMuted = !call.videoMuted;
  track.enabled = !call.videoMuted;
  afterMuteChange();
}

function afterMuteChange() {
  renderControls();
  const self = localTile();
  if (self) renderMuteState(self, call);
  sendMute();
}

// sendMute tells the room our mute state, once joined; a session that joins later sends it then.
function sendMute() {
  const session = call.session;
  if (!session?.pc) return;
  send(session, { type: 'mute', audioMuted: call.audioMuted, videoMuted: call.videoMuted });
}

// toggleScreenShare starts sharing a screen, or stops the one being shared. A share outlives
// reconnections: a new session publishes it again.
async function toggleScreenShare() {
  if (call.screenStream) {
    stopScreenShare(call.screenStream);
    return;
  }
  let stream;
  try {
    stream = await captureScreen();
  } catch (err) {
    // NotAllowedError: the person closed the browser's picker; nothing to say.
    if (err.name !== 'NotAllowedError') setStatus(`Cannot share the screen: ${err.message}`, 'warn');
    return;
  }
  if (client.state === 'left' || client.state === 'error' || call.screenStream) {
    stream.getTracks().forEach((track) => track.stop());
    return;
  }
  call.screenStream = stream;
  // The browser's own "Stop sharing" ends the picture; the share ends with it.
  for (const track of stream.getVideoTracks()) {
    track.addEventListener('ended', () => stopScreenShare(stream), { once: true });
  }
  if (call.session?.pc && !call.session.ended) publishScreen(call.session, stream);
  renderControls();
}

function stopScreenShare(stream) {
  if (call.screenStream !== stream) return;
  call.screenStream = null;
  unpublishScreen(call.session, stream);
  stream.getTracks().forEach((track) => track.stop());
  renderControls();
}

function renderControls() {
  const audio = $('#mute-audio');
  const video = $('#mute-video');
  const screen = $('#share-screen');
  const active = client.state !== 'error';
  audio.disabled = !localTrack('audio') || !active;
  video.disabled = !localTrack('video') || !active;
  audio.textContent = call.audioMuted ? 'Unmute' : 'Mute';
  audio.setAttribute('aria-label', call.audioMuted ? 'Unmute microphone' : 'Mute microphone');
  audio.setAttribute('aria-pressed', String(call.audioMuted));
  video.textContent = call.videoMuted ? 'Start camera' : 'Stop camera';
  video.setAttribute('aria-label', call.videoMuted ? 'Start camera' : 'Stop camera');
  video.setAttribute('aria-pressed', String(call.videoMuted));
  const sharing = call.screenStream !== null;
  screen.hidden = !navigator.mediaDevices?.getDisplayMedia; // phones cannot share a screen
  screen.disabled = !active;
  screen.textContent = sharing ? 'Stop sharing' : 'Share screen';
  screen.setAttribute('aria-label', sharing ? 'Stop sharing the screen' : 'Share screen');
  screen.setAttribute('aria-pressed', String(sharing));
}

function leave() {
  const session = call.session;
  clearTimeout(call.reconnectTimer);
  setState('left');
  if (session) {
    send(session, { type: 'leave' });
    endSession(session);
  }
  client.ws = null;
  call.localStream?.getTracks().forEach((track) => track.stop());
  call.screenStream?.getTracks().forEach((track) => track.stop());
  call.screenStream = null;
  clearRemoteParticipants();
  removeLocalTile();
  setStatus('');
  showView('left');
}

// sayGoodbye tells the server when the tab goes away, so the others see us leave at once
// instead of after the server notices the dead connection.
function sayGoodbye() {
  if (call.session && client.state === 'joined') send(call.session, { type: 'leave' });
}

start();
