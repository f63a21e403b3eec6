// The state the modules of the web client share, the one function that sends a message, and the
// status bar any module may write to.

// What tests and curious people can read from the console; kept current by app.js.
export const client = { pc: null, ws: null, state: 'connecting', participantId: null };
window.sfuClient = client;

// The call outlives sessions: one session is one WebSocket and one RTCPeerConnection, and a
// reconnection starts a new one with the same room, name, local media and mute state.
export const call = {
  room: '',
  name: '',
  mediaPromise: null, // resolves to the local MediaStream, or null when receive-only
  localStream: null, // camera and microphone
  mediaUnavailable: false,
  screenStream: null, // the screen being shared, or null
  audioMuted: false,
  videoMuted: false,
  session: null,
  attempt: 0,
  reconnectTimer: 0,
  speaker: '', // the participant id the server last named as the active speaker

  // What the server told this session about the others. All of it is dropped on reconnection.
  participants: new Map(), // id -> {id, name, audioMuted, videoMuted}, without ourselves
  published: new Map(), // track id -> {publisher, trackId, kind, source, simulcast} (trackPublished)
  // Every remote track this session receives, whether or not a tile shows it yet: its
  // publisher (the stream id) and the publisher's track id (the m-line's msid).
  received: new Map(), // MediaStreamTrack -> {publisher, trackId}
};

export const $ = (selector) => document.querySelector(selector);

// send sends a message on a session's WebSocket; nothing once the session has ended.
export function send(session, message) {
  if (!session || session.ended || session.ws.readyState !== WebSocket.OPEN) return;
  session.ws.send(JSON.stringify(message));
}

// setStatus shows text in the status bar; kind is 'info', 'warn' or 'error'. Empty text hides it.
export function setStatus(text, kind = 'info') {
  const bar = $('#status');
  bar.textContent = text;
  bar.className = kind;
  bar.hidden = !text;
}

// clearStatus hides the status bar if it still shows text, and leaves a newer message alone.
export function clearStatus(text) {
  if ($('#status').textContent === text) setStatus('');
}
