// The zones page: click on the picture to add points of a new zone or motion mask; drag a
// saved shape's corner (or focus it and use the arrow keys) to move it, saved on release.
const section = document.getElementById("zones");
const camera = section.dataset.camera;
const W = Number(section.dataset.width), H = Number(section.dataset.height);
const svg = document.getElementById("zone-svg");
const draft = document.getElementById("draft");
const field = document.getElementById("zone-points");
const status = document.getElementById("drag-status");
const csrf = document.querySelector('#zone-form input[name="_csrf_token"]').value;
const NS = "http://www.w3.org/2000/svg";
let pts = [];

function show() {
  draft.setAttribute("points", pts.map(p => p.join(",")).join(" "));
  field.value = JSON.stringify(pts);
}

function toFrame(ev) {
  const r = svg.getBoundingClientRect();
  const x = Math.round((ev.clientX - r.left) * W / r.width * 10) / 10;
  const y = Math.round((ev.clientY - r.top) * H / r.height * 10) / 10;
  return [Math.min(W, Math.max(0, x)), Math.min(H, Math.max(0, y))];
}

svg.addEventListener("click", (ev) => {
  if (ev.target.closest(".handle")) return;
  pts.push(toFrame(ev)); show();
});
document.getElementById("zone-clear").addEventListener("click", () => { pts = []; show(); });

// -- draggable corners of saved shapes ---------------------------------------------------
function pointsOf(poly) {
  return poly.getAttribute("points").trim().split(/\s+/).map(p => p.split(",").map(Number));
}

async function save(poly) {
  const body = new FormData();
  body.append("_csrf_token", csrf);
  body.append("points", JSON.stringify(pointsOf(poly)));
  let url;
  if (poly.dataset.kind === "zone") {
    url = `/cameras/${encodeURIComponent(camera)}/zones`;
    body.append("zone", poly.dataset.zone);
  } else {
    url = `/cameras/${encodeURIComponent(camera)}/masks`;
    body.append("index", poly.dataset.index);
  }
  status.textContent = `Saving ${poly.dataset.label}…`;
  try {
    const r = await fetch(url, {method: "POST", body, credentials: "same-origin"});
    if (r.ok) {
      status.textContent = `${poly.dataset.label} saved to campy.yaml.`;
      status.dataset.saved = String(Number(status.dataset.saved || 0) + 1);
      return;
    }
    const doc = new DOMParser().parseFromString(await r.text(), "text/html");
    const errs = [...doc.querySelectorAll(".error")].map(e => e.textContent.trim()).filter(Boolean);
    status.textContent = `Not saved: ${errs.join("; ") || "HTTP " + r.status}`;
  } catch (err) {
    status.textContent = `Not saved: ${err}`;
  }
}

// Corners are about 18 CSS px across whatever the picture's size (a finger on a phone).
const allHandles = [];
function sizeHandles() {
  const width = svg.getBoundingClientRect().width || W;
  allHandles.forEach(c => c.setAttribute("r", 9 * W / width));
}
window.addEventListener("resize", sizeHandles);

function attach(poly) {
  const handles = [];
  let timer = null;
  const saveSoon = () => { clearTimeout(timer); timer = setTimeout(() => save(poly), 600); };
  const redraw = (list) => {
    poly.setAttribute("points", list.map(p => p.join(",")).join(" "));
    list.forEach((p, i) => { handles[i].setAttribute("cx", p[0]); handles[i].setAttribute("cy", p[1]); });
  };
  pointsOf(poly).forEach((p, i) => {
    const c = document.createElementNS(NS, "circle");
    c.setAttribute("class", `handle ${poly.dataset.kind}`);
    c.setAttribute("tabindex", "0");
    c.setAttribute("role", "button");
    c.setAttribute("aria-label", `${poly.dataset.label}, corner ${i + 1}: drag, or move with the arrow keys`);
    c.dataset.shape = poly.dataset.label;
    c.dataset.corner = String(i + 1);
    svg.appendChild(c);
    handles.push(c);
    allHandles.push(c);
    let dragging = false, moved = false;
    c.addEventListener("pointerdown", (ev) => {
      ev.preventDefault(); ev.stopPropagation();
      c.setPointerCapture(ev.pointerId); dragging = true; moved = false; c.classList.add("dragging");
    });
    c.addEventListener("pointermove", (ev) => {
      if (!dragging) return;
      const list = pointsOf(poly); list[i] = toFrame(ev); redraw(list); moved = true;
    });
    const end = (ev) => {
      if (!dragging) return;
      dragging = false; c.classList.remove("dragging");
      if (c.hasPointerCapture(ev.pointerId)) c.releasePointerCapture(ev.pointerId);
      if (moved) save(poly);
    };
    c.addEventListener("pointerup", end);
    c.addEventListener("pointercancel", end);
    c.addEventListener("click", (ev) => ev.stopPropagation());
    c.addEventListener("keydown", (ev) => {
      const step = ev.shiftKey ? 10 : 1;
      const d = {ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step]}[ev.key];
      if (!d) return;
      ev.preventDefault();
      const list = pointsOf(poly);
      list[i] = [Math.min(W, Math.max(0, list[i][0] + d[0])), Math.min(H, Math.max(0, list[i][1] + d[1]))];
      redraw(list); saveSoon();
    });
  });
  redraw(pointsOf(poly));
}

if (!section.dataset.readonly) {
  svg.querySelectorAll("polygon[data-kind]").forEach(attach);
  sizeHandles();
}
