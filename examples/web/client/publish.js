// What a client publishes: the camera (in simulcast), the microphone and, when asked, the
// screen. The server is told what each track is (trackInfo) before the offer that adds it, and
// tells the client which simulcast layers anyone watches (layers: dynacast).
//
// A session keeps session.senders: the id the server knows each published track by (the id the
// track had when it was added, which stays in the SDP's msid) -> {sender, source}. A camera or
// microphone switched to another device goes on the same sender (replaceTrack), under the same
// id, with no renegotiation.

// The camera is asked for 720p; it may give less.
export const CAMERA = { width: { ideal: 1280 }, height: { ideal: 720 } };

// The camera's simulcast layers, low to high: the server forwards each viewer the smallest one
// that fills its tile. The rids are the protocol's names for them.
const CAMERA_LAYERS = [
  { rid: 'q', scaleResolutionDownBy: 4, maxBitrate: 150_000 },
  { rid: 'h', scaleResolutionDownBy: 2, maxBitrate: 500_000 },
  { rid: 'f', scaleResolutionDownBy: 1, maxBitrate: 1_500_000 },
];

// A layer whose picture would be less than this many pixels high (or wide, for a camera held
// upright) is not worth its encoder: a camera that gives less than 720p sends fewer layers.
const MIN_LAYER_SIZE = 90;

// publish adds the local tracks to a new session's PeerConnection, send-only, and always a data
// channel, so that the first offer has an m-line even when there is no camera and microphone.
export function publish(session, camera, screen) {
  for (const track of camera?.getAudioTracks() ?? []) addTrack(session, track, camera, 'microphone');
  for (const track of camera?.getVideoTracks() ?? []) addTrack(session, track, camera, 'camera');
  if (screen) publishScreen(session, screen);
  session.pc.createDataChannel('sfu');
}

// addTrack tells the server what track is and then adds it, which makes the browser offer it:
// the trackInfo goes out first, as negotiationneeded fires only after this task.
export function addTrack(session, track, stream, source) {
  const encodings = source === 'camera' ? cameraEncodings(track) : null;
  session.send(trackInfo(track, source, encodings));
  const init = { direction: 'sendonly', streams: [stream] };
  if (encodings) init.sendEncodings = encodings;
  const transceiver = session.pc.addTransceiver(track, init);
  session.senders.set(track.id, { sender: transceiver.sender, source });
  // The server rewrites VP8's picture ids when a viewer moves between layers, so that the
  // decoder sees one continuous stream; other codecs switch less smoothly.
  if (encodings) preferCodec(transceiver, 'video/vp8');
  return transceiver;
}

// senderOf is the sender that publishes the session's track of a source (camera, microphone).
export function senderOf(session, source) {
  for (const { sender, source: s } of session?.senders?.values() ?? []) {
    if (s === source && session.pc.getSenders().includes(sender)) return sender;
  }
  return null;
}

// cameraEncodings are the simulcast encodings for a camera track, without the layers that
// would be too small; null when only one layer is left, which is sent without simulcast.
function cameraEncodings(track) {
  const { width, height } = track.getSettings();
  const shorter = Math.min(width ?? Infinity, height ?? Infinity);
  const layers = CAMERA_LAYERS.filter((l) => shorter / l.scaleResolutionDownBy >= MIN_LAYER_SIZE);
  return layers.length >= 2 ? layers.map((l) => ({ ...l })) : null;
}

// trackInfo is the message that describes a track to the server: its source, and for a
// simulcast video each layer's size (the encoder divides and rounds down), low to high.
function trackInfo(track, source, encodings) {
  const message = { type: 'trackInfo', trackId: track.id, source };
  if (encodings) {
    const { width, height } = track.getSettings();
    message.layers = encodings.map(({ rid, scaleResolutionDownBy, maxBitrate }) => {
      const layer = { rid, maxBitrate };
      if (width && height) {
        layer.width = Math.floor(width / scaleResolutionDownBy);
        layer.height = Math.floor(height / scaleResolutionDownBy);
      }
      return layer;
    });
  }
  return message;
}

// preferCodec puts mimeType first in the transceiver's codec list, and keeps the others after
// it, so that a viewer whose browser lacks it still gets a picture.
function preferCodec(transceiver, mimeType) {
  const kind = transceiver.sender.track.kind;
  const same = (c) => c.mimeType.toLowerCase() === mimeType;
  // Browsers differ on whether a send-only transceiver takes its sender's or its receiver's
  // capabilities here.
  for (const caps of [RTCRtpSender.getCapabilities?.(kind), RTCRtpReceiver.getCapabilities?.(kind)]) {
    const codecs = caps?.codecs ?? [];
    if (!transceiver.setCodecPreferences || !codecs.some(same)) continue;
    try {
      transceiver.setCodecPreferences([...codecs.filter(same), ...codecs.filter((c) => !same(c))]);
      return;
    } catch (err) {
      console.debug('sfu: codec preferences refused', err);
    }
  }
  console.warn('sfu: could not prefer', mimeType, 'for the camera');
}

// ---------------------------------------------------------------------------------------------
// Screen sharing

// captureScreen asks the browser for a screen, window or tab, with its sound if the person
// chooses to share it.
export async function captureScreen() {
  if (!navigator.mediaDevices?.getDisplayMedia) throw new Error('this browser cannot share its screen');
  const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: true });
  // Text and lines: keep the resolution sharp and let the frame rate drop when short.
  for (const track of stream.getVideoTracks()) track.contentHint = 'detail';
  return stream;
}

// publishScreen adds a shared screen to a session: one video track, not simulcast (every
// viewer wants it sharp), and its sound if any.
export function publishScreen(session, stream) {
  for (const track of stream.getVideoTracks()) addTrack(session, track, stream, 'screen');
  for (const track of stream.getAudioTracks()) addTrack(session, track, stream, 'screenAudio');
}

// unpublish stops sending tracks on a session; the browser then offers the change, and the
// server takes the tracks from the others.
export function unpublish(session, tracks) {
  const pc = session?.pc;
  if (!pc || pc.signalingState === 'closed') return;
  for (const sender of pc.getSenders()) {
    if (sender.track && tracks.includes(sender.track)) pc.removeTrack(sender);
  }
}

// ---------------------------------------------------------------------------------------------
// Dynacast

// applyLayers keeps encoding the layers of a local track that the server says someone watches
// (active: their rids) and pauses the others, which saves this browser's CPU and uplink. A
// track without simulcast is paused only when nobody watches it at all.
export async function applyLayers(session, trackId, active) {
  const sender = session.senders.get(trackId)?.sender;
  if (!sender || !session.pc?.getSenders().includes(sender)) return;
  const params = sender.getParameters();
  const encodings = params.encodings ?? [];
  const simulcast = encodings.some((e) => e.rid);
  let changed = false;
  for (const encoding of encodings) {
    const on = simulcast ? active.includes(encoding.rid) : active.length > 0;
    if (encoding.active !== on) {
      encoding.active = on;
      changed = true;
    }
  }
  if (!changed) return;
  try {
    await sender.setParameters(params);
  } catch (err) {
    // Not worth ending the call for: the layers go on being sent.
    console.warn('sfu: could not apply the layers the server asked for', trackId, active, err);
  }
}
