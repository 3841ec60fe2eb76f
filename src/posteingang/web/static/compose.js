// Answering: the keys r, a, f, c; drafts saved while typing; the undo countdown.
// Plain ES module; every request is a same-origin POST with the CSRF token.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

const KEYS = { r: "#reply", a: "#reply-all", f: "#forward" };

document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  const t = event.target;
  if (t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  if (document.querySelector("dialog[open]")) return;
  const link = KEYS[event.key] && document.querySelector(KEYS[event.key]);
  if (link) {
    event.preventDefault();
    link.click();
  } else if (event.key === "c") {
    event.preventDefault();
    location.href = "/compose";
  }
});

// Drafts: a few seconds after the last change, the form (without its files) goes to Drafts.
const form = document.getElementById("compose-form");
if (form) {
  const status = form.querySelector(".draft-status");
  let timer = null;
  let sending = false;
  async function save() {
    if (sending) return;
    const data = new FormData(form);
    data.delete("files");
    try {
      const res = await fetch("/compose/draft", {
        method: "POST",
        body: data,
        headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
        credentials: "same-origin",
      });
      if (!res.ok || sending) return;
      const body = await res.json();
      form.elements.draft_uid.value = body.draft_uid;
      if (status) status.textContent = "✓";
    } catch {
      /* offline: the next change tries again */
    }
  }
  form.addEventListener("input", (event) => {
    if (event.target?.name === "files") return;
    clearTimeout(timer);
    timer = setTimeout(save, 3000);
  });
  form.addEventListener("submit", () => {
    sending = true;
    clearTimeout(timer);
  });
}

// Undo send: count down; when the time is up the message has left.
const sent = document.querySelector(".compose-sent");
if (sent) {
  const text = sent.querySelector(".sending");
  const end = Date.now() + Number(sent.dataset.seconds) * 1000;
  const tick = setInterval(() => {
    const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
    if (text) text.textContent = text.textContent.replace(/\d+/, String(left));
    if (left === 0) {
      clearInterval(tick);
      text.hidden = true;
      sent.querySelector(".undo-form").hidden = true;
      sent.querySelector(".sent-done").hidden = false;
    }
  }, 250);
}
