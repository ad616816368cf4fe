// "Copy link" (the top-level URL, whose hash holds the view's state: urlstate.js) and the theme:
// dark when TensorBoard's own page is in dark mode (its body carries `dark-mode`, read through
// the same-origin parent) or, without a readable parent, when the system prefers dark.

import { h } from "../ui.js";

/** The page's top-level URL (TensorBoard's, holding the dvi.* hash), else the iframe's own. */
export function viewUrl(win = window) {
  try { if (win.parent && win.parent !== win) return win.parent.location.href; } catch (e) { /* another origin */ }
  return win.location.href;
}

/** true / false from TensorBoard's body class when the parent is readable, else null. */
export function parentDark(win = window) {
  try {
    if (!win.parent || win.parent === win) return null;
    const body = win.parent.document.body;
    return body ? body.classList.contains("dark-mode") : null;
  } catch (e) { return null; }
}

export class SharePanel {
  constructor({ root }) {
    this.root = root;
    this.btn = h("button", { type: "button", class: "dvi-btn", title: "Copy a link that opens this run, epoch, colouring, filters and selection", onclick: () => this.copy() }, "Copy link");
    this.field = h("input", { type: "text", class: "dvi-input dvi-link-field", readonly: true, hidden: true, "aria-label": "Link to this view" });
    this.el = h("div", { class: "dvi-share" }, this.btn, this.field);
    this.watchTheme();
  }

  render() {}

  async copy() {
    const url = viewUrl();
    this.root.dataset.link = url;
    this.field.value = url;
    try {
      await navigator.clipboard.writeText(url);
      this.btn.textContent = "Link copied";
      this.field.hidden = true;
    } catch (e) {  // no clipboard permission: show the link, selected, to copy by hand
      this.field.hidden = false;
      this.field.select();
      this.btn.textContent = "Copy the link:";
    }
    clearTimeout(this._t);
    this._t = setTimeout(() => { this.btn.textContent = "Copy link"; this.field.hidden = true; }, 6000);
  }

  watchTheme() {
    const media = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
    const apply = () => {
      const tb = parentDark();
      const dark = tb === null ? !!(media && media.matches) : tb;
      this.root.classList.toggle("dvi-dark", dark);
      document.documentElement.classList.toggle("dvi-dark", dark);
    };
    if (media && media.addEventListener) media.addEventListener("change", apply);
    try {
      const body = window.parent !== window && window.parent.document.body;
      if (body) new MutationObserver(apply).observe(body, { attributes: true, attributeFilter: ["class"] });
    } catch (e) { /* another origin: the media query only */ }
    apply();
  }
}
