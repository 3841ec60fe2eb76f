import { dragAndDrop, post, undo } from "./organise.js";

// Keyboard shortcuts, the set Gmail users know. Plain ES module.
//   list:    j/k next/previous, o or Enter open, x select, s flag/unflag,
//            e archive, # delete, ! junk, I/U mark read/unread, z undo, ? this help
//   message: u back to the list, e, #, !, s, U as above
//   conversation: conversation.js (j/k, n/p between its messages, ...)
// The `?` overlay is on the page already (templates/_keys.html), in its language.
// Actions go to the same endpoint as the buttons (POST with the CSRF token); the
// page then shows the result through the live stream like any other change.

const shell = document.querySelector(".shell");
const mailbox = shell?.dataset.mailbox;
const article = document.querySelector("article.message");

function rows() {
  return [...document.querySelectorAll("#rows tr[data-uid]")];
}

function cursor() {
  return document.querySelector("#rows tr.cursor");
}

function moveCursor(step) {
  const all = rows();
  if (!all.length) return;
  const at = all.indexOf(cursor());
  const next = all[Math.min(all.length - 1, Math.max(0, at < 0 ? 0 : at + step))];
  cursor()?.classList.remove("cursor");
  next.classList.add("cursor");
  next.scrollIntoView({ block: "nearest" });
}

function targets() {
  if (article) return [article.dataset.uid];
  const checked = [...document.querySelectorAll("#rows input[name=uid]:checked")].map((i) => i.value);
  if (checked.length) return checked;
  const at = cursor();
  return at ? [at.dataset.uid] : [];
}

async function act(action) {
  const uids = targets();
  if (!uids.length || !mailbox) return;
  const res = await post(mailbox, action, uids);
  if (!res) return;
  if (article && ["archive", "delete", "junk"].includes(action)) location.href = `/mail/${mailbox}`;
  else if (article) location.reload();
}

function toggleFlag() {
  const flagged = article
    ? article.dataset.flagged === "1"
    : (cursor() ?? document.querySelector("#rows tr"))?.classList.contains("flagged");
  act(flagged ? "unflag" : "flag");
}

function help() {
  const dialog = document.getElementById("keys-help");
  if (!dialog) return;
  dialog.open ? dialog.close() : dialog.showModal();
}

document.querySelector("#keys-help button.close")?.addEventListener("click", help);

const LIST_KEYS = {
  j: () => moveCursor(1),
  k: () => moveCursor(-1),
  o: () => cursor()?.querySelector("td.subject a")?.click(),
  Enter: () => cursor()?.querySelector("td.subject a")?.click(),
  x: () => {
    const box = cursor()?.querySelector("input[name=uid]");
    if (box) box.checked = !box.checked;
  },
  u: () => { if (article && mailbox) location.href = `/mail/${mailbox}`; },
  s: toggleFlag,
  e: () => act("archive"),
  "#": () => act("delete"),
  "!": () => act("junk"),
  I: () => act("read"),
  U: () => act("unread"),
  z: async () => {
    if ((await undo()) && article) location.reload();
  },
  "?": help,
  "/": () => document.getElementById("search-q")?.focus(),
};

// The conversation page's keys, loaded only there (the first load stays small).
const conversation = document.querySelector("section.conversation")
  ? (await import("./conversation.js")).conversationKeys()
  : null;
const KEYS = { ...LIST_KEYS, ...conversation };

dragAndDrop(mailbox);

document.addEventListener("keydown", (ev) => {
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const t = ev.target;
  if (t instanceof HTMLElement && (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName))) return;
  // Enter on a link, button or summary does what it does everywhere.
  if (ev.key === "Enter" && t instanceof Element && t.closest("a, button, summary")) return;
  // While the help is open, only ? (and Escape, the dialog's own) close it.
  if (document.querySelector("dialog[open]") && ev.key !== "?") return;
  const fn = KEYS[ev.key];
  if (!fn) return;
  ev.preventDefault();
  fn();
});
