// Fitting progress: the bar with stage, epochs ready and ETA while the engine fits, Retry after an
// error, Resume after a cancel; damaged epochs as a banner.

import { h } from "../ui.js";

export function fmtEta(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "";
  if (s < 60) return `about ${Math.max(1, Math.round(s))} s left`;
  if (s < 3600) return `about ${Math.round(s / 60)} min left`;
  return `about ${(s / 3600).toFixed(1)} h left`;
}

/** " · about 3 min left (measured 41 s per epoch)": the server's estimate, from measured rates
 *  (plugin/job.py: it counts down between reports and does not jump up); nothing before it has one. */
export function etaText(job) {
  if (job.state !== "running") return "";
  const rate = job.s_per_epoch ? ` (measured ${job.s_per_epoch < 90 ? `${Math.round(job.s_per_epoch)} s` : `${(job.s_per_epoch / 60).toFixed(1)} min`} per epoch)` : "";
  if (job.eta_s === null || job.eta_s === undefined) return " · estimating the time left…";
  return ` · ${fmtEta(job.eta_s)}${rate}`;
}

/** {done, total}: fitted epochs of the run out of its logged ones (the job's own counts cover
 *  only what it fits, e.g. 7 left of 8 after a resume). */
export function readyCount(job, fitted, logged) {
  const total = Math.max(logged.length, fitted.length) || (job && job.epochs_total) || 1;
  const done = logged.length ? fitted.filter((e) => logged.includes(e)).length : Math.max(fitted.length, (job && job.epochs_done) || 0);
  return { done, total };
}

export class ProgressPanel {
  constructor({ session, banners }) {
    this.session = session;
    this.banners = banners;
    this.el = h("div", { class: "dvi-progress", hidden: true });
    session.on("job", ({ error }) => this.render(error || null));
  }

  render(err = null) {
    const P = this.el, session = this.session, job = session.job;
    P.replaceChildren();
    P.className = "dvi-progress";
    if (err) {
      P.hidden = false;
      P.classList.add("error");
      P.append(h("span", { class: "dvi-progress-msg", text: err }));
      return;
    }
    if (!job) { P.hidden = true; return; }
    // Counts of the run, not of this job: a resumed job fits only the epochs left (its
    // epochs_total), while the user asks how many of the run's logged epochs are ready.
    const { done, total } = readyCount(job, session.fitted, session.run ? session.run.epochs : []);
    const pct = Math.max(0, Math.min(100, (100 * done) / total));
    const bar = h("div", { class: "dvi-bar" }, h("div", { class: "dvi-bar-fill", style: `width:${pct.toFixed(1)}%` }));
    if (job.state === "queued" || job.state === "running") {
      P.hidden = false;
      const stage = job.state === "queued" ? "Waiting for a worker" : (job.message || `Fitting epoch ${job.epoch}`);
      P.append(
        h("div", { class: "dvi-progress-text" },
          h("b", { text: "Fitting the visualizer" }),
          h("span", { text: ` · ${stage} · ${done} of ${total} epochs ready` }),
          h("span", { class: "dvi-eta", text: etaText(job) })),
        bar,
        h("button", { type: "button", class: "dvi-link", onclick: () => session.cancelFit() }, "Cancel"));
      bar.classList.toggle("indeterminate", job.state === "queued");
    } else if (job.state === "error") {
      P.hidden = false;
      P.classList.add("error");
      P.append(h("span", { class: "dvi-progress-msg" },
        h("b", { text: "Fitting failed: " }), job.error || job.message || "unknown error",
        ` (${done} of ${total} epochs ready). Fix the cause, then retry.`),
        h("button", { type: "button", class: "dvi-btn", onclick: () => session.startFit() }, "Retry"));
    } else if (job.state === "cancelled") {
      P.hidden = false;
      P.classList.add("paused");
      P.append(h("span", { class: "dvi-progress-msg", text: `Fitting was cancelled; ${done} of ${total} epochs are ready.` }),
        h("button", { type: "button", class: "dvi-btn", onclick: () => session.startFit() }, "Resume"));
    } else {
      P.hidden = true;
    }
    const damaged = session.run && session.run.damaged ? Object.entries(session.run.damaged) : [];
    this.banners.set("damaged", damaged.length
      ? `Skipped damaged epoch${damaged.length > 1 ? "s" : ""}: ${damaged.map(([e, why]) => `${e} (${why})`).join("; ")}.`
      : null);
  }
}
