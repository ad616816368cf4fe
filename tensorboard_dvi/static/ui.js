// Small DOM helpers shared by every view of the tab (single run, "Compare runs", "Training
// dynamics"): the element builder, segmented buttons, dismissible banners, file downloads,
// stylesheet injection and tooltip placement. One definition each.

/** document.createElement with attributes (class, text, on<event> handlers, others as
 *  attributes; null/undefined/false skipped) and children (nested arrays flattened). */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}

/** A radio group of buttons: options [[value, label, title?], ...]; onPick(value). */
export function segmented(name, options, onPick, ariaLabel = null) {
  const wrap = h("div", { class: "dvi-seg", role: "radiogroup", "data-name": name, "aria-label": ariaLabel });
  for (const [value, label, title] of options) {
    wrap.append(h("button", { type: "button", "data-value": value, role: "radio", title, onclick: () => onPick(value) }, label));
  }
  return wrap;
}

/** Marks the button of `value` as the chosen one ("" or an unknown value: none). */
export function setSegmented(wrap, value) {
  for (const b of wrap.querySelectorAll("button")) {
    const on = b.dataset.value === value;
    b.classList.toggle("on", on);
    b.setAttribute("aria-checked", on ? "true" : "false");
  }
}

/** Dismissible messages in a container, one per key ("error" is styled as an error). */
export class Banners {
  constructor(container) { this.el = container; }
  /** Shows (or with a falsy text removes) the banner of `key`. */
  set(key, text) {
    let el = this.el.querySelector(`[data-key="${key}"]`);
    if (!text) { if (el) el.remove(); return; }
    if (!el) {
      el = h("div", { "data-key": key, class: `dvi-banner ${key === "error" ? "error" : "info"}` });
      this.el.append(el);
    }
    el.replaceChildren(h("span", { text }), h("button", { type: "button", class: "dvi-x", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  }
  clear() { this.el.replaceChildren(); }
}

/** Saves a Blob as a file named `name` (a temporary link; the object URL is revoked after). */
export function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, style: "display:none" });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
}

/** A file-name-safe form of a run name. */
export function safeName(name) { return (name || "run").replace(/[^A-Za-z0-9_.-]+/g, "_"); }

/** Adds a stylesheet of this folder once; resolves when it has loaded (or failed). */
export function injectStyle(file) {
  const href = new URL(`./${file}`, import.meta.url).href;
  const old = [...document.querySelectorAll("link[data-dvi-style]")].find((l) => l.href === href);
  if (old) return Promise.resolve();
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = href;
  link.dataset.dviStyle = file;
  const p = new Promise((r) => { link.onload = r; link.onerror = r; });
  document.head.appendChild(link);
  return p;
}

/** Puts a tooltip next to the pointer (px, py in its container's CSS pixels), inside the container. */
export function placeTooltip(tip, container, px, py) {
  tip.hidden = false;
  const W = container.clientWidth, H = container.clientHeight;
  let x = px + 14, y = py + 14;
  if (x + tip.offsetWidth > W - 4) x = px - tip.offsetWidth - 14;
  if (y + tip.offsetHeight > H - 4) y = py - tip.offsetHeight - 14;
  tip.style.left = `${Math.max(4, x)}px`;
  tip.style.top = `${Math.max(4, y)}px`;
}

/** A colour swatch. */
export function swatch(color) { return h("i", { class: "sw", style: `background:${color}` }); }

/** Whether a key press belongs to a text field (shortcuts leave those alone). */
export function typingIn(target) {
  const tag = target && target.tagName;
  if (tag === "SELECT" || tag === "TEXTAREA") return true;
  return tag === "INPUT" && target.type !== "checkbox" && target.type !== "radio" && target.type !== "button";
}

/** Size of an element in CSS and device pixels: {dpr, cssW, cssH, W, H} (at least 1 px). */
export function measure(el) {
  const r = el.getBoundingClientRect();
  const dpr = window.devicePixelRatio || 1;
  const cssW = Math.max(1, r.width), cssH = Math.max(1, r.height);
  return { dpr, cssW, cssH, W: Math.round(cssW * dpr), H: Math.round(cssH * dpr) };
}
