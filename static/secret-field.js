// A secret shown once (a new API token): focusing its field selects it, ready to copy.
// Delegated, so fields htmx swaps in later work too (no inline handlers: the CSP forbids them).
document.addEventListener("focusin", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.matches("input.secret")) e.target.select();
});
