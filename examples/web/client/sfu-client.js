// SfuClient: one person in one room of the SFU, over the signaling protocol of docs/protocol.md.
// It owns the WebSocket and the RTCPeerConnection, publishes the local camera, microphone and
// screen, keeps the room's members and their tracks, relays chat, measures connection quality,
// and reconnects by itself. A page builds its interface on its events; examples/web/README.md
// documents the API.
//
// A call outlives sessions: a session is one room's RTCPeerConnection on one WebSocket, and a
// reconnection starts a new one with the same room, name, local media and mute state.
//
// The client may also be online without a room (goOnline): listed under its name, told who else
// is, and reachable for calls (call, accept, reject, cancel). It then keeps its one WebSocket
// between rooms: it joins the room of an accepted call on it, and leaving that room keeps it
// online. A reconnection goes online again, and joins again the room it was in.

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
// Errors that answer a call request (call()).
const CALL_ERRORS = new Set(['not_online', 'call_self', 'unknown_person', 'already_calling', 'rate_limited']);
// Errors of a join that an online client survives: it stays online, outside the room.
const ROOM_ERRORS = new Set(['bad_room', 'room_full', 'too_many_rooms', 'bad_sdp']);
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

    // Presence: whether the server lists us now, who else it lists, and the calls that ring.
    this.online = false;
    this.people = new Map(); // identity (or name, without tokens) -> {name, identity, inCall}
    this.incomingCalls = new Map(); // call id -> {callId, name, identity, room}
    this.outgoingCall = null; // {callId, to, person} while our call rings

    this.localStream = null; // camera and microphone
    this.screenStream = null; // the screen being shared
    this.audioMuted = false;
    this.videoMuted = false;

    this.#views = new ViewSizes((message) => this.#send(message));
  }

  #socket = null; // the WebSocket and what goes with it (see #connect)
  #session = null; // the room we are in on #socket, and its RTCPeerConnection (see #onJoined)
  #inRoom = false; // join() was called and leave() not since: be in this.room
  #wantOnline = false; // goOnline() was called and goOffline() not since
  #wasOnline = false; // the server listed us once already: name_taken is our own ghost
  #onlineWaiters = [];
  #callWaiter = null; // the call() waiting for its "calling"
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
  //
  // One WebSocket (a "socket" here) carries everything: being online, and at most one room at a
  // time (a "session": the membership of a room and its RTCPeerConnection). A client that is not
  // online has one session per socket, as before presence existed; an online one keeps its socket
  // between rooms, and a new session starts at each "joined".

  // join connects and joins the room (by default the one given to the constructor); it resolves
  // once joined, or rejects with the error that made it fail (an Error with a code).
  // Reconnections after that happen by themselves. An online client joins on its socket, leaving
  // the room it is in first, if another one: that is how it takes an accepted call.
  join(room = this.room) {
    if (this.#inRoom && room === this.room) {
      return this.state === 'joined' ? Promise.resolve() : this.#waitJoined();
    }
    if (this.#inRoom) this.#leaveRoom({ stopMedia: false });
    this.room = room;
    this.#inRoom = true;
    this.failure = null;
    const joined = this.#waitJoined();
    window.addEventListener('pagehide', this.#goodbye);
    const socket = this.#socket;
    if (!socket) {
      this.#attempt = 0;
      this.#setState('connecting');
      this.#connect();
    } else if (this.state !== 'reconnecting') {
      this.#setState('connecting');
      // Without presence the socket joins when it opens; online, once the server listed us.
      if (this.online) this.#sendJoin(socket);
    }
    return joined;
  }

  // leave says goodbye to the room. A client that is not online ends its session (and the
  // socket); an online one stays online, on the same socket, and may join another room. The local
  // camera and microphone are stopped unless stopMedia is false.
  leave({ stopMedia = true } = {}) {
    if (!this.#wantOnline) {
      this.#close({ stopMedia });
      return;
    }
    this.#leaveRoom({ stopMedia });
    this.#setState(this.online ? 'online' : 'reconnecting');
  }

  // goOffline leaves the room, if any, goes offline and closes the socket.
  goOffline({ stopMedia = true } = {}) {
    this.#wantOnline = false;
    this.#close({ stopMedia });
  }

  #close({ stopMedia }) {
    clearTimeout(this.#reconnectTimer);
    this.#setState('left');
    this.#leaveRoom({ stopMedia });
    if (this.#socket) this.#closeSocket(this.#socket);
    this.#socket = null;
    this.ws = null;
    this.#dropPresence();
    this.#settleOnline(new Error('left'));
  }

  // leaveRoom ends the room's session and forgets its members, and keeps the socket.
  #leaveRoom({ stopMedia }) {
    const session = this.#session;
    const socket = this.#socket;
    this.#inRoom = false;
    if (session) this.#endSession(session);
    if (socket && (session || socket.joinPending)) {
      // A join still unanswered is left too: its "joined" is skipped when it comes.
      if (!session) socket.skipJoined++;
      socket.joinPending = false;
      socket.send({ type: 'leave' });
    }
    this.#session = null;
    this.pc = null;
    this.participantId = null;
    window.removeEventListener('pagehide', this.#goodbye);
    this.stopScreenShare();
    if (stopMedia) {
      this.localStream?.getTracks().forEach((track) => track.stop());
      this.localStream = null;
    }
    this.#forgetRemote();
    this.#settleJoin(new Error('left'));
  }

  #waitJoined() {
    return new Promise((resolve, reject) => this.#joinWaiters.push({ resolve, reject }));
  }

  #settleJoin(err) {
    for (const w of this.#joinWaiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  #connect() {
    const ws = new WebSocket(this.url);
    const socket = {
      ws,
      inbox: Promise.resolve(), // handles messages one at a time, in order
      lastError: '',
      ended: false,
      joinPending: false, // a join was sent and not answered yet
      skipJoined: 0, // "joined" answers to joins left before they came
      onlineAt: 0, // when the server listed us on this socket
      send(message) {
        if (this.ended || ws.readyState !== WebSocket.OPEN) return false;
        ws.send(JSON.stringify(message));
        return true;
      },
    };
    this.#socket = socket;
    this.ws = ws;
    this.pc = null;
    ws.onopen = () => {
      if (this.#wantOnline) socket.send(this.token ? { type: 'online', token: this.token } : { type: 'online', name: this.name });
      else if (this.#inRoom) this.#sendJoin(socket);
    };
    ws.onmessage = (event) => this.#receive(socket, event.data);
    ws.onclose = (event) => this.#onSocketClosed(socket, event);
  }

  #sendJoin(socket) {
    const join = { type: 'join', name: this.name };
    if (this.room) join.room = this.room;
    if (socket.send(join)) socket.joinPending = true;
  }

  #send(message) {
    return this.#session?.send(message) ?? false;
  }

  #receive(socket, data) {
    let message;
    try {
      message = JSON.parse(data);
    } catch (err) {
      console.warn('sfu: ignoring a message that is not JSON', err);
      return;
    }
    // Offers, answers and candidates must be applied in the order they came, and each step is
    // asynchronous: chain them. A step that fails belongs to the session it ran in; one that
    // has been left since does not matter any more.
    socket.inbox = socket.inbox.then(async () => {
      if (socket.ended) return;
      const session = this.#session;
      try {
        await this.#handle(socket, message);
      } catch (err) {
        this.#onSessionError(session, err);
      }
    });
  }

  async #handle(socket, message) {
    switch (message.type) {
      case 'joined': return this.#onJoined(socket, message);
      case 'presence': return this.#onPresence(socket, message);
      case 'personOnline': return this.#onPersonOnline(message.person);
      case 'personOffline': return this.#onPersonOffline(message);
      case 'calling': return this.#onCalling(message);
      case 'incomingCall': return this.#onIncomingCall(message);
      case 'callResult': return this.#onCallResult(message);
      case 'draining': {
        const graceSeconds = message.graceSeconds ?? 0;
        this.draining = { message: message.message ?? '', graceSeconds, until: Date.now() + graceSeconds * 1000 };
        return this.#emit('draining', this.draining);
      }
      case 'error': return this.#onServerError(socket, message);
    }
    // The rest is about the room, and means nothing outside one (the tail of a room just left).
    const session = this.#session;
    if (!session || session.socket !== socket) return undefined;
    switch (message.type) {
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
      case 'offer': return onRemoteOffer(session, message.sdp);
      case 'answer': return onRemoteAnswer(session, message.sdp);
      case 'candidate': return onRemoteCandidate(session, message.candidate);
      default: console.info('sfu: ignoring message of unknown type', message.type);
    }
    return undefined;
  }

  async #onJoined(socket, message) {
    socket.joinPending = false;
    if (socket.skipJoined > 0) {
      socket.skipJoined--; // a room left before its "joined" came; the server had our leave
      return;
    }
    if (!this.#inRoom) return;
    const session = {
      socket,
      pc: null,
      makingOffer: false,
      pendingCandidates: [], // server candidates that came before a remote description
      senders: new Map(), // what it publishes (publish.js)
      connectedAt: 0, // when the PeerConnection first became connected
      ended: false,
      send(m) {
        return !this.ended && socket.send(m);
      },
    };
    this.#session = session;
    this.participantId = message.id;
    if (message.room) this.room = message.room;
    if (message.name !== undefined) this.name = message.name;
    this.identity = message.identity ?? this.identity;
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

  #onServerError(socket, { code, message }) {
    console.warn('sfu: server error', code, message);
    if (QUIET_ERRORS.has(code)) return;
    socket.lastError = code;
    if (CALL_ERRORS.has(code) && this.#callWaiter) {
      const w = this.#callWaiter;
      this.#callWaiter = null;
      w.reject(codedError(code, message));
    }
    if (code === 'name_taken' && this.#wasOnline) {
      // Our previous socket, lost, may still be listed under our name until the server notices
      // (a missed ping, seconds): try again later rather than give up.
      this.#reconnect(socket, 'name_taken');
      return;
    }
    if (this.#wantOnline && ROOM_ERRORS.has(code)) {
      // A room that cannot be joined: stay online, outside it.
      this.failure = { code, message: message ?? '' };
      if (code !== 'bad_sdp') socket.joinPending = false; // the join was refused: nothing to leave
      const pending = this.#joinWaiters.splice(0);
      this.#leaveRoom({ stopMedia: false });
      for (const w of pending) w.reject(codedError(code, message));
      this.#setState(this.online ? 'online' : 'reconnecting');
      this.#emit('error', { code, message: message ?? '', fatal: false });
      return;
    }
    if (FATAL_ERRORS.has(code)) {
      this.#fail(code, message ?? '');
      return;
    }
    this.#emit('error', { code, message: message ?? '', fatal: false });
  }

  // onSocketClosed reconnects unless the server refused us for good: a fatal error, or a close
  // for a protocol violation (1008, 1009) other than being too slow to read, which may pass.
  #onSocketClosed(socket, event) {
    if (socket.ended || this.state === 'left') return;
    // A slow consumer's error message cannot be queued; the close reason carries its code.
    const code = socket.lastError || event.reason;
    const violation = event.code === CLOSE_POLICY_VIOLATION || event.code === CLOSE_MESSAGE_TOO_BIG;
    if (FATAL_ERRORS.has(code) || (violation && code !== 'slow_consumer')) {
      this.#fail(code || `close_${event.code}`, event.reason || `the server closed the connection (${event.code})`);
      return;
    }
    this.#reconnect(socket, code || 'connection_lost');
  }

  // endSession closes a room session's PeerConnection and silences its handlers.
  #endSession(session) {
    if (session.ended) return;
    session.ended = true;
    session.pendingCandidates = [];
    session.pc?.close();
    if (this.pc === session.pc) this.pc = null;
    clearInterval(this.#qualityTimer);
  }

  #closeSocket(socket) {
    if (socket.ended) return;
    socket.ended = true;
    socket.ws.onopen = null;
    socket.ws.onmessage = null;
    socket.ws.onclose = null;
    socket.ws.close(1000);
  }

  #fail(code, message) {
    clearTimeout(this.#reconnectTimer);
    if (this.#session) this.#endSession(this.#session);
    if (this.#socket) this.#closeSocket(this.#socket);
    this.#session = null;
    this.#socket = null;
    this.ws = null;
    this.#inRoom = false;
    this.#wantOnline = false;
    this.failure = { code, message };
    this.#forgetRemote();
    this.#dropPresence();
    window.removeEventListener('pagehide', this.#goodbye);
    this.#setState('failed', code);
    this.#emit('error', { code, message, fatal: true });
    const err = codedError(code, message);
    this.#settleJoin(err);
    this.#settleOnline(err);
  }

  // reconnect ends the socket (and the room's session) and starts a new one after a growing
  // delay, which goes online again and joins the room again, as the client was. Remote
  // participants go away (participantleft): the new "joined" brings them back.
  #reconnect(socket, reason) {
    if (socket !== this.#socket || this.state === 'left' || this.state === 'failed') return;
    const session = this.#session;
    const steadySince = session ? session.connectedAt : (this.#inRoom ? 0 : socket.onlineAt);
    if (steadySince && Date.now() - steadySince >= BACKOFF_RESET_MS) this.#attempt = 0;
    if (session) this.#endSession(session);
    this.#session = null;
    this.#closeSocket(socket);
    this.#forgetRemote();
    this.#dropPresence();
    this.#setState('reconnecting', reason);
    const delay = Math.min(BACKOFF_FIRST_MS * 2 ** this.#attempt, BACKOFF_MAX_MS);
    this.#attempt++;
    clearTimeout(this.#reconnectTimer);
    this.#reconnectTimer = setTimeout(() => this.#connect(), delay);
  }

  // onSessionError handles a failure in this client's own handling of a room's session, mostly
  // a description or offer the browser refused: start over with a fresh socket and session.
  #onSessionError(session, err) {
    if (!session || session.ended) return;
    console.error('sfu: session failed', err);
    this.#reconnect(session.socket, 'negotiation_failed');
  }

  #onConnectionState(session) {
    if (session.ended) return;
    const state = session.pc.connectionState;
    if (state === 'connected') session.connectedAt ||= Date.now();
    this.#emit('connectionstate', { state });
    if (state === 'failed') this.#reconnect(session.socket, 'connection_failed');
  }

  // -------------------------------------------------------------------------------------------
  // Presence and calls (docs/protocol.md, "Presence and calls")

  // goOnline connects, if not connected yet, and goes online: under the name given to the
  // constructor, or the token's identity. It resolves once the server listed us (client.people
  // has the others), or rejects with the error that made it fail (an Error with a code).
  goOnline() {
    if (this.online) return Promise.resolve();
    const listed = new Promise((resolve, reject) => this.#onlineWaiters.push({ resolve, reject }));
    if (this.#wantOnline) return listed;
    this.#wantOnline = true;
    this.failure = null;
    const socket = this.#socket;
    if (!socket) {
      this.#attempt = 0;
      this.#setState('connecting');
      this.#connect();
    } else if (socket.ws.readyState === WebSocket.OPEN) {
      socket.send(this.token ? { type: 'online', token: this.token } : { type: 'online', name: this.name });
    } // else: the socket goes online when it opens
    return listed;
  }

  #settleOnline(err) {
    for (const w of this.#onlineWaiters.splice(0)) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  #onPresence(socket, message) {
    this.online = true;
    this.#wasOnline = true;
    socket.onlineAt = Date.now();
    if (message.name) this.name = message.name;
    this.identity = message.identity ?? '';
    this.people.clear();
    for (const person of message.people ?? []) this.people.set(personKey(person), normalPerson(person));
    this.#emit('presence', { people: [...this.people.values()] });
    this.#settleOnline(null);
    if (this.#inRoom) {
      if (this.state === 'joined') return; // went online while in a room
      this.#sendJoin(socket); // back after a reconnection, or a join asked before we were listed
    } else {
      this.#setState('online');
    }
  }

  #onPersonOnline(person) {
    if (!person?.name && !person?.identity) return;
    const p = normalPerson(person);
    this.people.set(personKey(p), p);
    this.#emit('persononline', { person: p });
  }

  #onPersonOffline({ name = '', identity = '' }) {
    const key = identity || name;
    const person = this.people.get(key) ?? normalPerson({ name, identity });
    this.people.delete(key);
    this.#emit('personoffline', { person });
  }

  // call rings someone online: to is their name (their identity with tokens: the key of
  // client.people). It resolves to the call's id once it rings (calling event), or rejects with
  // an Error whose code is why not: unknown_person, call_self, already_calling, not_online,
  // rate_limited. How it ends comes as a callresult event.
  call(to) {
    if (!this.online) return Promise.reject(codedError('not_online', 'not online'));
    if (this.#callWaiter) return Promise.reject(codedError('already_calling', 'a call is being placed'));
    const sent = this.#socket.send({ type: 'call', to });
    if (!sent) return Promise.reject(codedError('not_online', 'not connected'));
    return new Promise((resolve, reject) => { this.#callWaiter = { resolve, reject, to }; });
  }

  #onCalling({ callId = '', to = '' }) {
    this.outgoingCall = { callId, to, person: this.people.get(to) ?? normalPerson({ name: to }) };
    this.#emit('calling', { ...this.outgoingCall });
    const w = this.#callWaiter;
    this.#callWaiter = null;
    w?.resolve(callId);
  }

  #onIncomingCall({ callId = '', name = '', identity = '', room = '' }) {
    const call = { callId, name, identity, room };
    this.incomingCalls.set(callId, call);
    this.#emit('incomingcall', { ...call });
  }

  // accept takes a call that rings; the server answers both sides with callresult "accepted"
  // and the room, which each then joins (client.join(room)).
  accept(callId) {
    return this.#socket?.send({ type: 'accept', callId }) ?? false;
  }

  // reject refuses a call that rings: the caller hears "rejected" (or "busy" when we are in a
  // call), and this client ends the call at once with a callresult "rejected" of its own.
  reject(callId) {
    const call = this.incomingCalls.get(callId);
    const sent = this.#socket?.send({ type: 'reject', callId }) ?? false;
    if (call) {
      this.incomingCalls.delete(callId);
      this.#emit('callresult', { ...call, result: 'rejected', outgoing: false });
    }
    return sent;
  }

  // cancel stops ringing our call (by default the one we make); the server confirms with a
  // callresult "cancelled".
  cancel(callId = this.outgoingCall?.callId) {
    if (!callId) return false;
    return this.#socket?.send({ type: 'cancel', callId }) ?? false;
  }

  #onCallResult({ callId = '', result = '', room = '' }) {
    if (this.outgoingCall?.callId === callId) {
      const call = this.outgoingCall;
      this.outgoingCall = null;
      this.#emit('callresult', { ...call, result, room, outgoing: true });
      return;
    }
    const call = this.incomingCalls.get(callId);
    if (call) {
      this.incomingCalls.delete(callId);
      this.#emit('callresult', { ...call, result, room: room || call.room, outgoing: false });
    }
  }

  // dropPresence forgets what the server's presence said, when the socket ends: the people, and
  // the calls, which the server ends too (callresult "cancelled", local: true).
  #dropPresence() {
    this.online = false;
    if (this.people.size > 0) {
      this.people.clear();
      this.#emit('presence', { people: [] });
    }
    const ended = [...this.incomingCalls.values()].map((call) => ({ ...call, outgoing: false }));
    if (this.outgoingCall) ended.push({ ...this.outgoingCall, outgoing: true });
    this.incomingCalls.clear();
    this.outgoingCall = null;
    for (const call of ended) this.#emit('callresult', { ...call, result: 'cancelled', room: '', local: true });
    const w = this.#callWaiter;
    this.#callWaiter = null;
    w?.reject(codedError('not_online', 'the connection was lost'));
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

function codedError(code, message) {
  const err = new Error(message || code);
  err.code = code;
  return err;
}

// A person is addressed by identity with tokens, by name without.
function personKey({ name = '', identity = '' }) {
  return identity || name;
}

function normalPerson({ name = '', identity = '', inCall = false }) {
  return { name: name || identity, identity, inCall: Boolean(inCall) };
}

function defaultURL(token) {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const query = token ? `?token=${encodeURIComponent(token)}` : '';
  return `${scheme}://${location.host}/ws${query}`;
}
