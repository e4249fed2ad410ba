// UDAM's only script: progressive enhancement. Everything works without it; with it,
// token rows get a "Copy token" button. Loaded from 'self' (the CSP allows nothing else).
"use strict";

function announce(button, text) {
  const status = button.parentElement.querySelector(".copied");
  if (status) {
    status.textContent = text;
  }
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  // Older browsers, or plain http on another host: copy through a hidden textarea.
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "absolute";
  area.style.left = "-9999px";
  document.body.appendChild(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) {
    throw new Error("copy refused");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    const source = document.getElementById(button.dataset.copy);
    if (!source) {
      continue;
    }
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await copyText(source.textContent.trim());
        announce(button, "Copied");
      } catch (_) {
        // Reveal it instead, so it can be selected by hand.
        const details = source.closest("details");
        if (details) {
          details.open = true;
        }
        announce(button, "Could not copy: select the token and copy it by hand");
      }
    });
  }
});
