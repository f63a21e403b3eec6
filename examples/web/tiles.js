// The tiles of the call: one per member for its camera and microphone, and one per screen a
// member shares, in a grid where the active speaker's tile is larger and shared screens are the
// largest of all.
//
// Remote tiles are drawn from what the session knows (call.participants, call.published,
// call.received), again for a member whenever any of that changes for it, rather than patched
// event by event: tracks, their descriptions and their publishers' names come in any order.

import { $, call, clearStatus, client, send, setStatus } from './state.js';
import { publishedTrackId } from './negotiation.js';
import { ViewSizes } from './viewsize.js';

// viewSizes tells the server the size of each remote video shown.
const viewSizes = new ViewSizes((message) => send(call.session, message));

// ---------------------------------------------------------------------------------------------
// What the server says

// addParticipant adds or updates a remote member. Our own entry, if the server sends it, is
// skipped: the local mute state is ours to know.
export function addParticipant(participant) {
  if (!participant?.id || participant.id === client.participantId) return;
  call.participants.set(participant.id, participant);
  renderParticipant(participant.id);
}

export function removeParticipant(id) {
  call.participants.delete(id);
  forgetTracks((track) => track.publisher === id);
  for (const tile of tilesOf(id)) removeTile(tile);
  layoutGrid();
}

// clearRemoteParticipants forgets everything the session was told about the others, for a new
// session to tell it again.
export function clearRemoteParticipants() {
  call.participants.clear();
  call.published.clear();
  call.received.clear();
  for (const tile of document.querySelectorAll('#grid .tile:not([data-local])')) removeTile(tile);
  layoutGrid();
}

// onTrackPublished learns what a member's track is (a camera or a screen) before it comes.
export function onTrackPublished(track) {
  if (!track?.trackId || !track.publisher) return;
  call.published.set(track.trackId, track);
  renderParticipant(track.publisher);
}

// onTrackUnpublished takes a track off its tile at once; the server's offer that stops it
// follows.
export function onTrackUnpublished(track) {
  if (!track?.trackId) return;
  call.published.delete(track.trackId);
  forgetTracks((r) => r.trackId === track.trackId && r.publisher === track.publisher);
  renderParticipant(track.publisher);
}

function forgetTracks(match) {
  for (const [track, r] of call.received) if (match(r)) call.received.delete(track);
  for (const [id, t] of call.published) if (match(t)) call.published.delete(id);
}

// onRemoteTrack notes whose a track is: the stream id is the publisher's participant id, and a
// publisher's tracks all share that stream. The server announces a participant before sending
// its tracks; a track of nobody known is kept, not shown, until it is announced.
export function onRemoteTrack(pc, { track, streams, transceiver }) {
  const stream = streams[0];
  if (!stream) {
    console.warn('sfu: remote track without a stream id, ignored', track.id);
    return;
  }
  const before = call.received.get(track)?.publisher;
  call.received.set(track, { publisher: stream.id, trackId: publishedTrackId(pc, transceiver) });
  watch(stream, track);
  if (!call.participants.has(stream.id)) {
    console.warn('sfu: track of an unknown participant, kept until it is announced', stream.id);
  }
  if (before && before !== stream.id) renderParticipant(before); // the server reused the m-line
  renderParticipant(stream.id);
}

