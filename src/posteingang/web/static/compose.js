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

// Address suggestions (contacts.py): the account's recent correspondents for the
// address being typed (the text after the last comma), offered by the fields'
// shared <datalist>. Each option is the whole field with that address completed,
// so the browser's own matching keeps working in a list of several addresses.
const contacts = document.getElementById("contacts");
if (contacts) {
  let asked = null;
  async function suggest(field) {
    const value = field.value;
    const cut = value.lastIndexOf(",") + 1;
    const head = value.slice(0, cut) + (cut ? " " : "");
    const typed = value.slice(cut).trim();
    const key = `${head}|${typed}`;
    if (key === asked) return;
    asked = key;
    let found = [];
    try {
      const res = await fetch(`/contacts?q=${encodeURIComponent(typed)}`, {
        credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      if (res.ok) found = (await res.json()).contacts;
    } catch {
      return;
    }
    if (asked !== key) return; // a newer keystroke asked meanwhile
    contacts.replaceChildren(
      ...found.map((c) => {
        const option = document.createElement("option");
        option.value = head + c.address;
        if (c.name) option.label = c.name;
        return option;
      }),
    );
  }
  let wait = null;
  for (const field of document.querySelectorAll("input[list=contacts]")) {
    field.addEventListener("input", () => {
      clearTimeout(wait);
      wait = setTimeout(() => suggest(field), 150);
    });
    field.addEventListener("focus", () => suggest(field));
  }
}

// Rich text (richtext.py): with "Formatting" ticked the textarea gives way to an
// editor whose HTML goes in the hidden field `html`; the server cleans it and makes
// the text part from it. Without script the textarea is all there is.
const rich = document.querySelector(".compose-form .rich");
if (rich && form) {
  const toggle = document.getElementById("c-rich");
  const editor = document.getElementById("c-html");
  const tools = rich.querySelector(".rich-tools");
  const textarea = document.getElementById("c-body");
  const value = form.elements.html;
  const sync = () => { value.value = toggle.checked ? editor.innerHTML : ""; };
  const show = () => {
    tools.hidden = editor.hidden = !toggle.checked;
    textarea.hidden = toggle.checked;
  };
  rich.hidden = false;
  show();
  sync();
  toggle.addEventListener("change", () => {
    if (toggle.checked) {
      // The text so far, a line to a block.
      editor.replaceChildren(...textarea.value.split("\n").map((line) => {
        const div = document.createElement("div");
        if (line) div.textContent = line;
        else div.append(document.createElement("br"));
        return div;
      }));
    } else {
      textarea.value = editor.innerText;
    }
    show();
    sync();
    (toggle.checked ? editor : textarea).focus();
  });
  for (const button of tools.querySelectorAll("button[data-cmd]")) {
    button.addEventListener("click", () => {
      editor.focus();
      const command = button.dataset.cmd;
      if (command === "createLink") {
        const url = prompt(button.dataset.prompt, "https://");
        if (!url || !/^(https?:|mailto:)/i.test(url.trim())) return;
        document.execCommand(command, false, url.trim());
      } else {
        document.execCommand(command);
      }
      sync();
    });
  }
  editor.addEventListener("input", sync);
  form.addEventListener("submit", sync);
}
