"use strict";
// The coverage page: polls its own origin's documents (relative URLs, so
// it works behind a path prefix, basic auth and TLS), sends the ETag of
// what it holds, and says STALE when it cannot vouch for what it shows.
(function () {
  const POLL_MS = Math.max(500, parseInt(document.body.dataset.pollMs, 10) || 3000);
  const $ = (id) => document.getElementById(id);
  const etags = new Map();   // url -> ETag of the document held
  const held = new Map();    // url -> the document held
  let lastOK = 0;            // time of the last poll that succeeded whole
  let lastError = null;      // the last poll's error, if it failed
  let shownGen = null;       // generation of the coverage shown
  let logGen = null, verifyGen = null, verifyBusy = false;
  let timer = null;

  $("poll-seconds").textContent = String(POLL_MS / 1000);

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v; else e.setAttribute(k, v);
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : String(c));
    }
    return e;
  }

  // get fetches url with the ETag of the copy held; it returns the
  // document and whether it changed (a 304 returns the held copy).
  async function get(url) {
    const headers = { "Accept": "application/json" };
    if (etags.has(url)) headers["If-None-Match"] = etags.get(url);
    const resp = await fetch(url, { headers, cache: "no-store", credentials: "same-origin" });
    if (resp.status === 304 && held.has(url)) return { doc: held.get(url), changed: false };
    if (!resp.ok) {
      let msg = "HTTP " + resp.status;
      try {
        const body = await resp.json();
        if (body && body.error && body.error.message) msg += ": " + body.error.message;
      } catch (e) { /* not a JSON error document */ }
      throw new Error(url + ": " + msg);
    }
    const doc = await resp.json();
    const tag = resp.headers.get("ETag");
    if (tag) etags.set(url, tag); else etags.delete(url);
    held.set(url, doc);
    return { doc, changed: true };
  }

  function plural(n, one, many) { return n === 1 ? "1 " + one : n + " " + many; }
  function rowName(row) { return String(row).replace(/_/g, " "); }
  function holeText(h) {
    const r = (a, b) => (a === b ? String(a) : a + "-" + b);
    let s = "versions " + r(h.first_version, h.last_version);
    if (h.first_epoch !== undefined && h.last_epoch !== undefined) s = "epochs " + r(h.first_epoch, h.last_epoch) + " (" + s + ")";
    return s;
  }

  let shownOnce = false;
  function renderCoverage(c) {
    shownGen = c.generation;
    if (verifyGen !== null && verifyGen !== c.generation) {
      // Keep the old problems in sight, but never as the current ones.
      $("problems").classList.add("outdated");
      $("verify-note").textContent = "verify at generation " + verifyGen + " (OUTDATED: the catalog is at generation " +
        c.generation + " now)";
    }
    $("generation").textContent = String(c.generation);
    $("state-line").textContent = c.state_line;
    const st = c.state || {};
    const show = (v) => (v === null || v === undefined ? "none" : String(v));
    $("st-txn").textContent = show(st.latest_transaction_version);
    $("st-snap-version").textContent = show(st.latest_state_snapshot_version);
    $("st-snap-epoch").textContent = show(st.latest_state_snapshot_epoch);
    $("st-epoch").textContent = show(st.latest_epoch_ending_epoch);
    const fb = $("frontier").parentElement;
    if (c.restorable) {
      $("frontier").textContent = String(c.frontier_version);
      $("frontier-note").textContent = "a restore can reach this version";
      fb.classList.toggle("bad", c.gap_count > 0);
      fb.classList.toggle("good", c.gap_count === 0);
    } else {
      $("frontier").textContent = "none";
      $("frontier-note").textContent = "NOT RESTORABLE: no continuous coverage from version 0 with a state snapshot";
      fb.classList.add("bad"); fb.classList.remove("good");
    }
    $("holes").textContent = c.gap_count + " · " + c.overlap_count;
    $("holes").parentElement.classList.toggle("bad", c.gap_count + c.overlap_count > 0);
    $("holes").parentElement.classList.toggle("good", c.gap_count + c.overlap_count === 0);
    $("holes-note").textContent = c.gap_count + c.overlap_count === 0 ? "no holes" : "see the list below";
    $("files").textContent = c.live_files + " · " + c.moved_files;
    renderQuarantine(c);
    $("files-note").textContent = plural(c.entries, "entry", "entries") + " in the view";
    $("timeline").innerHTML = c.svg; // drawn by the server from numbers only, escaped there
    const list = $("hole-list");
    list.replaceChildren();
    const add = (h, what) => list.append(el("li", { "class": what, "tabindex": "0" },
      el("strong", {}, what.toUpperCase()), " in " + rowName(h.row) + ": ",
      el("strong", { "class": "range" }, holeText(h)),
      h.entries ? " (" + h.entries + " entries)" : ""));
    for (const h of c.gaps) add(h, "gap");
    for (const h of c.overlaps) add(h, "overlap");
    const more = c.gap_count - c.gaps.length + c.overlap_count - c.overlaps.length;
    if (more > 0) list.append(el("li", {}, "… and " + more + " more (metactl status --coverage lists them)"));
    if (c.gap_count + c.overlap_count === 0) list.append(el("li", { "class": "none", "tabindex": "0" }, "No gap and no overlap at generation " + c.generation + "."));
    if (!shownOnce) {
      shownOnce = true;
      performance.mark("metactl-coverage-shown"); // the load time, for BenchmarkCoveragePageInBrowser
    }
  }

  // Quarantined files (import --quarantine): shown when there are any.
  function renderQuarantine(c) {
    const n = c.quarantined_count || 0;
    $("quarantine-box").hidden = n === 0;
    $("quarantine-section").hidden = n === 0;
    $("quarantined").textContent = String(n);
    $("quarantine-box").classList.toggle("bad", n > 0);
    const list = $("quarantine-list");
    list.replaceChildren();
    for (const q of c.quarantined || []) {
      list.append(el("li", { "tabindex": "0" }, el("strong", {}, "QUARANTINED "), el("code", {}, q.handle),
        " (" + (q.state === "moved" ? "in metadata_backup/" : "in metadata/") + "): " + q.error));
    }
    if (n > (c.quarantined || []).length) list.append(el("li", {}, "… and " + (n - c.quarantined.length) + " more"));
  }

  function renderStatus(s) { /* the coverage document carries the numbers; status is polled for its ETag only */ }

  function short(d) { return d ? String(d).slice(0, 12) : ""; }

  function renderLog(doc) {
    const ops = Array.isArray(doc) ? doc : (doc.operations || doc.log || []);
    const body = $("log").tBodies[0];
    body.replaceChildren();
    for (const op of ops) {
      const kind = op.undoes ? op.kind + " " + op.undoes : op.kind;
      body.append(el("tr", {},
        el("td", { "class": "num" }, op.generation), el("td", {}, kind),
        el("td", {}, String(op.time || "").replace("T", " ").replace(/(\.\d+)?Z$/, "")),
        el("td", { "class": "digest", "title": op.digest_before || "" }, short(op.digest_before)),
        el("td", { "class": "digest", "title": op.digest_after || "" }, short(op.digest_after)),
        el("td", {}, op.note || "")));
    }
    $("log-note").textContent = ops.length ? "newest first" : "the journal is empty";
  }

  function renderVerify(doc, gen) {
    const list = $("problems");
    list.replaceChildren();
    list.classList.remove("outdated");
    const problems = doc.problems || [], warnings = doc.warnings || [];
    const item = (p, cls) => {
      const where = p.where || [];
      const shown = where.slice(0, 20).join(", ") + (where.length > 20 ? ", … and " + (where.length - 20) + " more" : "");
      return el("li", { "class": cls, "tabindex": "0" }, el("strong", {}, (cls === "warning" ? "warning " : "PROBLEM ") + p.code),
        ": " + p.message, where.length ? el("div", { "class": "where mono" }, shown) : null);
    };
    for (const p of problems) list.append(item(p, "problem"));
    for (const p of warnings) list.append(item(p, "warning"));
    if (!problems.length && !warnings.length) list.append(el("li", { "class": "none", "tabindex": "0" }, "verify found nothing wrong."));
    $("verify-note").textContent = "verify at generation " + (doc.generation !== undefined ? doc.generation : gen) + ": " +
      plural(problems.length, "problem", "problems") + ", " + plural(warnings.length, "warning", "warnings");
  }

  // verify reads every file, and a writer in another process waits for
  // the whole of it (serve holds the catalog's read lock meanwhile). So
  // the page runs it by itself only on catalogs of at most AUTO_VERIFY
  // entries; above, the operator asks for it with the button. It runs in
  // the background, one at a time, once per generation, and never holds
  // up the rest of the page.
  const AUTO_VERIFY = 100000;
  let verifyAsked = false;
  function startVerify(gen, entries) {
    if (verifyBusy || verifyGen === gen) return;
    const btn = $("run-verify");
    if (entries > AUTO_VERIFY && !verifyAsked) {
      btn.hidden = false;
      if (verifyGen === null) $("verify-note").textContent = "not run by itself on a catalog of " + entries +
        " entries: verify reads every file, and a writer waits for it meanwhile. Run it when you need it.";
      return;
    }
    verifyAsked = false;
    btn.hidden = true;
    verifyBusy = true;
    if (verifyGen === null) $("verify-note").textContent = "checking…";
    get("v1/verify").then(({ doc }) => { verifyGen = gen; renderVerify(doc, gen); })
      .catch((e) => { $("verify-note").textContent = "verify failed: " + e.message; })
      .finally(() => { verifyBusy = false; });
  }

  function freshness() {
    const stale = $("stale");
    const age = lastOK ? Math.round((Date.now() - lastOK) / 1000) : null;
    $("updated").textContent = lastOK ? "updated " + new Date(lastOK).toISOString().slice(11, 19) + " UTC (" + age + " s ago)" : "loading…";
    const isStale = lastError !== null || (lastOK && Date.now() - lastOK > 3 * POLL_MS);
    document.body.classList.toggle("stale", Boolean(isStale && lastOK));
    if (isStale) {
      stale.hidden = false;
      stale.textContent = (lastOK ? "STALE: what this page shows is generation " + shownGen + " as of " +
        new Date(lastOK).toISOString().slice(11, 19) + " UTC, " + age + " s ago" : "NO DATA: the page could not read the catalog yet") +
        (lastError ? "; the last poll failed: " + lastError : "; no poll has answered since") + ".";
    } else {
      stale.hidden = true;
      stale.textContent = "";
    }
  }

  async function poll() {
    clearTimeout(timer);
    try {
      const cov = await get("coverage.json");
      if (cov.changed || shownGen !== cov.doc.generation) renderCoverage(cov.doc);
      const st = await get("v1/status");
      renderStatus(st.doc);
      if (logGen !== shownGen) {
        const log = await get("v1/log?n=10");
        renderLog(log.doc);
        logGen = shownGen;
      }
      startVerify(shownGen, cov.doc.entries);
      lastOK = Date.now();
      lastError = null;
    } catch (e) {
      lastError = e && e.message ? e.message : String(e);
    }
    freshness();
    timer = setTimeout(poll, POLL_MS);
  }

  $("refresh").addEventListener("click", () => { poll(); });
  $("run-verify").addEventListener("click", () => {
    verifyAsked = true;
    $("verify-note").textContent = "checking…";
    startVerify(shownGen, 0);
  });
  setInterval(freshness, 1000);
  poll();
})();
