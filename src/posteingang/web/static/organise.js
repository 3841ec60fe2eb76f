// Organising from script: the same POST as the buttons, undo (z) of the last move,
// and drag and drop of messages onto folders. Plain ES module.

const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
const UNDO = "posteingang-undo";

export async function post(mailbox, action, uids, extra = {}) {
  const body = new FormData();
  body.set("csrf", csrf);
  body.set("action", action);
  for (const uid of uids) body.append("uid", uid);
  for (const [k, v] of Object.entries(extra)) body.set(k, v);
  const res = await fetch(`/mail/${mailbox}/action`, {
    method: "POST",
    body,
    credentials: "same-origin",
    headers: { accept: "application/json", "x-csrf-token": csrf },
  });
  if (!res.ok) return null;
  const data = await res.json();
  if (data.undo) sessionStorage.setItem(UNDO, JSON.stringify(data.undo));
  return data;
}

export async function undo() {
  const saved = sessionStorage.getItem(UNDO);
  if (!saved) return null;
  sessionStorage.removeItem(UNDO);
  const { mailbox, uids, target } = JSON.parse(saved);
  const res = await post(mailbox, "move", uids.map(String), { target: String(target) });
  sessionStorage.removeItem(UNDO); // the move back is not undone by z again
  return res; // null if refused; else its `undo` names the messages where they are now
}

function selectedOr(row) {
  const checked = [...document.querySelectorAll("#rows input[name=uid]:checked")].map((i) => i.value);
  return checked.includes(row.dataset.uid) ? checked : [row.dataset.uid];
}

export function dragAndDrop(mailbox) {
  const rows = document.getElementById("rows");
  if (!rows || !mailbox) return;
  rows.addEventListener("dragstart", (ev) => {
    const row = ev.target instanceof Element ? ev.target.closest("tr[data-uid]") : null;
    if (!row) return;
    ev.dataTransfer.setData("application/x-posteingang-uids", JSON.stringify(selectedOr(row)));
    ev.dataTransfer.effectAllowed = "move";
  });
  const observer = new MutationObserver(() => markDraggable(rows));
  observer.observe(rows, { childList: true });
  markDraggable(rows);
  for (const li of document.querySelectorAll(".folders li[data-mailbox]")) {
    if (li.dataset.mailbox === String(mailbox)) continue;
    li.addEventListener("dragover", (ev) => {
      if (ev.dataTransfer.types.includes("application/x-posteingang-uids")) {
        ev.preventDefault();
        li.classList.add("drop");
      }
    });
    li.addEventListener("dragleave", () => li.classList.remove("drop"));
    li.addEventListener("drop", async (ev) => {
      ev.preventDefault();
      li.classList.remove("drop");
      const uids = JSON.parse(ev.dataTransfer.getData("application/x-posteingang-uids") || "[]");
      if (uids.length) await post(mailbox, "move", uids, { target: li.dataset.mailbox });
    });
  }
}

function markDraggable(rows) {
  for (const tr of rows.querySelectorAll("tr[data-uid]")) tr.draggable = true;
}
