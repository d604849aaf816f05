// Small helpers for building the page with DOM calls only: text is always set as text, never as
// HTML, so nothing a provider answered can become markup.

export const $ = (id) => document.getElementById(id);

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children);
  return node;
}

export function show(node, visible = true) {
  node.hidden = !visible;
}

export function problem(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

// "2026-11-21T06:00:00.000Z" -> "2026-11-21 06:00:00" (UTC, as the records keep it).
export function when(iso) {
  return iso ? iso.replace("T", " ").replace(/\.\d+Z$|Z$/, "") : "";
}

export function shortId(id) {
  return id ? id.slice(0, 8) : "";
}

export function bytes(size) {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

let toastTimer = null;

export function announce(message) {
  const toast = $("toast");
  toast.textContent = message;
  toast.classList.add("visible");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.remove("visible"), 6000);
}

// A button that copies `value`, labelled for a screen reader by what it copies.
export function copyButton(value, what) {
  return el("button", {
    type: "button",
    class: "copy quiet",
    "aria-label": `Copy the ${what}`,
    text: "Copy",
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(value);
        announce(`The ${what} is copied.`);
      } catch {
        announce(`The ${what} could not be copied: select it and copy it by hand.`);
      }
    },
  });
}
