// The lobby: room and name (remembered in this browser), a preview of the camera with a level
// meter for the microphone, the choice of devices, and Join. It hands the call the stream it
// previewed, so the browser does not ask again.

import { getLocalMedia, listDevices, meterLevel, deviceIdOf, onDeviceChange } from '../client/sfu-client.js';
import { openCameraOrDefault, openMicrophoneOrDefault, mediaProblem, remember, remembered } from './devices.js';

const $ = (selector) => document.querySelector(selector);

// showLobby shows the lobby with room (and the remembered name), and resolves when the person
// joins: {room, name, stream, audioMuted, videoMuted, problems}; or, when they chose to be
// reachable for calls instead, {online: true, name, audioMuted, videoMuted}, with the camera and
// microphone stopped until a call starts.
export function showLobby(room) {
  const form = $('#join-form');
  const roomInput = $('#room-input');
  const nameInput = $('#name-input');
  roomInput.value = room || remembered('room');
  nameInput.value = remembered('name');
  const preview = $('#preview');
  const cameraSelect = $('#camera-select');
  const micSelect = $('#mic-select');
  const state = { stream: new MediaStream(), audioMuted: false, videoMuted: false, stopMeter: () => {}, problems: {} };

  const renderPreview = () => {
    const camera = state.stream.getVideoTracks()[0];
    if (preview.srcObject?.getVideoTracks()[0] !== camera) preview.srcObject = camera ? new MediaStream([camera]) : null;
    const off = !camera || state.videoMuted;
    $('#preview-off').hidden = !off;
    $('#preview-off-text').textContent = !camera ? (state.problems.video ?? 'No camera') : 'Camera is off';
    preview.classList.toggle('off', off);
    toggleButton($('#preview-mic'), state.audioMuted, 'microphone', !state.stream.getAudioTracks()[0]);
    toggleButton($('#preview-cam'), state.videoMuted, 'camera', !camera);
    const notes = Object.values(state.problems).filter(Boolean);
    $('#media-note').hidden = notes.length === 0;
    $('#media-note').textContent = notes.length ? `${notes.join('. ')}. You can still join and see and hear the others.` : '';
  };

  const meter = () => {
    state.stopMeter();
    const mic = state.stream.getAudioTracks()[0];
    const bar = $('#mic-level');
    state.stopMeter = meterLevel(mic, (level) => { bar.style.transform = `scaleX(${state.audioMuted ? 0 : level})`; });
  };

  const fillDevices = async () => {
    const { cameras, microphones } = await listDevices();
    fillSelect(cameraSelect, cameras, deviceIdOf(state.stream.getVideoTracks()[0]), 'No camera');
    fillSelect(micSelect, microphones, deviceIdOf(state.stream.getAudioTracks()[0]), 'No microphone');
  };

  const replace = (kind, track) => {
    const old = kind === 'video' ? state.stream.getVideoTracks()[0] : state.stream.getAudioTracks()[0];
    if (old) {
      state.stream.removeTrack(old);
      old.stop();
    }
    if (track) state.stream.addTrack(track);
  };

  cameraSelect.addEventListener('change', async () => {
    try {
      replace('video', await openCameraOrDefault(cameraSelect.value));
      delete state.problems.video;
      remember('camera', cameraSelect.value);
    } catch (err) {
      state.problems.video = mediaProblem('camera', err);
    }
    renderPreview();
  });
  micSelect.addEventListener('change', async () => {
    try {
      replace('audio', await openMicrophoneOrDefault(micSelect.value));
      delete state.problems.audio;
      remember('microphone', micSelect.value);
      meter();
    } catch (err) {
      state.problems.audio = mediaProblem('microphone', err);
    }
    renderPreview();
  });
  $('#preview-mic').addEventListener('click', () => { state.audioMuted = !state.audioMuted; renderPreview(); });
  $('#preview-cam').addEventListener('click', () => { state.videoMuted = !state.videoMuted; renderPreview(); });
  const stopWatching = onDeviceChange(fillDevices);

  const acquired = (async () => {
    const got = await acquireMedia();
    if (got.stream) for (const track of got.stream.getTracks()) state.stream.addTrack(track);
    state.problems = got.problems;
    renderPreview();
    meter();
    await fillDevices();
  })();
  renderPreview();

  (roomInput.value ? nameInput : roomInput).focus();
  return new Promise((resolve) => {
    let submitted = false;
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const online = event.submitter?.id === 'online-button';
      const room = roomInput.value.trim();
      const name = nameInput.value.trim();
      if (submitted) return;
      if (online && !name) {
        nameInput.focus(); // others call you by your name
        return;
      }
      if (!online && !room) {
        roomInput.focus();
        return;
      }
      submitted = true;
      remember('name', name);
      if (online) {
        state.stopMeter();
        stopWatching();
        await acquired.catch(() => {});
        state.stream.getTracks().forEach((track) => track.stop()); // the camera waits for a call
        preview.srcObject = null;
        resolve({ online: true, name, audioMuted: state.audioMuted, videoMuted: state.videoMuted });
        return;
      }
      remember('room', room);
      // Joining before the camera and microphone came would join without them.
      const button = $('#join-button');
      button.disabled = true;
      button.textContent = 'Joining…';
      await acquired.catch(() => {});
      state.stopMeter();
      stopWatching();
      const stream = state.stream.getTracks().length > 0 ? state.stream : null;
      resolve({ room, name, stream, audioMuted: state.audioMuted, videoMuted: state.videoMuted, problems: state.problems });
    });
  });
}

// acquireMedia asks for the remembered camera and microphone, or the defaults when those are
// gone: {stream, problems: {audio, video}} with a sentence for each device it could not get.
export async function acquireMedia() {
  const want = (kind) => remembered(kind) || true;
  let got = await getLocalMedia({ audio: want('microphone'), video: want('camera') });
  const gone = (err) => err && (err.name === 'OverconstrainedError' || err.name === 'NotFoundError');
  if (gone(got.audioError) || gone(got.videoError)) {
    got.stream?.getTracks().forEach((t) => t.stop());
    got = await getLocalMedia();
  }
  const problems = {};
  if (got.videoError) problems.video = mediaProblem('camera', got.videoError);
  if (got.audioError) problems.audio = mediaProblem('microphone', got.audioError);
  return { stream: got.stream, problems };
}

function fillSelect(select, devices, current, none) {
  select.replaceChildren();
  for (const d of devices) select.append(new Option(d.label, d.deviceId, false, d.deviceId === current));
  if (devices.length === 0) select.append(new Option(none, ''));
  select.disabled = devices.length === 0;
}

function toggleButton(button, off, what, missing) {
  button.disabled = missing;
  button.setAttribute('aria-pressed', String(off || missing));
  button.setAttribute('aria-label', `${off ? 'Turn on' : 'Turn off'} ${what}`);
  button.title = missing ? `No ${what}` : `${off ? 'Turn on' : 'Turn off'} ${what}`;
  button.dataset.icon = what === 'camera' ? (off || missing ? 'cam-off' : 'cam') : (off || missing ? 'mic-off' : 'mic');
}
