// Tells the server how large this page shows each remote video, and whether it shows it at all
// (trackSettings), so that the server forwards the smallest simulcast layer that looks sharp in
// the tile, and nothing for a video nobody sees: a tile scrolled away, hidden, or a page in a
// background tab.

// Changes are gathered for this long before they are sent: a window being resized, or tiles
// moving for a new speaker, would otherwise send a message per frame.
const DEBOUNCE_MS = 150;

// ViewSizes watches video elements, each showing one remote track, and sends a trackSettings
// for each through send when what it shows changes, and once when it starts watching one.
export class ViewSizes {
  constructor(send) {
    this.send = send;
    this.watched = new Map(); // video element -> {publisher, trackId, intersecting, last, timer}
    this.listening = new WeakSet(); // video elements with a resize listener
    this.resizes = new ResizeObserver((entries) => entries.forEach((e) => this.schedule(e.target)));
    this.intersections = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const view = this.watched.get(e.target);
        if (view) view.intersecting = e.isIntersecting;
        this.schedule(e.target);
      }
    });
    const all = () => this.watched.forEach((_, video) => this.schedule(video));
    document.addEventListener('visibilitychange', all);
    // A new device pixel ratio (a window moved to another screen) changes no CSS size.
    window.addEventListener('resize', all);
  }

  // watch starts reporting what video shows of publisher's track trackId; a video element that
  // switches to another track is reported anew.
  watch(video, publisher, trackId) {
    const view = this.watched.get(video);
    if (view?.publisher === publisher && view.trackId === trackId) return;
    if (view) clearTimeout(view.timer);
    this.watched.set(video, { publisher, trackId, intersecting: view?.intersecting ?? true, last: null, timer: 0 });
    if (!view) {
      this.resizes.observe(video);
      this.intersections.observe(video);
    }
    if (!this.listening.has(video)) {
      this.listening.add(video);
      // The frame's aspect ratio is known only once the first frame is decoded.
      video.addEventListener('resize', () => this.schedule(video));
    }
    this.schedule(video);
  }

  unwatch(video) {
    const view = this.watched.get(video);
    if (!view) return;
    clearTimeout(view.timer);
    this.watched.delete(video);
    this.resizes.unobserve(video);
    this.intersections.unobserve(video);
  }

  schedule(video) {
    const view = this.watched.get(video);
    if (!view || view.timer) return;
    view.timer = setTimeout(() => {
      view.timer = 0;
      if (this.watched.get(video) === view) this.report(video, view);
    }, DEBOUNCE_MS);
  }

  report(video, view) {
    const { width, height } = shownSize(video);
    const visible = view.intersecting && document.visibilityState === 'visible' && width > 0 && height > 0;
    const last = view.last;
    if (last && last.width === width && last.height === height && last.visible === visible) return;
    // The size of a hidden video does not matter to the server; keep the last one shown.
    const size = visible || !last ? { width, height } : { width: last.width, height: last.height };
    view.last = { ...size, visible };
    this.send({ type: 'trackSettings', publisher: view.publisher, trackId: view.trackId, ...size, visible });
  }
}

// shownSize is the size, in device pixels, of the picture a video element shows: for a frame
// that covers its box (object-fit: cover, the part outside cropped), the whole frame's size at
// that scale, as that is the resolution the visible part needs; for one contained in its box,
// the frame's size inside the box. Before the first frame it is the box's size.
function shownSize(video) {
  const box = video.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  let width = box.width;
  let height = box.height;
  const { videoWidth, videoHeight } = video;
  if (videoWidth > 0 && videoHeight > 0 && width > 0 && height > 0) {
    const fit = getComputedStyle(video).objectFit;
    const scale = fit === 'cover'
      ? Math.max(width / videoWidth, height / videoHeight)
      : Math.min(width / videoWidth, height / videoHeight);
    width = videoWidth * scale;
    height = videoHeight * scale;
  }
  return { width: Math.round(width * ratio), height: Math.round(height * ratio) };
}
