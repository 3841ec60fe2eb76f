import { post, undo } from "./organise.js";

// The keys of the conversation page (keys.js imports this module only there): a cursor on one
// message of the thread; j/k and n/p move it (opening that message), r/a/f answer it,
// s/e/#/! act on it where it lies (INBOX, Sent, ...), z undoes the last move.

const section = document.querySelector("section.conversation");

function items() {
  return [...section.querySelectorAll("details.conversation-item")];
}

function current() {
  return section.querySelector("details.cursor") ?? section.querySelector("details[open]") ?? items()[0];
}

function place(item, focus = true) {
  if (!item) return;
  for (const other of section.querySelectorAll("details.cursor")) other.classList.remove("cursor");
  item.classList.add("cursor");
  item.open = true;
  if (!focus) return;
  item.querySelector("summary").focus({ preventScroll: true });
  item.scrollIntoView({ block: "nearest" });
}

function step(by) {
  const all = items();
  const at = all.indexOf(current());
  place(all[Math.min(all.length - 1, Math.max(0, at + by))]);
}

function follow(selector) {
  current()?.querySelector(selector)?.click();
}

async function act(action) {
  const item = current();
  if (!item) return;
  if (action === "flag") action = item.dataset.flagged === "1" ? "unflag" : "flag";
  const res = await post(item.dataset.mailbox, action, [item.dataset.uid]);
  if (!res) return;
  if (action === "flag" || action === "unflag") {
    item.dataset.flagged = action === "flag" ? "1" : "0";
    return;
  }
  // Moved away (archive, Trash, Junk): it leaves this page; the next one takes the cursor.
  const all = items();
  const next = all[all.indexOf(item) + 1] ?? all[all.indexOf(item) - 1];
  item.remove();
  if (next) place(next);
  else location.href = `/mail/${section.dataset.mailbox}`;
}

async function undoMove() {
  const res = await undo();
  // The message is back under a new uid: show its conversation again.
  if (res?.undo) location.href = `/mail/${res.undo.mailbox}/${res.undo.uids[0]}/conversation`;
}

export function conversationKeys() {
  if (!section) return null;
  place(current(), false);
  return {
    j: () => step(1),
    n: () => step(1),
    k: () => step(-1),
    p: () => step(-1),
    o: () => { const item = current(); if (item) item.open = !item.open; },
    r: () => follow("a.reply"),
    a: () => follow("a.reply-all"),
    f: () => follow("a.forward"),
    s: () => act("flag"),
    e: () => act("archive"),
    "#": () => act("delete"),
    "!": () => act("junk"),
    z: undoMove,
    u: () => { location.href = `/mail/${section.dataset.mailbox}`; },
  };
}
