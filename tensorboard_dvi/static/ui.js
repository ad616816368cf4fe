// Small DOM helper shared by the tab (index.js), "Compare runs" (compare.js) and the
// "Training dynamics" panel (dynamics.js).

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
