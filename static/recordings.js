// Recordings page: click the timeline to play from that moment. The server hands out one
// finite MP4 per window of footage (up to 10 min, fewer for a 4K stream), so the player's own
// scrubber seeks inside it; at its end playback carries on with the next window, across gaps.
// A browser that cannot decode the main stream's H.265 plays the camera's sub recording
// instead (record.sub) and says so. The clock under the video shows the footage's time in the server's
// zone (server.timezone, in the section's data-timezone), whatever the browser's zone is.

const HEVC_TYPES = ['video/mp4; codecs="hvc1.1.6.L153.B0"', 'video/mp4; codecs="hev1.1.6.L153.B0"'];

function pad(n, w = 2) { return String(n).padStart(w, "0"); }

// The parts of `ms` as a wall clock in `timeZone` (an IANA name); timeZoneName is the UTC
// offset ("GMT+01:00", "GMT" for 0).
function partsIn(ms, timeZone) {
  const fmt = new Intl.DateTimeFormat("en-US", {
    timeZone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "longOffset" });
  const p = {};
  for (const { type, value } of fmt.formatToParts(new Date(ms))) p[type] = value;
  return p;
}

function offsetSeconds(text) {
  const m = /^GMT([+-])(\d\d):(\d\d)$/.exec(text);
  return m ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * 3600 + Number(m[3]) * 60) : 0;
}

