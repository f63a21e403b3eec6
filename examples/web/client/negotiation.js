// The PeerConnection of a session and its negotiation with the server (docs/protocol.md,
// "Negotiation"): "perfect negotiation" with the browser as the polite peer. When a server offer
// crosses ours, ours is rolled back, the server's answered, and the browser offers again.
//
// A session here is the object sfu-client.js makes per WebSocket: {pc, send(message), ended,
// makingOffer, pendingCandidates}.

// createPeerConnection makes a session's PeerConnection. handlers.onTrack gets each remote
// track, handlers.onConnectionState each change of the connection state, and handlers.onError
// a negotiation step the browser refused.
export function createPeerConnection(session, iceServers, handlers) {
  const pc = new RTCPeerConnection({
    iceServers: iceServers.map(({ urls, username, credential }) => ({ urls, username, credential })),
  });
  pc.onnegotiationneeded = () => makeOffer(session).catch(handlers.onError);
  pc.onicecandidate = ({ candidate }) => {
    if (candidate) session.send({ type: 'candidate', candidate: candidate.toJSON() });
  };
  pc.ontrack = handlers.onTrack;
  pc.onconnectionstatechange = handlers.onConnectionState;
  return pc;
}

async function makeOffer(session) {
  const pc = session.pc;
  try {
    session.makingOffer = true;
    await pc.setLocalDescription();
    // A server offer may have rolled ours back meanwhile; the browser fires negotiationneeded
    // again once the answer to it is done.
    if (session.ended || pc.signalingState !== 'have-local-offer') return;
    session.send({ type: 'offer', sdp: pc.localDescription.sdp });
  } finally {
    session.makingOffer = false;
  }
}

export async function onRemoteOffer(session, sdp) {
  const pc = session.pc;
  if (!pc) return;
  // We are polite: if our own offer is outstanding (or being made), the server has ignored it,
  // and setRemoteDescription rolls it back implicitly before applying the server's.
  const collision = session.makingOffer || pc.signalingState !== 'stable';
  if (collision) console.debug('sfu: offer collision, rolling back our offer');
  await pc.setRemoteDescription({ type: 'offer', sdp });
  await flushCandidates(session);
  await pc.setLocalDescription();
  session.send({ type: 'answer', sdp: pc.localDescription.sdp });
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

export async function onRemoteAnswer(session, sdp) {
  const pc = session.pc;
  if (!pc || pc.signalingState !== 'have-local-offer') {
    console.warn('sfu: ignoring an answer in state', pc?.signalingState);
    return;
  }
  await pc.setRemoteDescription({ type: 'answer', sdp });
  await flushCandidates(session);
}

export async function onRemoteCandidate(session, candidate) {
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

// publishedTrackId is the id the server gives the track a transceiver receives: its
// publisher's track id, which the server's offer carries in the m-line's a=msid, and which
// trackPublished and trackSettings use. The browser names the receiver's track after it, but
// only once: when the server later reuses the m-line for another track, the track object, and
// its id, stay. So the id is read from the remote description, where it is current.
export function publishedTrackId(pc, transceiver) {
  const fallback = transceiver.receiver.track.id;
  const sdp = pc.remoteDescription?.sdp;
  if (!sdp || transceiver.mid === null) return fallback;
  for (const section of sdp.split(/\r?\nm=/).slice(1)) {
    const lines = section.split(/\r?\n/);
    if (!lines.includes(`a=mid:${transceiver.mid}`)) continue;
    const msid = lines.find((line) => line.startsWith('a=msid:'));
    return msid?.slice('a=msid:'.length).split(' ')[1] || fallback;
  }
  return fallback;
}
