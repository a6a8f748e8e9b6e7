// The events page: server-sent events refresh the list (with the current filters) when an
// event starts, improves or ends.
const state = document.getElementById("live-state");
const src = new EventSource("/api/events/stream");
let pending = null;
src.onopen = () => { state.textContent = "live"; };
src.onerror = () => { state.textContent = "reconnecting…"; };
src.onmessage = (m) => {
  const msg = JSON.parse(m.data);
  if (msg.type !== "event" || pending) return;
  pending = setTimeout(() => {
    pending = null;
    window.htmx.trigger(document.getElementById("event-filters"), "submit");
  }, 300);
};
