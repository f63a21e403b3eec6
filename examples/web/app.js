// Example web client of the SFU. It joins a room over the /ws signaling WebSocket, publishes the
// camera and microphone on one RTCPeerConnection, and shows every other member in a grid. The
// protocol it speaks is docs/protocol.md; this file is meant to be read alongside it.
//
// Negotiation is "perfect negotiation" with the browser as the polite peer: when a server offer
// crosses ours, ours is rolled back, the server's answered, and the browser offers again.

// Reconnection delays grow from BACKOFF_FIRST_MS, doubling, up to BACKOFF_MAX_MS. They start
// over only after a session whose media stayed connected for BACKOFF_RESET_MS, so that a session
// that fails soon after connecting, again and again, does not reconnect in a tight loop.
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 5000;
const BACKOFF_RESET_MS = 10000;

// Errors after which a new attempt would fail the same way, so the client stops (and closes the
// socket if the server has not) instead of reconnecting.
const FATAL_ERRORS = new Set(['bad_room', 'bad_name', 'already_joined', 'message_too_big', 'bad_sdp']);
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
};

// What tests and curious people can read from the console; kept current by setState and the
// session functions.
const client = { pc: null, ws: null, state: 'connecting', participantId: null };
window.sfuClient = client;

// The call outlives sessions: one session is one WebSocket and one RTCPeerConnection, and a
// reconnection starts a new one with the same room, name, local media and mute state.
const call = {
  room: '',
  name: '',
  mediaPromise: null, // resolves to the local MediaStream, or null when receive-only
  localStream: null,
  mediaUnavailable: false,
  audioMuted: false,
  videoMuted: false,
  participants: new Map(), // id -> {id, name, audioMuted, videoMuted}, without ourselves
  unclaimedStreams: new Map(), // stream id -> MediaStream whose publisher is not (yet) known
  session: null,
  attempt: 0,
  reconnectTimer: 0,
  speaker: '', // the participant id the server last named as the active speaker
};

const $ = (selector) => document.querySelector(selector);

// ---------------------------------------------------------------------------------------------
// Start-up and views

