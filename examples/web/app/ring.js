// The ring of an incoming call, made with WebAudio: two tones together (a telephone's ring, 440
// and 480 Hz) for a second, every three seconds, and a vibration on phones. No audio file. A
// browser that blocks sound until the person has clicked the page leaves the context suspended:
// the call still shows, silently, and nothing throws.

const RING_EVERY_MS = 3000;
const RING_FOR_S = 1;
const VOLUME = 0.08;

// startRing starts ringing and returns a function that stops it.
export function startRing() {
  let context = null;
  try {
    const AudioContext = window.AudioContext ?? window.webkitAudioContext;
    if (AudioContext) context = new AudioContext();
  } catch (err) {
    console.info('sfu: no ring: WebAudio unavailable', err);
  }
  context?.resume().catch(() => {}); // refused without a click: stay silent
  const ring = () => {
    navigator.vibrate?.([400, 200, 400]);
    if (!context || context.state !== 'running') return;
    try {
      const now = context.currentTime;
      const gain = context.createGain();
      gain.gain.setValueAtTime(0, now);
      gain.gain.linearRampToValueAtTime(VOLUME, now + 0.03);
      gain.gain.setValueAtTime(VOLUME, now + RING_FOR_S - 0.05);
      gain.gain.linearRampToValueAtTime(0, now + RING_FOR_S);
      gain.connect(context.destination);
      for (const frequency of [440, 480]) {
        const tone = context.createOscillator();
        tone.frequency.value = frequency;
        tone.connect(gain);
        tone.start(now);
        tone.stop(now + RING_FOR_S);
      }
    } catch (err) {
      console.info('sfu: ring failed', err);
    }
  };
  // The context may start running a moment later (resume is asynchronous).
  const first = setTimeout(ring, 50);
  const timer = setInterval(ring, RING_EVERY_MS);
  return () => {
    clearTimeout(first);
    clearInterval(timer);
    navigator.vibrate?.(0);
    context?.close().catch(() => {});
  };
}
