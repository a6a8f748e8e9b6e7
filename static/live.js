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
      slot.appendChild(player);
      player.src = "/live/ws?src=" + encodeURIComponent(slot.dataset.stream);
      slot.player = player;
    });
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
    attachPlayers(root, config, {media: "video"});
  }
}
