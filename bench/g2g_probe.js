// Injected before any page script (Playwright add_init_script) by bench/firstrun_bench.py.
// Records, in window.__g2g (times in ms since navigation, performance.now()):
//   poster: the first <img class="poster"> that has loaded;  first: the first presented
//   video frame (any <video>);  lat/recv: for frames carrying the clock pattern
//   (campy/sim/clock.py), presentation minus painted time, and for WebRTC frames also
//   receipt minus painted time (ms, wall clock: performance.timeOrigin + the frame's
//   presentationTime);
//   painted: the last decoded paint time (epoch ms).
// Decoding runs only when window.__g2gDecode is true (set by an earlier init script).
(() => {
  const W = 640, H = 360, BLOCK = 16, ROW_A = 32, ROW_B = 64, BITS = 40;
  const g = window.__g2g = {poster: null, first: null, lat: [], recv: [], bad: 0, seen: 0, painted: null};
  const check = v => {
    let s = 0;
    for (let k = 0; k < 4; k++) s += Math.floor(v / 2 ** (8 * k)) % 256;
    return (s % 256) ^ 0xA5;
  };
  const decode = (ctx, vw, vh) => {
    const sx = vw / W, sy = vh / H;
    const rows = Math.ceil((ROW_B + 2 * BLOCK) * sy);
    const img = ctx.getImageData(0, 0, vw, rows).data;
    const lum = (x, y) => { const i = (y * vw + x) * 4; return (img[i] + img[i + 1] + img[i + 2]) / 3; };
    const r = Math.max(1, Math.round(3 * sx));
    const mean = (cx, cy) => {
      let s = 0, n = 0;
      for (let y = cy - r; y < cy + r; y++) for (let x = cx - r; x < cx + r; x++) { s += lum(x, y); n++; }
      return s / n;
    };
    let hi = 0, lo = 0;  // 40 bits: the top 8 in hi, the low 32 in lo (JS bit ops are 32-bit)
    for (let i = 0; i < BITS; i++) {
      const cx = Math.floor((i * BLOCK + BLOCK / 2) * sx);
      const a = mean(cx, Math.floor((ROW_A + BLOCK) * sy));
      const b = mean(cx, Math.floor((ROW_B + BLOCK) * sy));
      if (Math.abs(a - b) < 96) return null;
      const bit = a > b ? 1 : 0;
      hi = (hi * 2 + Math.floor(lo / 2 ** 31)) % 256;
      lo = (lo * 2) % 2 ** 32 + bit;
    }
    const value = hi * 2 ** 24 + Math.floor(lo / 256);
    return check(value) === lo % 256 ? value : null;
  };
  const unwrap = (v, nowMs) => nowMs - (((nowMs - v) % 2 ** 32) + 2 ** 32) % 2 ** 32;
  const hook = video => {
    video.__g2g = true;
    const canvas = document.createElement("canvas");
    let ctx = null;
    const onFrame = (now, meta) => {
      if (g.first === null) g.first = meta && meta.presentationTime ? meta.presentationTime : now;
      if (window.__g2gDecode && video.videoWidth) {
        const vw = video.videoWidth, vh = video.videoHeight;
        if (canvas.width !== vw || canvas.height !== vh) {
          canvas.width = vw; canvas.height = vh;
          ctx = canvas.getContext("2d", {willReadFrequently: true});
        }
        ctx.drawImage(video, 0, 0, vw, vh);
        const v = decode(ctx, vw, vh);
        g.seen++;
        // When the frame was handed to the compositor. Not ``now``: that is the rendering
        // step's vsync time, which under load can precede the frame's own arrival (and even
        // its paint time, which unwrapped as a 49-day latency).
        const wall = performance.timeOrigin + (meta && meta.presentationTime ? meta.presentationTime : now);
        if (v === null) g.bad++;
        else {
          // Unwrapped against a minute ahead: a clock a hair behind the painter's gives a
          // small negative number (which the smoke test reports), never 2^32 ms.
          const painted = unwrap(v, Math.ceil(wall) + 60000);
          g.painted = painted;
          g.lat.push(wall - painted);
          // recv[i] belongs to lat[i]; null for frames without receiveTime (MSE).
          g.recv.push(meta && meta.receiveTime ? performance.timeOrigin + meta.receiveTime - painted : null);
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  setInterval(() => {
    if (g.poster === null) {
      for (const img of document.querySelectorAll("img.poster")) {
        if (img.complete && img.naturalWidth > 0) { g.poster = performance.now(); break; }
      }
    }
    document.querySelectorAll("video").forEach(v => { if (!v.__g2g && v.requestVideoFrameCallback) hook(v); });
  }, 5);
})();