// "2026-10-25 02:30:00 CET": footage time in the server's zone, named as the server names
// it (`names`: UTC offset in seconds -> abbreviation, from the page).
export function formatLocal(ms, timeZone, names = {}) {
  const p = partsIn(ms, timeZone);
  const name = names[offsetSeconds(p.timeZoneName)] || p.timeZoneName;
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${name}`;
}

// A datetime-local value (the zone's wall clock); the server reads it in the same zone.
function toLocalInput(ms, timeZone) {
  const p = partsIn(ms, timeZone);
  return `${p.year}-${p.month}-${p.day}T${p.hour}:${p.minute}:${p.second}`;
}

export function canPlayHevc(video) {
  return HEVC_TYPES.some((t) => video.canPlayType(t) !== "" ||
    (window.MediaSource && MediaSource.isTypeSupported(t)));
}

function spansOf(root) {
  return [...root.querySelectorAll(".day-strip svg.timeline rect.rec")]
    .map((r) => [Number(r.dataset.startMs), Number(r.dataset.endMs)])
    .sort((a, b) => a[0] - b[0]);
}

// The time under a click: the SVG says where its plot starts and how wide it is.
export function timeAt(svg, clientX) {
  const box = svg.getBoundingClientRect();
  const vb = svg.viewBox.baseVal;
  const x = (clientX - box.left) * (vb.width / box.width);
  const plotX = Number(svg.dataset.plotX || 0);
  const plotW = Number(svg.dataset.plotWidth || vb.width);
  const frac = Math.min(1, Math.max(0, (x - plotX) / plotW));
  return Number(svg.dataset.dayStartMs) + frac * Number(svg.dataset.dayMs);
}

export function attachRecordings(section) {
  if (!section) return;
  const camera = section.dataset.camera;
  const zone = section.dataset.timezone || "UTC";
  const names = JSON.parse(section.dataset.zoneNames || "{}");
  const fmtTime = (ms) => formatLocal(ms, zone, names);
  const video = document.getElementById("playback");
  const clock = document.getElementById("play-clock");
  const hevcNote = document.getElementById("hevc-note");
  const subNote = document.getElementById("sub-note");
  const state = { startMs: null, endMs: null, stream: null };

  // The stream to play: "main", or "sub" when the main footage is H.265 and this browser
  // cannot decode it.
  function streamFor() {
    const wrap = section.querySelector(".timeline-wrap");
    const codecs = (wrap?.dataset.codecs || "").split(",");
    return codecs.includes("hevc") && !canPlayHevc(video) ? "sub" : "main";
  }

  function showSubNote(on) {
    subNote.hidden = !on;
    if (on && video.videoWidth) {
      document.getElementById("sub-size").textContent = `${video.videoWidth}×${video.videoHeight}`;
    }
  }

  video.addEventListener("loadedmetadata", () => showSubNote(state.stream === "sub"));

  // Where `ms` plays from, per the server ({start_ms, end_ms, url, ...}), or the failed response.
  async function locate(ms, stream, more) {
    const q = (stream === "sub" ? "&stream=sub" : "") + (more ? "&more=true" : "");
    return fetch(`/api/cameras/${encodeURIComponent(camera)}/playback?start=${ms}${q}`);
  }

  // Have the server make the window after this one now, so it is ready when playback gets
  // there (the first window is short so that it starts quickly; the next ones are full).
  async function prefetch(info) {
    if (info.end_ms >= info.run_end_ms) return;  // a gap follows: the next span is another run
    const res = await locate(info.end_ms, info.stream, true);
    if (!res.ok) return;
    const next = await res.json();
    await fetch(next.url, { headers: { Range: "bytes=0-0" } }).catch(() => {});
  }

  async function play(ms, more = false) {
    const spans = spansOf(section);
    // A click in a gap plays the next recorded span.
    const span = spans.find(([a, b]) => ms < b);
    if (!span) { clock.textContent = "Nothing recorded after " + fmtTime(ms); return; }
    const want = Math.floor(Math.max(ms, span[0]));
    const stream = streamFor();
    if (state.startMs != null && stream === state.stream && want >= state.startMs && want < state.endMs &&
        video.readyState > 0) {
      // Inside the loaded window: seek in it.
      video.currentTime = (want - state.startMs) / 1000;
      section.dataset.requestedMs = String(want);
      video.play().catch(() => {});
      return;
    }
    // Ask where playback really begins (the keyframe at or before `want`): the file's
    // time 0 is exactly that moment, so the clock below the video is right.
    const res = await locate(want, stream, more);
    if (!res.ok) {
      if (stream === "sub") {
        // No sub recording at that time: the footage exists, but only in H.265.
        hevcNote.hidden = false;
        showSubNote(false);
        clock.textContent = "Cannot play H.265 here and no sub stream was recorded then; export instead.";
      } else {
        clock.textContent = "Nothing to play at " + fmtTime(want);
      }
      return;
    }
    const info = await res.json();
    hevcNote.hidden = true;
    state.startMs = info.start_ms;
    state.endMs = info.end_ms;
    state.stream = info.stream;
    section.dataset.playStartMs = String(info.start_ms);
    section.dataset.playEndMs = String(info.end_ms);
    section.dataset.requestedMs = String(want);
    section.dataset.stream = info.stream;
    showSubNote(info.stream === "sub");
    video.src = info.url;
    video.play().catch(() => {});
    video.addEventListener("playing", () => {
      if (state.startMs === info.start_ms) prefetch(info).catch(() => {});
    }, { once: true });
    const fromInput = document.getElementById("export-from");
    const toInput = document.getElementById("export-to");
    if (fromInput && !fromInput.value) {
      fromInput.value = toLocalInput(want, zone);
      toInput.value = toLocalInput(Math.min(want + 60000, span[1]), zone);
    }
  }

  section.addEventListener("click", (ev) => {
    const svg = ev.target.closest("svg.timeline");
    if (!svg) return;
    const ms = timeAt(svg, ev.clientX);
    play(ms);
    if (svg.closest(".day-strip")) showHour(ms);
  });

  // Zoom the hour strip to the hour clicked on the day strip.
  function showHour(ms) {
    const wrap = section.querySelector(".day-strip");
    // A local day has 23, 24 or 25 hour slots (DST): the page says how many.
    const last = Number(wrap.dataset.hours || 24) - 1;
    const hour = Math.min(last, Math.floor((ms - Number(wrap.dataset.dayStartMs)) / 3600000));
    const box = document.getElementById("timeline");
    const url = `/cameras/${encodeURIComponent(camera)}/recordings?day=${wrap.dataset.day}&hour=${hour}`;
    box.setAttribute("hx-get", url);
    if (window.htmx) window.htmx.ajax("GET", url, { target: "#timeline", swap: "innerHTML" });
  }

  video.addEventListener("timeupdate", () => {
    if (state.startMs == null) return;
    const now = state.startMs + video.currentTime * 1000;
    section.dataset.playingMs = String(Math.floor(now));
    clock.textContent = fmtTime(now);
    for (const svg of section.querySelectorAll("svg.timeline")) moveCursor(svg, now);
  });

  function moveCursor(svg, now) {
    let cursor = svg.querySelector("rect.cursor");
    if (!cursor) {
      cursor = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      cursor.setAttribute("class", "cursor");
      cursor.setAttribute("width", "2");
      cursor.setAttribute("y", "0");
      cursor.setAttribute("height", String(svg.viewBox.baseVal.height));
      cursor.setAttribute("fill", "#fff");
      svg.appendChild(cursor);
    }
    const plotX = Number(svg.dataset.plotX || 0);
    const plotW = Number(svg.dataset.plotWidth || svg.viewBox.baseVal.width);
    const frac = (now - Number(svg.dataset.dayStartMs)) / Number(svg.dataset.dayMs);
    cursor.setAttribute("visibility", frac >= 0 && frac <= 1 ? "visible" : "hidden");
    cursor.setAttribute("x", String(plotX + frac * plotW - 1));
  }

  video.addEventListener("ended", () => {
    // A window ends at a gap or at its size limit: carry on from where it ends (the
    // server's end, at a segment boundary, so the next window starts there without a repeat).
    if (state.startMs == null) return;
    const reached = Math.max(state.endMs || 0, state.startMs + video.duration * 1000);
    const next = spansOf(section).find(([a, b]) => b > reached + 500);
    state.startMs = null;  // not inside a loaded window until the next one loads
    if (next) play(Math.max(next[0], reached), true);
  });

  const form = section.querySelector("form.export");
  form?.addEventListener("htmx:configRequest", (ev) => {
    // Wall-clock times in the server's zone: the server turns them into instants.
    ev.detail.parameters.start_ms = document.getElementById("export-from").value;
    ev.detail.parameters.end_ms = document.getElementById("export-to").value;
  });
  section.recordings = { play, state };
  if (section.dataset.atMs) play(Number(section.dataset.atMs));  // opened from an event
}
