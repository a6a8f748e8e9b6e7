// CamPy live view: attaches go2rtc's <video-stream> player (served by CamPy from go2rtc)
// to every element with data-stream, signalling through CamPy's /live/ws proxy.

export function browserPlaysHevc() {
  const mse = window.MediaSource && MediaSource.isTypeSupported &&
    (MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L153.B0"') ||
     MediaSource.isTypeSupported('video/mp4; codecs="hev1.1.6.L153.B0"'));
  let rtc = false;
  try {
    const caps = RTCRtpReceiver.getCapabilities && RTCRtpReceiver.getCapabilities("video");
    rtc = !!(caps && caps.codecs.some(c => /h265|hevc/i.test(c.mimeType)));
  } catch (e) { rtc = false; }
  return !!(mse || rtc);
}

// On the camera page: play the main stream, unless it is H.265 and this browser cannot
// decode H.265; then play the configured fallback and say so.
export function chooseMainStream(el, note) {
  const codec = (el.dataset.mainCodec || "").toUpperCase();
  el.dataset.playing = "main";
  if ((codec === "H265" || codec === "HEVC") && !browserPlaysHevc()) {
    const fb = el.dataset.fallbackStream;
    if (fb) {
      el.dataset.stream = fb;
      el.dataset.playing = "fallback";
      if (note) {
        note.hidden = false;
        note.textContent = "This camera's main stream is H.265, which this browser cannot decode; " +
          "showing " + el.dataset.fallbackKind + " instead.";
      }
    } else if (note) {
      note.hidden = false;
      note.textContent = "This camera's main stream is H.265, which this browser cannot decode, " +
        "and no fallback stream is configured.";
    }
  }
}

// go2rtc's player reconnects its WebSocket no sooner than RECONNECT_TIMEOUT after the last
// attempt began (15 s). A refused or dropped socket is retried sooner than that, doubling
// the wait each time it fails again; a connection that lasted resets the wait.
export const RETRY_FIRST_MS = 500;
export const RETRY_MAX_MS = 15000;
const HEALTHY_MS = 30000;

export function retryWithBackoff(player, slot) {
  let delay = RETRY_FIRST_MS;
  const close = player.onclose.bind(player);
  player.RECONNECT_TIMEOUT = delay;
  player.onclose = () => {
    if (Date.now() - player.connectTS >= HEALTHY_MS) delay = RETRY_FIRST_MS;
    player.RECONNECT_TIMEOUT = delay;  // measured from the attempt's start, see video-rtc.js
    const retrying = close();
    if (retrying) {
      slot.dataset.retries = String(Number(slot.dataset.retries || 0) + 1);
      slot.dataset.retryMs = String(delay);
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
    return retrying;
  };
}

// Ask the browser for the smallest jitter buffer it allows (a LAN has little jitter to hide):
// Chromium's RTCRtpReceiver.jitterBufferTarget (ms), older Chromium's playoutDelayHint (s).
// Set on the receivers of go2rtc's peer connection as soon as its transceivers exist.
export function lowLatency(player, slot) {
  const createOffer = player.createOffer.bind(player);
  player.createOffer = async pc => {
    const offer = await createOffer(pc);
    let set = [];
    pc.getReceivers().forEach(r => {
      try {
        if ("jitterBufferTarget" in r) { r.jitterBufferTarget = 0; set.push("jitterBufferTarget"); }
        else if ("playoutDelayHint" in r) { r.playoutDelayHint = 0; set.push("playoutDelayHint"); }
      } catch (e) { console.warn("jitter buffer: " + e.message); }
    });
    slot.dataset.jitterBuffer = set.length ? set[0] + "=0" : "browser default";
    return offer;
  };
}

// The latest picture (<img class="poster">) stays until live video presents its first frame.
function hidePosterOnFirstFrame(player, slot) {
  const poster = slot.querySelector("img.poster");
  if (poster) {
    if (poster.complete && !poster.naturalWidth) slot.classList.add("no-poster");
    poster.addEventListener("error", () => slot.classList.add("no-poster"));
  }
  const video = player.video;
  if (!video) return;
  const live = () => {
    if (!slot.dataset.firstFrameMs) slot.dataset.firstFrameMs = String(Math.round(performance.now()));
    slot.classList.add("live");
  };
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(live);
  else video.addEventListener("playing", live, {once: true});
}

export function attachPlayers(root, config, opts) {
  const ready = customElements.whenDefined("video-stream");
  ready.then(() => {
    root.querySelectorAll("[data-stream]").forEach(slot => {
      if (slot.querySelector("video-stream")) return;
      const player = document.createElement("video-stream");
      player.mode = "webrtc,mse";
      player.media = opts.media || "video";
      player.background = true;       // keep playing in grids, even off-screen
      player.visibilityCheck = false;
      player.pcConfig = {bundlePolicy: "max-bundle", iceServers: config.iceServers || []};
      retryWithBackoff(player, slot);
      lowLatency(player, slot);
      slot.appendChild(player);
      // Grid tiles: a click enlarges the tile, so no native controls to pause it by accident.
      if (opts.controls === false && player.video) player.video.controls = false;
      hidePosterOnFirstFrame(player, slot);
      player.src = "/live/ws?src=" + encodeURIComponent(slot.dataset.stream);
      slot.player = player;
    });
  });
}

// Full screen buttons: data-fullscreen="tile" (the button's tile) or a CSS selector.
// A second press (or Escape, the browser's own) leaves full screen.
export function fullscreenButtons(root) {
  root.addEventListener("click", ev => {
    const btn = ev.target.closest("[data-fullscreen]");
    if (!btn) return;
    ev.stopPropagation();
    const spec = btn.dataset.fullscreen;
    const el = spec === "tile" ? btn.closest(".tile") : root.querySelector(spec);
    if (document.fullscreenElement) { document.exitFullscreen(); return; }
    if (el && el.requestFullscreen) el.requestFullscreen().catch(e => console.warn("full screen: " + e.message));
  }, true);
}

// The grid: a click on a tile (or Enter on a focused tile) enlarges it to fill the grid;
// another click, Enter or Escape puts it back.
export function enlargeOnClick(grid) {
  const toggle = tile => {
    const open = !tile.classList.contains("enlarged");
    grid.querySelectorAll(".tile.enlarged").forEach(t => t.classList.remove("enlarged"));
    tile.classList.toggle("enlarged", open);
    grid.classList.toggle("zoomed", open);
    tile.setAttribute("aria-expanded", String(open));
    if (open) tile.focus({preventScroll: true});
  };
  grid.addEventListener("click", ev => {
    if (ev.target.closest("a, button")) return;
    const tile = ev.target.closest(".tile");
    if (tile) toggle(tile);
  });
  grid.addEventListener("keydown", ev => {
    if (ev.key === "Enter" && ev.target.classList.contains("tile")) { ev.preventDefault(); toggle(ev.target); }
  });
  document.addEventListener("keydown", ev => {
    const open = grid.querySelector(".tile.enlarged");
    if (ev.key === "Escape" && open && !document.fullscreenElement) toggle(open);
  });
}

// Entry point for the pages (templates/_live_player.html loads this module with retries).
export function start(root, config, page) {
  if (page === "camera") {
    const el = root.getElementById("main-player");
    if (!el) return;
    chooseMainStream(el, root.getElementById("fallback-note"));
    attachPlayers(root, config, {media: "video,audio"});
  } else {
    const grid = root.getElementById("live-grid");
    if (grid) enlargeOnClick(grid);
    attachPlayers(root, config, {media: "video", controls: false});
  }
  fullscreenButtons(root);
}
