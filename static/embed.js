// CamPy's embed page (templates/embed.html): go2rtc's <video-stream> player, full window,
// over MSE through CamPy's embed WebSocket (the token in data-ws). The player reconnects by
// itself; a revoked or expired token is refused on every attempt, so the picture stays black.
const root = document.getElementById("embed");
for (let attempt = 0; ; attempt++) {
  try {
    await import("/live/player/video-stream.js");
    break;
  } catch (err) {  // CamPy or go2rtc restarting: try again after 1 s, 2 s, 4 s … (at most 30 s)
    const delay = Math.min(1000 * 2 ** attempt, 30000);
    console.warn("embed: " + err.message + "; trying again in " + delay + " ms");
    await new Promise(resolve => setTimeout(resolve, delay));
  }
}
const player = document.createElement("video-stream");
player.mode = "mse";  // every byte through CamPy, so revoking an embed stops it at once
player.media = "video,audio";
root.appendChild(player);
player.src = root.dataset.ws;
