// posteingang webmail: live updates (server-sent events) and small page helpers.
// Plain ES module, no build step. Everything works without it; it only keeps an
// open page current: read/unread and flags, new and removed messages, unread counts.

const shell = document.querySelector(".shell");
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";

function setCount(mailbox, unseen) {
  const el = document.querySelector(`.folders li[data-mailbox="${mailbox}"] .count`);
  if (!el) return;
  el.dataset.unseen = String(unseen);
  el.textContent = unseen ? String(unseen) : "";
}

function row(uid) {
  return document.querySelector(`#rows tr[data-uid="${uid}"]`);
}

let refreshing = null;
async function refreshRows() {
  // Re-render the list's rows on the server (sorting, paging and filters stay there).
  const rows = document.getElementById("rows");
  if (!rows) return;
  if (refreshing) { refreshing.again = true; return; }
  refreshing = { again: false };
  try {
    const url = new URL(location.href);
    url.searchParams.set("part", "rows");
    const res = await fetch(url, { credentials: "same-origin", headers: { accept: "text/html" } });
    if (res.ok) {
      const checked = new Set([...rows.querySelectorAll("input[name=uid]:checked")].map((i) => i.value));
      rows.innerHTML = await res.text();
      for (const box of rows.querySelectorAll("input[name=uid]")) box.checked = checked.has(box.value);
    }
  } finally {
    const again = refreshing.again;
    refreshing = null;
    if (again) refreshRows();
  }
}

function applyFlags(data) {
  data.uids.forEach((uid, i) => {
    const tr = row(uid);
    if (!tr) return;
    if (data.seen) tr.classList.toggle("unread", !data.seen[i]);
    if (data.flagged) tr.classList.toggle("flagged", data.flagged[i]);
  });
}

function onChange(data) {
  if (data.unseen !== undefined) setCount(data.mailbox, data.unseen);
  const current = shell && Number(shell.dataset.mailbox) === data.mailbox;
  if (!current) {
    if (String(data.kind).startsWith("mailbox-")) location.reload();
    return;
  }
  const filter = document.querySelector("table.messages")?.dataset.filter;
  if (data.kind === "flags") {
    applyFlags(data);
    if (filter && filter !== "all") refreshRows();
  } else if (data.kind === "expunge") {
    for (const uid of data.uids) row(uid)?.remove();
    refreshRows();
  } else if (data.kind === "append" || data.kind === "sync") {
    applyFlags(data);
    for (const uid of data.vanished ?? []) row(uid)?.remove();
    refreshRows();
  } else if (data.kind.startsWith("mailbox-")) {
    location.reload();
  }
}

function live() {
  if (!shell || !window.EventSource) return;
  const url = `/events?since=${encodeURIComponent(shell.dataset.modseq || "0")}`;
  const source = new EventSource(url, { withCredentials: true });
  const parse = (fn) => (ev) => { try { fn(JSON.parse(ev.data)); } catch (e) { console.error(e); } };
  source.addEventListener("change", parse(onChange));
  source.addEventListener("sync", parse(onChange));
  source.addEventListener("reload", () => refreshRows());
  source.addEventListener("synced", parse((data) => {
    const shown = [...document.querySelectorAll(".folders li[data-mailbox]")].map((li) => Number(li.dataset.mailbox));
    const now = data.mailboxes ?? [];
    if (shown.length !== now.length || shown.some((id) => !now.includes(id))) location.reload();
  }));
  source.addEventListener("open", () => { document.documentElement.dataset.live = "1"; });
  source.addEventListener("error", () => { document.documentElement.dataset.live = "0"; });
  window.addEventListener("pagehide", () => source.close());
}

function images() {
  // Remote images: for this message on request, or always for a sender: that is
  // kept on the server with the account (images.py), so it holds in every browser.
  const button = document.getElementById("load-images");
  const trust = document.getElementById("trust-form");
  const frame = document.getElementById("body-frame");
  if (!button || !frame) return;
  const load = () => {
    // A fresh frame, not a new src on the old one: the old frame may still be
    // loading the blocked version, which could then land after this one.
    const current = document.getElementById("body-frame");
    const fresh = current.cloneNode(false);
    fresh.src = button.dataset.src;
    current.replaceWith(fresh);
    button.closest(".images-blocked")?.remove();
  };
  button.addEventListener("click", load);
  trust?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const res = await fetch(trust.action, {
      method: "POST",
      body: new FormData(trust),
      credentials: "same-origin",
      headers: { accept: "application/json", "x-csrf-token": csrf },
    });
    if (res.ok) load();
  });
}

function fitFrame() {
  // The sandboxed body cannot tell us its height (no script in it): give it the
  // viewport's height; it scrolls inside.
  const frame = document.getElementById("body-frame");
  if (frame) frame.style.height = `${Math.max(300, window.innerHeight - frame.getBoundingClientRect().top - 24)}px`;
}

live();
images();
fitFrame();
export { csrf };
