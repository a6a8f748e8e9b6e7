// Starts the live view: go2rtc's <video-stream> (served by CamPy) and static/live.js, loaded
// with retries. A script that fails to load once (a restart, a hiccup, an HTTP 500) is fetched
// again after 1 s, 2 s, 4 s … (at most 30 s) instead of leaving the page without video.
// Its settings come from <script type="application/json" id="live-config" data-page="…">
// (a data block, not inline code: the Content-Security-Policy allows no inline scripts).
const block = document.getElementById("live-config");
const config = JSON.parse(block.textContent);
const page = block.dataset.page;
for (let attempt = 0; ; attempt++) {
  let live;
  try {
    [, live] = await Promise.all([import("/live/player/video-stream.js"), import("/static/live.js")]);
  } catch (err) {
    const delay = Math.min(1000 * 2 ** attempt, 30000);
    console.warn("live player: " + err.message + "; trying again in " + delay + " ms");
    document.documentElement.dataset.liveLoadFailures = String(attempt + 1);
    await new Promise(resolve => setTimeout(resolve, delay));
    continue;
  }
  live.start(document, config, page);
  break;
}
