// Local devices: asking for the camera and microphone (each may fail on its own), listing them,
// and measuring the microphone's level for a meter.

import { CAMERA } from './publish.js';

// getLocalMedia asks for the microphone and camera (audio, video: true, false, or a device id).
// It never throws: what it could not get is null in the stream's place and explained in
// audioError and videoError (an Error whose name is NotAllowedError when the person or the
// browser refused, NotFoundError when there is no such device, NotReadableError when another
// program holds it). stream holds the tracks it got, or is null when it got none.
export async function getLocalMedia({ audio = true, video = true } = {}) {
  const result = { stream: null, audioError: null, videoError: null };
  if (!navigator.mediaDevices?.getUserMedia) {
    const err = new Error('the camera and microphone need a secure (https) page');
    err.name = 'SecurityError';
    if (audio) result.audioError = err;
    if (video) result.videoError = err;
    return result;
  }
  const constraints = { audio: audioConstraints(audio), video: videoConstraints(video) };
  if (!constraints.audio && !constraints.video) return result;
  try {
    result.stream = await navigator.mediaDevices.getUserMedia(constraints);
    return result;
  } catch (err) {
    if (!constraints.audio || !constraints.video) {
      if (constraints.audio) result.audioError = err;
      else result.videoError = err;
      return result;
    }
  }
  // One of the two failed, or both: ask for each alone to know which.
  const tracks = [];
  for (const kind of ['audio', 'video']) {
    try {
      const s = await navigator.mediaDevices.getUserMedia({ [kind]: constraints[kind] });
      tracks.push(...s.getTracks());
    } catch (err) {
      result[`${kind}Error`] = err;
    }
  }
  if (tracks.length > 0) result.stream = new MediaStream(tracks);
  return result;
}

// openCamera and openMicrophone get one new track from a device ('' for the default); they
// throw as getUserMedia does.
export async function openCamera(deviceId = '') {
  const stream = await navigator.mediaDevices.getUserMedia({ video: videoConstraints(deviceId || true) });
  return stream.getVideoTracks()[0];
}

export async function openMicrophone(deviceId = '') {
  const stream = await navigator.mediaDevices.getUserMedia({ audio: audioConstraints(deviceId || true) });
  return stream.getAudioTracks()[0];
}

function videoConstraints(v) {
  if (!v) return false;
  return typeof v === 'string' ? { ...CAMERA, deviceId: { exact: v } } : CAMERA;
}

function audioConstraints(a) {
  if (!a) return false;
  return typeof a === 'string' ? { deviceId: { exact: a } } : true;
}

// listDevices lists the cameras and microphones: {cameras, microphones}, each [{deviceId,
// label}]. Labels are empty until the page has been allowed a device once.
export async function listDevices() {
  const devices = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  const of = (kind) => devices
    .filter((d) => d.kind === kind && d.deviceId)
    .map((d, i) => ({ deviceId: d.deviceId, label: d.label || `${kind === 'videoinput' ? 'Camera' : 'Microphone'} ${i + 1}` }));
  return { cameras: of('videoinput'), microphones: of('audioinput') };
}

// onDeviceChange calls fn when a device is plugged in or out; it returns a function that stops.
export function onDeviceChange(fn) {
  navigator.mediaDevices?.addEventListener?.('devicechange', fn);
  return () => navigator.mediaDevices?.removeEventListener?.('devicechange', fn);
}

// deviceIdOf is the device a track comes from ('' when the browser does not say).
export function deviceIdOf(track) {
  return track?.getSettings?.().deviceId ?? '';
}

// meterLevel calls fn about 15 times a second with the loudness of an audio track, 0 to 1, until
// the returned function is called.
export function meterLevel(track, fn) {
  const Context = window.AudioContext ?? window.webkitAudioContext;
  if (!track || !Context) return () => {};
  const ctx = new Context();
  const source = ctx.createMediaStreamSource(new MediaStream([track]));
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 512;
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const v of samples) sum += v * v;
    // RMS to a 0..1 scale that moves for speech: -60 dBFS is 0, -10 dBFS is 1.
    const db = 10 * Math.log10(sum / samples.length + 1e-12);
    fn(Math.min(1, Math.max(0, (db + 60) / 50)));
  }, 66);
  return () => {
    clearInterval(timer);
    source.disconnect();
    ctx.close().catch(() => {});
  };
}
