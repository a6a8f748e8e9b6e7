// The zones page: click on the picture to add points of a new zone polygon.
const section = document.getElementById("zones");
const placeholder = section.querySelector(".no-frame");
if (placeholder) {
  // Set through the CSSOM: the CSP refuses style="" attributes in the markup.
  placeholder.style.aspectRatio = section.dataset.width + " / " + section.dataset.height;
}
const svg = document.getElementById("zone-svg");
const draft = document.getElementById("draft");
const field = document.getElementById("zone-points");
let pts = [];
function show() {
  draft.setAttribute("points", pts.map(p => p.join(",")).join(" "));
  field.value = JSON.stringify(pts);
}
svg.addEventListener("click", (ev) => {
  const r = svg.getBoundingClientRect();
  const vb = svg.viewBox.baseVal;
  const x = Math.round((ev.clientX - r.left) * vb.width / r.width * 10) / 10;
  const y = Math.round((ev.clientY - r.top) * vb.height / r.height * 10) / 10;
  pts.push([x, y]); show();
});
document.getElementById("zone-clear").addEventListener("click", () => { pts = []; show(); });
