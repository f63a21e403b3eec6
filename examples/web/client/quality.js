// Connection quality, per participant, from the PeerConnection's getStats(): what arrives of
// each remote member (loss, bitrate, frame rate of the video) and what this browser sends (its
// bitrate and frame rate, and the loss the server reports in its receiver reports).

// Levels, worst first; a participant's level is the worst its numbers earn.
export const LEVELS = ['poor', 'fair', 'good'];

// Loss above these fractions makes a connection fair or poor; so does video decoded or sent at
// fewer frames a second than these (a still picture, or a muted camera's few frames, count too:
// that is what the viewer sees).
const FAIR_LOSS = 0.02;
const POOR_LOSS = 0.08;
const FAIR_FPS = 12;
const POOR_FPS = 5;

// QualityMeter turns successive getStats() reports into per-participant quality.
export class QualityMeter {
  constructor() {
    this.previous = new Map(); // stats id -> the entry of the last report
  }

  // measure reads pc's stats. owners maps a received track's id (trackIdentifier) to its
  // publisher's participant id; what this browser sends is counted under selfId. It returns a
  // Map of participant id -> {level, loss, bitrate, fps, width, height}: loss a fraction of the
  // packets over the interval, bitrate in bits per second, fps of the (largest) video. The
  // frame rate of those in videoOff (a muted camera sends a black frame a second) is not judged.
  async measure(pc, owners, selfId, videoOff = new Set()) {
    const report = await pc.getStats();
    const sums = new Map();
    const sum = (id) => {
      if (!sums.has(id)) sums.set(id, { bytes: 0, packets: 0, lost: 0, fps: null, width: 0, height: 0, seconds: 0, lossFraction: null });
      return sums.get(id);
    };
    const current = new Map();
    report.forEach((s) => {
      current.set(s.id, s);
      const before = this.previous.get(s.id);
      const seconds = before ? (s.timestamp - before.timestamp) / 1000 : 0;
      if (s.type === 'inbound-rtp') {
        const owner = owners.get(s.trackIdentifier);
        if (!owner || !before || seconds <= 0) return;
        const q = sum(owner);
        q.seconds = Math.max(q.seconds, seconds);
        q.bytes += (s.bytesReceived ?? 0) - (before.bytesReceived ?? 0);
        q.packets += (s.packetsReceived ?? 0) - (before.packetsReceived ?? 0);
        q.lost += Math.max(0, (s.packetsLost ?? 0) - (before.packetsLost ?? 0));
        if (s.kind === 'video' && (s.frameWidth ?? 0) >= q.width) {
          q.fps = ((s.framesDecoded ?? 0) - (before.framesDecoded ?? 0)) / seconds;
          q.width = s.frameWidth ?? 0;
          q.height = s.frameHeight ?? 0;
        }
      } else if (s.type === 'outbound-rtp' && selfId) {
        if (!before || seconds <= 0) return;
        const q = sum(selfId);
        q.seconds = Math.max(q.seconds, seconds);
        q.bytes += (s.bytesSent ?? 0) - (before.bytesSent ?? 0);
        if (s.kind === 'video' && s.active !== false && (s.frameWidth ?? 0) >= q.width) {
          q.fps = ((s.framesEncoded ?? 0) - (before.framesEncoded ?? 0)) / seconds;
          q.width = s.frameWidth ?? 0;
          q.height = s.frameHeight ?? 0;
        }
      } else if (s.type === 'remote-inbound-rtp' && selfId && typeof s.fractionLost === 'number') {
        const q = sum(selfId);
        q.lossFraction = Math.max(q.lossFraction ?? 0, s.fractionLost);
      }
    });
    this.previous = current;

    const quality = new Map();
    for (const [id, q] of sums) {
      if (q.seconds <= 0) continue;
      const loss = q.lossFraction ?? (q.packets + q.lost > 0 ? q.lost / (q.packets + q.lost) : 0);
      const fps = q.fps === null || videoOff.has(id) ? null : Math.max(0, q.fps);
      let level = 2;
      if (loss > FAIR_LOSS || (fps !== null && fps < FAIR_FPS)) level = 1;
      if (loss > POOR_LOSS || (fps !== null && fps < POOR_FPS)) level = 0;
      quality.set(id, {
        level: LEVELS[level], loss, bitrate: Math.max(0, (q.bytes * 8) / q.seconds), fps,
        width: q.width, height: q.height,
      });
    }
    return quality;
  }
}

// describeQuality is a short text for people: "Good: 1.2 Mbit/s, 30 fps, 0% loss".
export function describeQuality(q) {
  if (!q) return 'Connection: measuring…';
  const rate = q.bitrate >= 1e6 ? `${(q.bitrate / 1e6).toFixed(1)} Mbit/s` : `${Math.round(q.bitrate / 1e3)} kbit/s`;
  const parts = [rate];
  if (q.fps !== null) parts.push(`${Math.round(q.fps)} fps`);
  parts.push(`${(q.loss * 100).toFixed(q.loss > 0 && q.loss < 0.01 ? 1 : 0)}% loss`);
  const level = q.level.charAt(0).toUpperCase() + q.level.slice(1);
  return `Connection ${level.toLowerCase()}: ${parts.join(', ')}`;
}
