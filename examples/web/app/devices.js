// Devices as the app sees them: what this browser remembers (room, name, camera, microphone),
// opening a chosen device, and saying in a sentence why one could not be had.

import { getLocalMedia } from '../client/sfu-client.js';

const PREFIX = 'sfu-example.';

export function remembered(key) {
  try {
    return localStorage.getItem(PREFIX + key) ?? '';
  } catch {
    return ''; // storage disabled
  }
}

export function remember(key, value) {
  try {
    if (value) localStorage.setItem(PREFIX + key, value);
    else localStorage.removeItem(PREFIX + key);
  } catch {
    // storage disabled: nothing is remembered
  }
}

// openCameraOrDefault and openMicrophoneOrDefault open one device ('' for the default), and
// throw the browser's error when it cannot be had.
export async function openCameraOrDefault(deviceId) {
  const got = await getLocalMedia({ audio: false, video: deviceId || true });
  if (got.videoError) throw got.videoError;
  return got.stream.getVideoTracks()[0];
}

export async function openMicrophoneOrDefault(deviceId) {
  const got = await getLocalMedia({ audio: deviceId || true, video: false });
  if (got.audioError) throw got.audioError;
  return got.stream.getAudioTracks()[0];
}

// mediaProblem says why a device (camera, microphone) could not be had.
export function mediaProblem(what, err) {
  const What = what.charAt(0).toUpperCase() + what.slice(1);
  switch (err?.name) {
    case 'NotAllowedError':
      return `${What} blocked: allow it in the browser's address bar and reload`;
    case 'NotFoundError':
    case 'OverconstrainedError':
      return `No ${what} found`;
    case 'NotReadableError':
      return `${What} in use by another program`;
    case 'SecurityError':
      return `The ${what} needs a secure (https) page`;
    default:
      return `${What} unavailable${err?.message ? `: ${err.message}` : ''}`;
  }
}
