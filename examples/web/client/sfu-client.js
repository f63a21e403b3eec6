// SfuClient: one person in one room of the SFU, over the signaling protocol of docs/protocol.md.
// It owns the WebSocket and the RTCPeerConnection, publishes the local camera, microphone and
// screen, keeps the room's members and their tracks, relays chat, measures connection quality,
// and reconnects by itself. A page builds its interface on its events; examples/web/README.md
// documents the API.
//
// A call outlives sessions: one session is one WebSocket and one RTCPeerConnection, and a
// reconnection starts a new one with the same room, name, local media and mute state.

import {
  createPeerConnection, onRemoteAnswer, onRemoteCandidate, onRemoteOffer, publishedTrackId,
} from './negotiation.js';
import {
  addTrack, applyLayers, captureScreen, publish, publishScreen, senderOf, unpublish,
} from './publish.js';
import { openCamera, openMicrophone } from './media.js';
import { QualityMeter } from './quality.js';
import { ViewSizes } from './viewsize.js';

export { getLocalMedia, listDevices, onDeviceChange, deviceIdOf, meterLevel } from './media.js';
export { describeQuality, LEVELS } from './quality.js';

// Reconnection delays grow from BACKOFF_FIRST_MS, doubling, up to BACKOFF_MAX_MS. They start
// over only after a session whose media stayed connected for BACKOFF_RESET_MS, so that a session
// that fails soon after connecting, again and again, does not reconnect in a tight loop.
const BACKOFF_FIRST_MS = 500;
const BACKOFF_MAX_MS = 5000;
const BACKOFF_RESET_MS = 10000;

// How often connection quality is measured.
const QUALITY_EVERY_MS = 2000;

// Errors after which a new attempt would fail the same way: the client stops (and closes the
// socket if the server has not) instead of reconnecting, and its state becomes "failed".
export const FATAL_ERRORS = new Set(['bad_room', 'bad_name', 'already_joined', 'message_too_big', 'bad_sdp',
  'token_required', 'token_invalid', 'token_expired', 'wrong_room', 'replaced', 'room_full', 'too_many_rooms',
  'too_many_connections']);
// Errors about this client's optional messages (trackInfo, trackSettings) that the call goes on
// without: a track the server dropped a moment before, or a server too old to know the message.
// They are logged, not reported.
const QUIET_ERRORS = new Set(['bad_track', 'unknown_type']);
const CLOSE_POLICY_VIOLATION = 1008;
const CLOSE_MESSAGE_TOO_BIG = 1009;

export class SfuClient extends EventTarget {
  // options: room and name to join; token, an access token (its room wins); url, the signaling
  // WebSocket's URL (by default /ws of the page's own host).
  constructor({ room = '', name = '', token = '', url = '' } = {}) {
    super();
    this.room = room;
    this.name = name;
    this.token = token;
    this.url = url || defaultURL(token);

    // "idle", "connecting", "joined", "reconnecting", "left" or "failed". A plain property,
    // written only through #setState.
    this.state = 'idle';
    this.failure = null; // {code, message} once failed
    this.participantId = null;
    this.identity = '';
    this.permissions = { publish: true, subscribe: true, data: true };
    this.pc = null; // the current session's RTCPeerConnection
    this.ws = null; // the current session's WebSocket
    this.participants = new Map(); // id -> {id, name, identity, audioMuted, videoMuted}, without ourselves
    this.speaker = ''; // the participant id the server last named as the active speaker
    this.quality = new Map(); // participant id (ours too) -> the last measured quality
    this.draining = null; // {message, graceSeconds, until} after the server said it goes down

    this.localStream = null; // camera and microphone
    this.screenStream = null; // the screen being shared
    this.audioMuted = false;
    this.videoMuted = false;

    this.#views = new ViewSizes((message) => this.#send(message));
  }