function start() {
  const params = new URLSearchParams(location.search);
  const room = params.get('room');
  if (!room) {
    showView('lobby');
    $('#join-form input[name=room]').focus();
    return;
  }
  call.room = room;
  call.name = params.get('name') ?? '';
  $('#rejoin').href = `?${new URLSearchParams({ room: call.room, name: call.name })}`;
  $('#mute-audio').addEventListener('click', toggleAudio);
  $('#mute-video').addEventListener('click', toggleVideo);
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

// setStatus shows text in the status bar; kind is 'info', 'warn' or 'error'. Empty text hides it.
function setStatus(text, kind = 'info') {
  const bar = $('#status');
  bar.textContent = text;
  bar.className = kind;
  bar.hidden = !text;
}

// clearStatus hides the status bar if it still shows text, and leaves a newer message alone.
function clearStatus(text) {
  if ($('#status').textContent === text) setStatus('');
}

// ---------------------------------------------------------------------------------------------
// Signaling session

function signalingURL() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws`;
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

function send(session, message) {
  if (session.ended || session.ws.readyState !== WebSocket.OPEN) return;
  session.ws.send(JSON.stringify(message));
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
  const stream = await localMedia();
  if (session.ended) return;

  showLocalTile(message.id);
  session.pc = createPeerConnection(session, message.iceServers ?? []);
  client.pc = session.pc;
  publish(session.pc, stream);
  if (call.audioMuted || call.videoMuted) sendMute();
  setState('joined');
  setStatus(call.mediaUnavailable ? 'Camera/microphone unavailable: joined receive-only' : '',
    call.mediaUnavailable ? 'warn' : 'info');
}

function onServerError(session, { code, message }) {
  session.lastError = code;
  const text = `${ERROR_TEXT[code] ?? 'Server error'}${message ? `: ${message}` : ''}`;
  console.warn('sfu: server error', code, message);
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

// ---------------------------------------------------------------------------------------------
// Local media

// localMedia asks for the camera and microphone once per page; reconnections reuse the stream.
function localMedia() {
  call.mediaPromise ??= requestMedia();
  return call.mediaPromise;
}

async function requestMedia() {
  try {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error('getUserMedia needs a secure (https) page');
    call.localStream = await navigator.mediaDevices.getUserMedia({
      audio: true,
      video: { width: 640, height: 480 },
    });
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

function renderControls() {
  const audio = $('#mute-audio');
  const video = $('#mute-video');
  const active = client.state !== 'error';
  audio.disabled = !localTrack('audio') || !active;
  video.disabled = !localTrack('video') || !active;
  audio.textContent = call.audioMuted ? 'Unmute' : 'Mute';
  audio.setAttribute('aria-label', call.audioMuted ? 'Unmute microphone' : 'Mute microphone');
  audio.setAttribute('aria-pressed', String(call.audioMuted));
  video.textContent = call.videoMuted ? 'Start camera' : 'Stop camera';
  video.setAttribute('aria-label', call.videoMuted ? 'Start camera' : 'Stop camera');
  video.setAttribute('aria-pressed', String(call.videoMuted));
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
  clearRemoteParticipants();
  localTile()?.remove();
  layoutGrid();
  setStatus('');
  showView('left');
}

// sayGoodbye tells the server when the tab goes away, so the others see us leave at once
// instead of after the server notices the dead connection.
function sayGoodbye() {
  if (call.session && client.state === 'joined') send(call.session, { type: 'leave' });
}

// ---------------------------------------------------------------------------------------------
// PeerConnection and negotiation

function createPeerConnection(session, iceServers) {
  const pc = new RTCPeerConnection({
    iceServers: iceServers.map(({ urls, username, credential }) => ({ urls, username, credential })),
  });
  pc.onnegotiationneeded = () => makeOffer(session);
  pc.onicecandidate = ({ candidate }) => {
    if (candidate) send(session, { type: 'candidate', candidate: candidate.toJSON() });
  };
  pc.ontrack = onRemoteTrack;
  pc.onconnectionstatechange = () => onConnectionState(session);
  return pc;
}

// publish adds the local tracks send-only, and always a data channel, so that the first offer
// has an m-line even when there is no camera and microphone.
function publish(pc, stream) {
  for (const track of stream?.getTracks() ?? []) {
    pc.addTransceiver(track, { direction: 'sendonly', streams: [stream] });
  }
  pc.createDataChannel('sfu');
}

async function makeOffer(session) {
  const pc = session.pc;
  try {
    session.makingOffer = true;
    await pc.setLocalDescription();
    // A server offer may have rolled ours back meanwhile; the browser fires negotiationneeded
    // again once the answer to it is done.
    if (session.ended || pc.signalingState !== 'have-local-offer') return;
    send(session, { type: 'offer', sdp: pc.localDescription.sdp });
  } catch (err) {
    onSessionError(session, err);
  } finally {
    session.makingOffer = false;
  }
}

async function onRemoteOffer(session, sdp) {
  const pc = session.pc;
  if (!pc) return;
  // We are polite: if our own offer is outstanding (or being made), the server has ignored it,
  // and setRemoteDescription rolls it back implicitly before applying the server's.
  const collision = session.makingOffer || pc.signalingState !== 'stable';
  if (collision) console.debug('sfu: offer collision, rolling back our offer');
  await pc.setRemoteDescription({ type: 'offer', sdp });
  await flushCandidates(session);
  await pc.setLocalDescription();
  send(session, { type: 'answer', sdp: pc.localDescription.sdp });
  narrowReceivedCodecs(pc);
}

// narrowReceivedCodecs limits what this browser offers, in its own later offers, for each track
// it receives to the codec the server negotiated on it (and RTX). Otherwise every received track
// would carry the browser's whole codec list, about 5 KB, into each of its offers, and in a room
// of a dozen publishers an offer would pass the protocol's 64 KiB limit.
const narrowed = new WeakSet();
function narrowReceivedCodecs(pc) {
  if (!RTCRtpReceiver.getCapabilities) return;
  for (const t of pc.getTransceivers()) {
    if (narrowed.has(t) || t.currentDirection !== 'recvonly' || !t.setCodecPreferences) continue;
    narrowed.add(t);
    const kind = t.receiver.track.kind;
    const used = t.receiver.getParameters().codecs ?? [];
    const primary = used.find((c) => !/\/(rtx|red|ulpfec|flexfec-03)$/i.test(c.mimeType));
    if (!primary) continue;
    const caps = RTCRtpReceiver.getCapabilities(kind)?.codecs ?? [];
    const sameMime = (c) => c.mimeType.toLowerCase() === primary.mimeType.toLowerCase();
    let prefs = caps.filter((c) => sameMime(c) && (c.sdpFmtpLine ?? '') === (primary.sdpFmtpLine ?? ''));
    if (prefs.length === 0) prefs = caps.filter(sameMime);
    const rtx = caps.filter((c) => /\/rtx$/i.test(c.mimeType));
    try {
      t.setCodecPreferences([...prefs, ...rtx]);
    } catch (err) {
      console.warn('sfu: could not narrow codecs of a received track', err);
    }
  }
}

async function onRemoteAnswer(session, sdp) {
  const pc = session.pc;
  if (!pc || pc.signalingState !== 'have-local-offer') {
    console.warn('sfu: ignoring an answer in state', pc?.signalingState);
    return;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp });
  await flushCandidates(session);
}

async function onRemoteCandidate(session, candidate) {
  if (!candidate) return; // end of candidates: nothing to do
  if (!session.pc?.remoteDescription) {
    session.pendingCandidates.push(candidate);
    return;
  }
  await addCandidate(session.pc, candidate);
}

async function flushCandidates(session) {
  const queued = session.pendingCandidates.splice(0);
  for (const candidate of queued) await addCandidate(session.pc, candidate);
}

async function addCandidate(pc, candidate) {
  try {
    await pc.addIceCandidate(candidate);
  } catch (err) {
    // One bad candidate is not fatal: the others may still connect.
    console.warn('sfu: ICE candidate refused', candidate, err);
  }
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
// Participants and tiles

// addParticipant adds or updates a remote member's tile. Our own entry, if the server sends it,
// is skipped: the local mute state is ours to know.
function addParticipant(participant) {
  if (!participant?.id || participant.id === client.participantId) return;
  call.participants.set(participant.id, participant);
  const tile = remoteTile(participant.id) ?? createTile(participant.id);
  setTileName(tile, participant.name);
  renderMuteState(tile, participant);
  const stream = call.unclaimedStreams.get(participant.id);
  if (stream) {
    call.unclaimedStreams.delete(participant.id);
    attachStream(tile, stream);
  }
}

function removeParticipant(id) {
  call.participants.delete(id);
  call.unclaimedStreams.delete(id);
  remoteTile(id)?.remove();
  layoutGrid();
}

function clearRemoteParticipants() {
  call.participants.clear();
  call.unclaimedStreams.clear();
  for (const tile of document.querySelectorAll('.tile:not([data-local])')) tile.remove();
  layoutGrid();
}

// onRemoteTrack puts a track on its publisher's tile: the stream id is the publisher's
// participant id, and the publisher's audio and video share that stream. The server announces a
// participant before sending its tracks; a stream of nobody known is kept aside, not shown.
function onRemoteTrack({ track, streams }) {
  const stream = streams[0];
  if (!stream) {
    console.warn('sfu: remote track without a stream id, ignored', track.id);
    return;
  }
  if (!call.participants.has(stream.id)) {
    console.warn('sfu: track of an unknown participant, kept until it is announced', stream.id);
    call.unclaimedStreams.set(stream.id, stream);
    return;
  }
  attachStream(remoteTile(stream.id) ?? createTile(stream.id), stream);
}

const watchedStreams = new WeakSet();

function attachStream(tile, stream) {
  const video = tileVideo(tile);
  if (video.srcObject !== stream) video.srcObject = stream;
  if (!watchedStreams.has(stream)) {
    watchedStreams.add(stream);
    stream.addEventListener('removetrack', () => onTrackRemoved(stream));
    stream.addEventListener('addtrack', () => {
      const owner = remoteTile(stream.id);
      if (owner) renderHasVideo(owner, stream);
    });
  }
  renderHasVideo(tile, stream);
  play(video);
}

// onTrackRemoved removes the media element of a publisher that stopped publishing; the tile
// stays while the participant is in the room, with its name and no picture.
function onTrackRemoved(stream) {
  const tile = remoteTile(stream.id);
  const video = tile?.querySelector('video');
  if (!video || video.srcObject !== stream) return;
  renderHasVideo(tile, stream);
  if (stream.getTracks().length === 0) video.remove();
}

// tileVideo returns the tile's media element, making a new one if the last stream removed it.
function tileVideo(tile) {
  let video = tile.querySelector('video');
  if (!video) {
    video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    tile.prepend(video);
  }
  return video;
}

const CLICK_FOR_SOUND = 'Click anywhere to hear the others';

// play starts a remote video; when the browser blocks sound without a click, it plays muted and
// asks for one.
function play(video) {
  video.play().catch((err) => {
    if (err.name !== 'NotAllowedError') return; // e.g. interrupted by a new stream
    video.muted = true;
    video.play().catch(() => {});
    setStatus(CLICK_FOR_SOUND);
    document.addEventListener('click', unmuteRemote, { once: true });
  });
}

function unmuteRemote() {
  for (const video of document.querySelectorAll('.tile:not([data-local]) video')) {
    video.muted = false;
    video.play().catch(() => {});
  }
  clearStatus(CLICK_FOR_SOUND);
}

function showLocalTile(id) {
  let tile = localTile();
  if (!tile) {
    tile = createTile(id, { local: true });
    const video = tile.querySelector('video');
    video.muted = true;
    video.setAttribute('muted', '');
    tile.querySelector('.you').hidden = false;
    setTileName(tile, call.name);
  }
  tile.dataset.participantId = id;
  const video = tile.querySelector('video');
  if (call.localStream && video.srcObject !== call.localStream) video.srcObject = call.localStream;
  renderHasVideo(tile, call.localStream);
  renderMuteState(tile, call);
}

function createTile(id, { local = false } = {}) {
  const tile = $('#tile-template').content.firstElementChild.cloneNode(true);
  tile.dataset.participantId = id;
  tile.classList.toggle('speaking', call.speaker !== '' && call.speaker === id);
  if (local) {
    tile.dataset.local = 'true';
    $('#grid').prepend(tile);
  } else {
    setTileName(tile, call.participants.get(id)?.name ?? '');
    renderHasVideo(tile, null); // until its stream comes
    $('#grid').append(tile);
  }
  layoutGrid();
  return tile;
}

function remoteTile(id) {
  return [...document.querySelectorAll('.tile:not([data-local])')]
    .find((tile) => tile.dataset.participantId === id) ?? null;
}

function localTile() {
  return $('.tile[data-local="true"]');
}

function setTileName(tile, name) {
  const shown = name || 'Guest';
  tile.querySelector('.name').textContent = shown;
  tile.querySelector('.avatar').textContent = shown.charAt(0).toUpperCase();
}

function renderMuteState(tile, { audioMuted, videoMuted }) {
  tile.classList.toggle('audio-muted', Boolean(audioMuted));
  tile.classList.toggle('video-muted', Boolean(videoMuted));
}

function renderHasVideo(tile, stream) {
  tile.classList.toggle('no-video', !stream || stream.getVideoTracks().length === 0);
}

// showSpeaker highlights the tile of the participant the server says is speaking (our own tile
// too: people like to see that they are heard) and, from three tiles on, makes it larger.
function showSpeaker(id) {
  call.speaker = id;
  for (const tile of document.querySelectorAll('.tile')) {
    tile.classList.toggle('speaking', id !== '' && tile.dataset.participantId === id);
  }
  layoutGrid();
}

// layoutGrid sizes the grid for its tiles: ceil(sqrt(n)) columns and as many rows as needed.
// From three tiles on, the active speaker's tile takes two columns and two rows.
function layoutGrid() {
  const grid = $('#grid');
  const count = grid.children.length;
  const featured = count >= 3 && grid.querySelector('.tile.speaking') !== null;
  grid.toggleAttribute('data-featured', featured);
  const cells = count + (featured ? 3 : 0);
  const columns = Math.max(1, Math.ceil(Math.sqrt(cells)));
  const rows = Math.max(1, Math.ceil(cells / columns));
  grid.style.setProperty('--columns', columns);
  grid.style.setProperty('--rows', rows);
  grid.dataset.count = String(count);
}

start();
