// The camera page's "Embed" dialog (templates/_embeds.html is its body, loaded by htmx).
const dialog = document.getElementById("embed-dialog");
document.getElementById("embed-open")?.addEventListener("click", () => dialog.showModal());
dialog?.addEventListener("click", async ev => {
  if (ev.target.closest("[data-close-dialog]")) { dialog.close(); return; }
  const button = ev.target.closest("[data-copy]");
  if (!button) return;
  const area = document.getElementById(button.dataset.copy);
  area.select();
  try {
    await navigator.clipboard.writeText(area.value);  // needs a secure context (HTTPS or localhost)
  } catch (err) {
    document.execCommand("copy");  // plain HTTP on a LAN address
  }
  button.textContent = "Copied";
});
// Typing a number of days picks "after … days".
dialog?.addEventListener("input", ev => {
  if (ev.target.name !== "expiry_days") return;
  const custom = dialog.querySelector("input[name=expiry][value=custom]");
  if (custom) custom.checked = true;
});