  #session = null;
  #attempt = 0;
  #reconnectTimer = 0;
  #qualityTimer = 0;
  #meter = new QualityMeter();
  #views;
  #joinWaiters = [];
  // What the server told this session about tracks. All of it is dropped on reconnection.
  #published = new Map(); // track id -> {publisher, trackId, kind, source, simulcast} (trackPublished)
  #received = new Map(); // MediaStreamTrack -> {publisher, trackId}
  #watched = new WeakSet();
  #goodbye = () => {
    if (this.state === 'joined') this.#send({ type: 'leave' });
  };

  // on calls fn(detail) for each event of type, until the returned function is called.
  on(type, fn) {
    const listener = (event) => fn(event.detail);
    this.addEventListener(type, listener);
    return () => this.removeEventListener(type, listener);
  }

  #emit(type, detail = {}) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  #setState(state, reason = '') {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this.#emit('statechange', { state, previous, reason });
  }

  // -------------------------------------------------------------------------------------------
  // Joining and leaving

  // join connects and joins the room; it resolves once joined, or rejects with the error that
  // made it fail (an Error with a code). Reconnections after that happen by themselves.
  join() {
    if (this.state === 'connecting' || this.state === 'joined' || this.state === 'reconnecting') {
      return Promise.resolve();
    }
    this.failure = null;
    this.#attempt = 0;
    const joined = new Promise((resolve, reject) => this.#joinWaiters.push({ resolve, reject }));
    this.#setState('connecting');
    window.addEventListener('pagehide', this.#goodbye);
    this.#connect();
    return joined;
  }

  // leave says goodbye to the room and ends the session. The local camera and microphone are
  // stopped unless stopMedia is false.
  leave({ stopMedia = true } = {}) {
    clearTimeout(this.#reconnectTimer);
    const session = this.#session;
    this.#setState('left');
    if (session) {
      session.send({ type: 'leave' });
      this.#endSession(session);
    }
    this.#session = null;
    this.ws = null;
    window.removeEventListener('pagehide', this.#goodbye);
    this.stopScreenShare();
    if (stopMedia) {
      this.localStream?.getTracks().forEach((track) => track.stop());
      this.localStream = null;
    }
    this.#forgetRemote();
    this.#settleJoin(new Error('left'));
  }

  #settleJoin(err) {
    for (const w of this.#joinWaiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  #connect() {
    const ws = new WebSocket(this.url);
    const session = {
      ws,
      pc: null,
      makingOffer: false,
      pendingCandidates: [], // server candidates that came before a remote description
      inbox: Promise.resolve(), // handles messages one at a time, in order
      senders: new Map(), // what it publishes (publish.js)
      lastError: '',
      connectedAt: 0, // when the PeerConnection first became connected
      ended: false,
      send(message) {
        if (this.ended || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(JSON.stringify(message));
        return true;
      },
    };
    this.#session = session;
    this.ws = ws;
    this.pc = null;
    ws.onopen = () => {
      const join = { type: 'join', name: this.name };
      if (this.room) join.room = this.room;
      session.send(join);
    };
    ws.onmessage = (event) => this.#receive(session, event.data);
    ws.onclose = (event) => this.#onSocketClosed(session, event);
  }

  #send(message) {
    return this.#session?.send(message) ?? false;
  }

  #receive(session, data) {
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
      .then(() => session.ended || this.#handle(session, message))
      .catch((err) => this.#onSessionError(session, err));
  }

  async #handle(session, message) {
    switch (message.type) {
      case 'joined': return this.#onJoined(session, message);
      case 'participantJoined': return this.#addParticipant(message.participant);
      case 'participantUpdated': return this.#addParticipant(message.participant);
      case 'participantLeft': return this.#removeParticipant(message.id);
      case 'trackPublished': return this.#onTrackPublished(message.track);
      case 'trackUnpublished': return this.#onTrackUnpublished(message.track);
      case 'layers': return applyLayers(session, message.trackId, message.active ?? []);
      case 'activeSpeaker': return this.#onSpeaker(message.id ?? '');
      case 'chat': return this.#emit('chat', {
        from: message.from ?? '', name: message.name ?? '', text: message.text ?? '',
        time: message.time ?? Date.now(), self: message.from === this.participantId,
      });
      case 'draining': {
        const graceSeconds = message.graceSeconds ?? 0;
        this.draining = { message: message.message ?? '', graceSeconds, until: Date.now() + graceSeconds * 1000 };
        return this.#emit('draining', this.draining);
      }
      case 'offer': return onRemoteOffer(session, message.sdp);
      case 'answer': return onRemoteAnswer(session, message.sdp);
      case 'candidate': return onRemoteCandidate(session, message.candidate);
      case 'error': return this.#onServerError(session, message);
      default: console.info('sfu: ignoring message of unknown type', message.type);
    }
  }

  async #onJoined(session, message) {
    this.participantId = message.id;
    if (message.room) this.room = message.room;
    if (message.name !== undefined) this.name = message.name;
    this.identity = message.identity ?? '';
    this.permissions = { publish: true, subscribe: true, data: true, ...(message.permissions ?? {}) };
    this.draining = null;
    for (const participant of message.participants ?? []) this.#addParticipant(participant);

    const pc = createPeerConnection(session, message.iceServers ?? [], {
      onTrack: (event) => this.#onRemoteTrack(pc, event),
      onConnectionState: () => this.#onConnectionState(session),
      onError: (err) => this.#onSessionError(session, err),
    });
    session.pc = pc;
    this.pc = pc;
    // A token that does not allow publishing joins receive-only.
    const mayPublish = this.permissions.publish;
    publish(session, mayPublish ? this.localStream : null, mayPublish ? this.screenStream : null);
    if (this.audioMuted || this.videoMuted) this.#sendMute();
    this.#setState('joined');
    this.#emit('joined', { id: this.participantId, room: this.room, name: this.name, permissions: this.permissions });
    this.#settleJoin(null);
    clearInterval(this.#qualityTimer);
    this.#qualityTimer = setInterval(() => this.#measureQuality(session), QUALITY_EVERY_MS);
  }

  #onServerError(session, { code, message }) {
    console.warn('sfu: server error', code, message);
    if (QUIET_ERRORS.has(code)) return;
    session.lastError = code;
    if (FATAL_ERRORS.has(code)) {
      this.#fail(session, code, message ?? '');
      return;
    }
    this.#emit('error', { code, message: message ?? '', fatal: false });
  }

  // onSocketClosed reconnects unless the server refused us for good: a fatal error, or a close
  // for a protocol violation (1008, 1009) other than being too slow to read, which may pass.
  #onSocketClosed(session, event) {
    if (session.ended || this.state === 'left') return;
    // A slow consumer's error message cannot be queued; the close reason carries its code.
    const code = session.lastError || event.reason;
    const violation = event.code === CLOSE_POLICY_VIOLATION || event.code === CLOSE_MESSAGE_TOO_BIG;
    if (FATAL_ERRORS.has(code) || (violation && code !== 'slow_consumer')) {
      this.#fail(session, code || `close_${event.code}`, event.reason || `the server closed the connection (${event.code})`);
      return;
    }
    this.#reconnect(session, code || 'connection_lost');
  }

  // endSession closes a session's PeerConnection and WebSocket and silences their handlers.
  #endSession(session) {
    if (session.ended) return;
    session.ended = true;
    session.pendingCandidates = [];
    session.pc?.close();
    session.ws.onopen = null;
    session.ws.onmessage = null;
    session.ws.onclose = null;
    session.ws.close(1000);
    if (this.pc === session.pc) this.pc = null;
    clearInterval(this.#qualityTimer);
  }

  #fail(session, code, message) {
    this.#endSession(session);
    this.failure = { code, message };
    this.#forgetRemote();
    window.removeEventListener('pagehide', this.#goodbye);
    this.#setState('failed', code);
    this.#emit('error', { code, message, fatal: true });
    const err = new Error(message || code);
    err.code = code;
    this.#settleJoin(err);
  }

  // reconnect ends the session and starts a new one after a growing delay. Remote participants
  // go away (participantleft): the new "joined" brings them back.
  #reconnect(session, reason) {
    if (session !== this.#session || this.state === 'left' || this.state === 'failed') return;
    this.#endSession(session);
    if (session.connectedAt && Date.now() - session.connectedAt >= BACKOFF_RESET_MS) this.#attempt = 0;
    this.#forgetRemote();
    this.#setState('reconnecting', reason);
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** this.#attempt, BACKOFF_MAX_MS);
    this.#attempt++;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  // onSessionError handles a failure in this client's own handling of the session, mostly a
  // description or offer the browser refused: start over with a fresh session.
  #onSessionError(session, err) {
    if (session.ended) return;
    console.error('sfu: session failed', err);
    this.#reconnect(session, 'negotiation_failed');
  }

  #onConnectionState(session) {
    if (session.ended) return;
    const state = session.pc.connectionState;
    if (state === 'connected') session.connectedAt ||= Date.now();
    this.#emit('connectionstate', { state });
    if (state === 'failed') this.#reconnect(session, 'connection_failed');
  }

  // -------------------------------------------------------------------------------------------
  // The others

  #addParticipant(participant) {
    if (!participant?.id || participant.id === this.participantId) return;
    const known = this.participants.has(participant.id);
    this.participants.set(participant.id, { identity: '', ...participant });
    this.#emit(known ? 'participantupdated' : 'participantjoined', { participant: this.participants.get(participant.id) });
  }

  #removeParticipant(id) {
    const participant = this.participants.get(id);
    this.participants.delete(id);
    this.#forgetTracks((t) => t.publisher === id);
    this.quality.delete(id);
    if (participant) this.#emit('participantleft', { id, participant });
  }

  // forgetRemote forgets everything a session was told about the others, for the next session
  // to tell it again.
  #forgetRemote() {
    const ids = [...this.participants.keys()];
    this.#published.clear();
    this.#received.clear();
    for (const id of ids) this.#removeParticipant(id);
    this.quality.clear();
    if (this.speaker) this.#onSpeaker('');
  }

  #onSpeaker(id) {
    this.speaker = id;
    this.#emit('speaker', { id });
  }

  // A track's update reaches the page as participantupdated of its publisher.
  #tracksChanged(id) {
    const participant = this.participants.get(id);
    if (participant) this.#emit('participantupdated', { participant });
  }

  #onTrackPublished(track) {
    if (!track?.trackId || !track.publisher) return;
    this.#published.set(track.trackId, track);
    this.#tracksChanged(track.publisher);
  }

  // onTrackUnpublished takes a track away at once; the server's offer that stops it follows.
  #onTrackUnpublished(track) {
    if (!track?.trackId) return;
    this.#published.delete(track.trackId);
    this.#forgetTracks((r) => r.trackId === track.trackId && r.publisher === track.publisher);
    this.#tracksChanged(track.publisher);
  }

  #forgetTracks(match) {
    for (const [track, r] of this.#received) if (match(r)) this.#received.delete(track);
    for (const [id, t] of this.#published) if (match(t)) this.#published.delete(id);
  }

  // onRemoteTrack notes whose a track is: the stream id is the publisher's participant id, and
  // a publisher's tracks all share that stream. A track of nobody known yet is kept until its
  // publisher is announced.
  #onRemoteTrack(pc, { track, streams, transceiver }) {
    const stream = streams[0];
    if (!stream) {
      console.warn('sfu: remote track without a stream id, ignored', track.id);
      return;
    }
    const before = this.#received.get(track)?.publisher;
    this.#received.set(track, { publisher: stream.id, trackId: publishedTrackId(pc, transceiver) });
    this.#watch(stream, track);
    if (before && before !== stream.id) this.#tracksChanged(before); // the server reused the m-line
    this.#tracksChanged(stream.id);
  }

  // A track leaves its publisher's stream when the server stops sending it, and ends when its
  // m-line is closed: either way, it leaves its publisher's media.
  #watch(stream, track) {
    if (!this.#watched.has(stream)) {
      this.#watched.add(stream);
      stream.addEventListener('removetrack', (event) => {
        if (this.#received.get(event.track)?.publisher === stream.id) this.#received.delete(event.track);
        this.#tracksChanged(stream.id);
      });
    }
    if (!this.#watched.has(track)) {
      this.#watched.add(track);
      track.addEventListener('ended', () => {
        const publisher = this.#received.get(track)?.publisher;
        this.#received.delete(track);
        if (publisher) this.#tracksChanged(publisher);
      });
    }
  }

  // mediaOf is what a remote member sends now: camera, its camera video ({track, trackId}, or
  // null); audio, its microphone tracks; screens, [{track, trackId, audio}] for each screen it
  // shares, with the screen's sound. Without trackPublished (an older server) the first video is
  // taken for the camera.
  mediaOf(id) {
    const tracks = [];
    for (const [track, r] of this.#received) {
      if (r.publisher === id && track.readyState !== 'ended') {
        tracks.push({ track, trackId: r.trackId, source: this.#published.get(r.trackId)?.source ?? '' });
      }
    }
    const videos = tracks.filter((t) => t.track.kind === 'video');
    const camera = videos.find((t) => t.source === 'camera') ?? videos.find((t) => !t.source) ?? null;
    const screenVideos = videos.filter((t) => t !== camera);
    const screenAudio = tracks.filter((t) => t.track.kind === 'audio' && t.source === 'screenAudio').map((t) => t.track);
    const audio = tracks.filter((t) => t.track.kind === 'audio' && t.source !== 'screenAudio').map((t) => t.track);
    const screens = screenVideos.map((t, i) => ({ track: t.track, trackId: t.trackId, audio: i === 0 ? screenAudio : [] }));
    // A screen's sound plays with the screen, or with the camera when the picture is not there.
    return {
      camera: camera ? { track: camera.track, trackId: camera.trackId } : null,
      audio: screens.length > 0 ? audio : [...audio, ...screenAudio],
      screens,
    };
  }

  // watchVideo tells the server how large a video element shows participantId's track trackId,
  // and whether it is seen at all, now and whenever that changes, so that it sends the smallest
  // simulcast layer that looks sharp there, and nothing for a video nobody sees.
  watchVideo(video, participantId, trackId) {
    this.#views.watch(video, participantId, trackId);
  }

  unwatchVideo(video) {
    this.#views.unwatch(video);
  }

  // -------------------------------------------------------------------------------------------
  // Local media

  // setLocalStream sets the camera and microphone to publish (a MediaStream with up to one
  // track of each kind, or null for none). Call it before join; during the call use
  // switchCamera and switchMicrophone.
  setLocalStream(stream) {
    this.localStream = stream;
    for (const track of stream?.getAudioTracks() ?? []) track.enabled = !this.audioMuted;
    for (const track of stream?.getVideoTracks() ?? []) track.enabled = !this.videoMuted;
    this.#emitLocal();
  }

  localTrack(kind) {
    return this.localStream?.getTracks().find((track) => track.kind === kind) ?? null;
  }

  // switchCamera and switchMicrophone publish another device ('' for the default) in place of
  // the current one, without renegotiating; with none published yet, they add it. They throw
  // as getUserMedia does, and leave the current device as it was.
  async switchCamera(deviceId = '') {
    return this.#switchDevice('video', 'camera', await openCamera(deviceId));
  }

  async switchMicrophone(deviceId = '') {
    return this.#switchDevice('audio', 'microphone', await openMicrophone(deviceId));
  }

  async #switchDevice(kind, source, track) {
    if (!track) throw new Error(`no ${source} track`);
    if (this.state === 'left' || this.state === 'failed') {
      track.stop();
      return track;
    }
    track.enabled = !(kind === 'audio' ? this.audioMuted : this.videoMuted);
    const old = this.localTrack(kind);
    const stream = this.localStream ?? new MediaStream();
    if (old) stream.removeTrack(old);
    stream.addTrack(track);
    this.localStream = stream;
    const session = this.#session;
    if (session?.pc && !session.ended && this.permissions.publish) {
      const sender = senderOf(session, source);
      if (sender) await sender.replaceTrack(track);
      else addTrack(session, track, stream, source);
    }
    old?.stop();
    this.#emitLocal();
    return track;
  }

  setAudioMuted(muted) {
    this.audioMuted = Boolean(muted);
    for (const track of this.localStream?.getAudioTracks() ?? []) track.enabled = !this.audioMuted;
    this.#sendMute();
    this.#emitLocal();
  }

  setVideoMuted(muted) {
    this.videoMuted = Boolean(muted);
    for (const track of this.localStream?.getVideoTracks() ?? []) track.enabled = !this.videoMuted;
    this.#sendMute();
    this.#emitLocal();
  }

  #sendMute() {
    if (this.#session?.pc) this.#send({ type: 'mute', audioMuted: this.audioMuted, videoMuted: this.videoMuted });
  }

  #emitLocal() {
    this.#emit('localmedia', { stream: this.localStream, audioMuted: this.audioMuted, videoMuted: this.videoMuted });
  }

  // startScreenShare asks the browser for a screen and publishes it; it resolves to false when
  // the person closed the picker, and throws when the browser cannot share. A share outlives
  // reconnections; the browser's own "Stop sharing" ends it.
  async startScreenShare() {
    if (this.screenStream) return true;
    let stream;
    try {
      stream = await captureScreen();
    } catch (err) {
      if (err.name === 'NotAllowedError') return false;
      throw err;
    }
    if (this.state === 'left' || this.state === 'failed' || this.screenStream) {
      stream.getTracks().forEach((track) => track.stop());
      return Boolean(this.screenStream);
    }
    this.screenStream = stream;
    for (const track of stream.getVideoTracks()) {
      track.addEventListener('ended', () => { if (this.screenStream === stream) this.stopScreenShare(); }, { once: true });
    }
    const session = this.#session;
    if (session?.pc && !session.ended) publishScreen(session, stream);
    this.#emit('screenshare', { stream });
    return true;
  }

  stopScreenShare() {
    const stream = this.screenStream;
    if (!stream) return;
    this.screenStream = null;
    unpublish(this.#session, stream.getTracks());
    stream.getTracks().forEach((track) => track.stop());
    this.#emit('screenshare', { stream: null });
  }

  static canShareScreen() {
    return Boolean(navigator.mediaDevices?.getDisplayMedia);
  }

  // -------------------------------------------------------------------------------------------
  // Chat and quality

  // sendChat sends text to everyone in the room (chat events bring it back, to us too); it
  // returns false when not joined or the text is blank.
  sendChat(text) {
    if (this.state !== 'joined' || !String(text ?? '').trim()) return false;
    return this.#send({ type: 'chat', text: String(text) });
  }

  async #measureQuality(session) {
    if (session.ended || !session.pc) return;
    const owners = new Map();
    for (const [track, r] of this.#received) owners.set(track.id, r.publisher);
    const videoOff = new Set([...this.participants.values()].filter((p) => p.videoMuted).map((p) => p.id));
    if (this.videoMuted || !this.localTrack('video')) videoOff.add(this.participantId);
    try {
      const quality = await this.#meter.measure(session.pc, owners, this.participantId, videoOff);
      if (session.ended) return;
      this.quality = quality;
      this.#emit('quality', { quality });
    } catch (err) {
      console.debug('sfu: getStats failed', err);
    }
  }
}

function defaultURL(token) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${scheme}://${location.host}/ws${query}`;
}
