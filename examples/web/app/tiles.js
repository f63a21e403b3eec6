// The tiles of the call: one per member for its camera and microphone (ours first), and one per
// screen a member shares, in a grid that fits the screen. The active speaker's tile is outlined
// and, from three members on, larger; a tile clicked (or chosen with Enter) is pinned: it takes
// the stage, as shared screens do, and the others make a strip beside it.
//
// A member's tiles are drawn again from what the client knows (client.participants,
// client.mediaOf) whenever anything about it changes, rather than patched event by event.

import { describeQuality } from '../client/sfu-client.js';
import { setStatus, clearStatus } from './status.js';

const $ = (selector) => document.querySelector(selector);

export class Tiles {
  constructor(client, grid) {
    this.client = client;
    this.grid = grid;
    this.pinned = ''; // the key of the pinned tile (see keyOf), or ''
    grid.addEventListener('click', (event) => {
      const tile = event.target.closest('.tile');
      if (tile) this.togglePin(tile);
    });
    grid.addEventListener('keydown', (event) => {
      const tile = event.target.closest('.tile');
      if (!tile) return;
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        this.togglePin(tile);
      } else if (event.key === 'Escape' && this.pinned) {
        this.pinned = '';
        this.layout();
      }
    });
    new ResizeObserver(() => this.layout()).observe(grid);
  }

  // -------------------------------------------------------------------------------------------
  // What the client says

  // showLocal draws our own tile: the camera as the client publishes it, mirrored, muted.
  showLocal() {
    const c = this.client;
    let tile = this.localTile();
    if (!tile) {
      tile = this.#createTile(c.participantId ?? '', { local: true });
      const video = tile.querySelector('video');
      video.muted = true;
      video.setAttribute('muted', '');
      tile.querySelector('.you').hidden = false;
    }
    tile.dataset.participantId = c.participantId ?? '';
    setName(tile, c.name);
    const video = tile.querySelector('video');
    const camera = c.localTrack('video');
    const shown = video.srcObject?.getVideoTracks()[0] ?? null;
    if (camera !== shown) {
      video.srcObject = camera ? new MediaStream([camera]) : null;
      if (camera) video.play().catch(() => {});
    }
    tile.classList.toggle('no-video', !camera);
    setMuted(tile, c);
    this.#describe(tile);
    this.layout();
  }

  // renderParticipant shows a remote member as the client knows it: a camera tile with its
  // name, mute state, camera and microphone, and a tile per shared screen.
  renderParticipant(id) {
    const participant = this.client.participants.get(id);
    if (!participant) {
      this.removeParticipant(id);
      return;
    }
    const media = this.client.mediaOf(id);
    const camera = this.cameraTile(id) ?? this.#createTile(id);
    setName(camera, participant.name);
    setMuted(camera, participant);
    this.#show(camera, id, media.camera, media.audio);
    this.#describe(camera);

    const shown = new Set();
    for (const screen of media.screens) {
      const tile = this.#screenTile(screen.trackId) ?? this.#createTile(id, { screen: screen.trackId });
      setName(tile, `${participant.name || 'Guest'} (screen)`);
      this.#show(tile, id, screen, screen.audio);
      this.#describe(tile);
      shown.add(tile);
    }
    for (const tile of this.#tilesOf(id)) {
      if (tile.classList.contains('screen') && !shown.has(tile)) this.#removeTile(tile);
    }
    this.layout();
  }

  removeParticipant(id) {
    for (const tile of this.#tilesOf(id)) this.#removeTile(tile);
    this.layout();
  }

  clear() {
    for (const tile of this.#remoteTiles()) this.#removeTile(tile);
    this.localTile()?.remove();
    this.pinned = '';
    this.layout();
  }

  // showSpeaker outlines the camera tile of the participant the server says speaks (our own
  // too: people like to see that they are heard).
  showSpeaker(id) {
    for (const tile of this.grid.querySelectorAll('.tile:not(.screen)')) {
      tile.classList.toggle('speaking', id !== '' && tile.dataset.participantId === id);
      this.#describe(tile);
    }
    this.layout();
  }

  // showQuality marks each camera tile with its member's connection quality.
  showQuality(quality) {
    for (const tile of this.grid.querySelectorAll('.tile:not(.screen)')) {
      const q = quality.get(tile.dataset.participantId);
      const mark = tile.querySelector('.quality');
      mark.dataset.level = q?.level ?? '';
      const text = describeQuality(q);
      mark.title = text;
      mark.setAttribute('aria-label', text);
    }
  }

  // -------------------------------------------------------------------------------------------
  // Tiles

  localTile() {
    return this.grid.querySelector('.tile[data-local="true"]');
  }

  cameraTile(id) {
    return this.#tilesOf(id).find((tile) => !tile.classList.contains('screen')) ?? null;
  }

  #remoteTiles() {
    return [...this.grid.querySelectorAll('.tile:not([data-local])')];
  }

  #tilesOf(id) {
    return this.#remoteTiles().filter((tile) => tile.dataset.participantId === id);
  }

  #screenTile(trackId) {
    return this.#remoteTiles().find((tile) => tile.dataset.trackId === trackId) ?? null;
  }

  // createTile makes a member's camera tile, our own (local), or the tile of a screen it shares
  // (screen: the track id).
  #createTile(id, { local = false, screen = '' } = {}) {
    const tile = $('#tile-template').content.firstElementChild.cloneNode(true);
    tile.dataset.participantId = id;
    if (screen) {
      tile.classList.add('screen');
      tile.dataset.source = 'screen';
      tile.dataset.trackId = screen;
    } else {
      tile.classList.toggle('speaking', this.client.speaker !== '' && this.client.speaker === id);
    }
    if (local) {
      tile.dataset.local = 'true';
      this.grid.prepend(tile);
    } else {
      tile.classList.add('no-video'); // until its video comes
      this.grid.append(tile);
    }
    return tile;
  }

  #removeTile(tile) {
    this.client.unwatchVideo(tile.querySelector('video'));
    if (keyOf(tile) === this.pinned) this.pinned = '';
    tile.remove();
  }

  // show makes a tile play one video (or none) and some audio tracks, and has its size
  // reported to the server.
  #show(tile, id, video, audio) {
    const element = tile.querySelector('video');
    const tracks = [...audio, ...(video ? [video.track] : [])];
    const playing = element.srcObject?.getTracks() ?? [];
    if (tracks.length !== playing.length || tracks.some((t) => !playing.includes(t))) {
      element.srcObject = tracks.length > 0 ? new MediaStream(tracks) : null;
      if (tracks.length > 0) play(element);
    }
    tile.classList.toggle('no-video', !video);
    if (video) this.client.watchVideo(element, id, video.trackId);
    else this.client.unwatchVideo(element);
  }

  // describe gives a tile its label for screen readers.
  #describe(tile) {
    const name = tile.querySelector('.name').textContent;
    const parts = [tile.dataset.local ? `${name} (you)` : name];
    if (!tile.classList.contains('screen')) {
      if (tile.classList.contains('audio-muted')) parts.push('microphone off');
      if (tile.classList.contains('video-muted') || tile.classList.contains('no-video')) parts.push('camera off');
      if (tile.classList.contains('speaking')) parts.push('speaking');
    }
    parts.push(keyOf(tile) === this.pinned ? 'pinned; press Enter to unpin' : 'press Enter to pin');
    tile.setAttribute('aria-label', parts.join(', '));
  }

  togglePin(tile) {
    const key = keyOf(tile);
    this.pinned = this.pinned === key ? '' : key;
    for (const t of this.grid.querySelectorAll('.tile')) this.#describe(t);
    this.layout();
  }

  // layout sizes the grid for its tiles. The stage holds the pinned tile, or else the shared
  // screens: they fill the grid side by side, and the other tiles make a strip beside them (under
  // them on a portrait screen), the speaker's twice as large. With nothing on the stage, the grid
  // has ceil(sqrt(n)) columns, or rows on a portrait screen, and from three tiles on the active
  // speaker's tile takes two columns and two rows.
  layout() {
    const grid = this.grid;
    const tiles = [...grid.querySelectorAll('.tile')];
    let pinned = tiles.find((t) => keyOf(t) === this.pinned) ?? null;
    if (!pinned) this.pinned = '';
    const main = pinned ? [pinned] : tiles.filter((t) => t.classList.contains('screen'));
    for (const t of tiles) {
      t.classList.toggle('main', main.includes(t));
      t.classList.toggle('pinned', t === pinned);
    }
    const rest = tiles.length - main.length;
    const speaking = grid.querySelector('.tile.speaking:not(.main)');
    const featured = rest >= 3 && speaking !== null;
    const box = grid.getBoundingClientRect();
    const portrait = box.height > box.width * 1.2;
    grid.toggleAttribute('data-portrait', portrait);
    grid.toggleAttribute('data-featured', featured);
    grid.toggleAttribute('data-presenting', main.length > 0);
    grid.dataset.count = String(tiles.length);
    if (main.length > 0) {
      grid.style.setProperty('--screens', main.length);
      // At least three cells in the strip, so that one or two tiles there stay thumbnails.
      grid.style.setProperty('--strip', Math.max(3, rest + (featured ? 1 : 0)));
      return;
    }
    // Portrait screens stack: fewer columns than rows.
    const cells = rest + (featured ? 3 : 0);
    const long = Math.max(1, Math.ceil(Math.sqrt(cells)));
    const short = Math.max(1, Math.ceil(cells / long));
    const columns = portrait ? short : long;
    const rows = portrait ? long : short;
    grid.style.setProperty('--columns', columns);
    grid.style.setProperty('--rows', rows);
  }
}

// keyOf names a tile for pinning, so that the pin survives the tile being drawn again.
function keyOf(tile) {
  if (tile.dataset.local) return 'local';
  if (tile.dataset.trackId) return `screen:${tile.dataset.trackId}`;
  return `camera:${tile.dataset.participantId}`;
}

function setName(tile, name) {
  const shown = name || 'Guest';
  tile.querySelector('.name').textContent = shown;
  tile.querySelector('.avatar').textContent = initials(shown);
}

function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] ?? '?').slice(0, 1);
  return letters.toUpperCase();
}

function setMuted(tile, { audioMuted, videoMuted }) {
  tile.classList.toggle('audio-muted', Boolean(audioMuted));
  tile.classList.toggle('video-muted', Boolean(videoMuted));
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