// A track leaves its publisher's stream when the server stops sending it, and ends when its
// m-line is closed: either way, it leaves its tile.
const watched = new WeakSet();
function watch(stream, track) {
  if (!watched.has(stream)) {
    watched.add(stream);
    stream.addEventListener('removetrack', (event) => {
      if (call.received.get(event.track)?.publisher === stream.id) call.received.delete(event.track);
      renderParticipant(stream.id);
    });
  }
  if (!watched.has(track)) {
    watched.add(track);
    track.addEventListener('ended', () => {
      const publisher = call.received.get(track)?.publisher;
      call.received.delete(track);
      if (publisher) renderParticipant(publisher);
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Drawing a member

// renderParticipant shows a remote member as the session knows it: a camera tile with its
// name, mute state, camera and microphone, and a tile per shared screen.
function renderParticipant(id) {
  const participant = call.participants.get(id);
  if (!participant) {
    for (const tile of screenTilesOf(id)) removeTile(tile);
    layoutGrid();
    return;
  }
  const tracks = [];
  for (const [track, r] of call.received) {
    if (r.publisher === id) tracks.push({ track, ...r, source: call.published.get(r.trackId)?.source });
  }
  const videos = tracks.filter((t) => t.track.kind === 'video');
  // Without trackPublished (an older server) the first video is taken for the camera.
  const cameraVideo = videos.find((t) => t.source === 'camera') ?? videos.find((t) => !t.source) ?? null;
  const screens = videos.filter((t) => t !== cameraVideo);
  const screenAudio = tracks.filter((t) => t.track.kind === 'audio' && t.source === 'screenAudio');
  const audio = tracks.filter((t) => t.track.kind === 'audio' && t.source !== 'screenAudio');

  const camera = cameraTile(id) ?? createTile(id);
  setTileName(camera, participant.name);
  renderMuteState(camera, participant);
  // A screen's sound plays with the screen, or with the camera when the picture is not there.
  showTracks(camera, cameraVideo, screens.length > 0 ? audio : [...audio, ...screenAudio]);

  const shown = new Set();
  screens.forEach((screen, i) => {
    const tile = screenTile(screen.trackId) ?? createTile(id, { screen: screen.trackId });
    setTileName(tile, `${participant.name || 'Guest'} (screen)`);
    showTracks(tile, screen, i === 0 ? screenAudio : []);
    shown.add(tile);
  });
  for (const tile of screenTilesOf(id)) if (!shown.has(tile)) removeTile(tile);
  layoutGrid();
}

// showTracks makes a tile play one video (or none) and some audio tracks, and has its size
// reported to the server.
function showTracks(tile, video, audio) {
  const element = tile.querySelector('video');
  const tracks = [...audio.map((t) => t.track), ...(video ? [video.track] : [])];
  const playing = element.srcObject?.getTracks() ?? [];
  if (tracks.length !== playing.length || tracks.some((t) => !playing.includes(t))) {
    element.srcObject = tracks.length > 0 ? new MediaStream(tracks) : null;
    if (tracks.length > 0) play(element);
  }
  tile.classList.toggle('no-video', !video);
  if (video) viewSizes.watch(element, video.publisher, video.trackId);
  else viewSizes.unwatch(element);
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

// ---------------------------------------------------------------------------------------------
// Tiles

export function showLocalTile(id) {
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
  tile.classList.toggle('no-video', !call.localStream?.getVideoTracks().length);
  renderMuteState(tile, call);
}

// createTile makes a member's camera tile, our own (local), or the tile of a screen it shares
// (screen: the track id).
function createTile(id, { local = false, screen = '' } = {}) {
  const tile = $('#tile-template').content.firstElementChild.cloneNode(true);
  tile.dataset.participantId = id;
  if (screen) {
    tile.classList.add('screen');
    tile.dataset.source = 'screen';
    tile.dataset.trackId = screen;
  } else {
    tile.classList.toggle('speaking', call.speaker !== '' && call.speaker === id);
  }
  if (local) {
    tile.dataset.local = 'true';
    $('#grid').prepend(tile);
  } else {
    tile.classList.add('no-video'); // until its video comes
    $('#grid').append(tile);
  }
  layoutGrid();
  return tile;
}

function removeTile(tile) {
  viewSizes.unwatch(tile.querySelector('video'));
  tile.remove();
}

function remoteTiles() {
  return [...document.querySelectorAll('#grid .tile:not([data-local])')];
}

function tilesOf(id) {
  return remoteTiles().filter((tile) => tile.dataset.participantId === id);
}

function cameraTile(id) {
  return tilesOf(id).find((tile) => !tile.classList.contains('screen')) ?? null;
}

function screenTilesOf(id) {
  return tilesOf(id).filter((tile) => tile.classList.contains('screen'));
}

function screenTile(trackId) {
  return remoteTiles().find((tile) => tile.dataset.trackId === trackId) ?? null;
}

export function localTile() {
  return $('.tile[data-local="true"]');
}

export function removeLocalTile() {
  localTile()?.remove();
  layoutGrid();
}

function setTileName(tile, name) {
  const shown = name || 'Guest';
  tile.querySelector('.name').textContent = shown;
  tile.querySelector('.avatar').textContent = shown.charAt(0).toUpperCase();
}

export function renderMuteState(tile, { audioMuted, videoMuted }) {
  tile.classList.toggle('audio-muted', Boolean(audioMuted));
  tile.classList.toggle('video-muted', Boolean(videoMuted));
}

// showSpeaker highlights the camera tile of the participant the server says is speaking (our
// own too: people like to see that they are heard) and, from three tiles on, makes it larger.
export function showSpeaker(id) {
  call.speaker = id;
  for (const tile of document.querySelectorAll('#grid .tile:not(.screen)')) {
    tile.classList.toggle('speaking', id !== '' && tile.dataset.participantId === id);
  }
  layoutGrid();
}

// layoutGrid sizes the grid for its tiles. Without a shared screen: ceil(sqrt(n)) columns and as
// many rows as needed, and from three tiles on the active speaker's tile takes two columns and
// two rows. With shared screens (presenting), they fill the grid side by side, and the camera
// tiles make a strip beside them, the speaker's twice as high (style.css places the tiles).
export function layoutGrid() {
  const grid = $('#grid');
  const screens = grid.querySelectorAll('.tile.screen').length;
  const cameras = grid.children.length - screens;
  const featured = cameras >= 3 && grid.querySelector('.tile.speaking') !== null;
  grid.toggleAttribute('data-featured', featured);
  grid.toggleAttribute('data-presenting', screens > 0);
  if (screens > 0) {
    grid.style.setProperty('--screens', screens);
    grid.style.setProperty('--strip', Math.max(1, cameras + (featured ? 1 : 0)));
  } else {
    const cells = cameras + (featured ? 3 : 0);
    const columns = Math.max(1, Math.ceil(Math.sqrt(cells)));
    grid.style.setProperty('--columns', columns);
    grid.style.setProperty('--rows', Math.max(1, Math.ceil(cells / columns)));
  }
  grid.dataset.count = String(grid.children.length);
}
