/* meshplane console: one page, plain JavaScript (no framework, no build step, no CDN).
 *
 * Routes (location.hash): #/meshes, #/mesh/<name>, #/proxies.
 * Live: every view polls /ui/api/version (a revision number + a checksum of proxy states) and
 * fetches its data again only when that changes.
 * Data is always inserted with textContent / createElement: nothing from the server is parsed as HTML.
 */
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const POLL_MS = 700;
  const state = { csrf: "", auth: document.body.dataset.auth === "sigv4", view: null, version: null,
                  timer: null, seq: 0 };
  // Test and debugging hooks: what the page rendered, and the states each box went through.
  const hooks = window.__console = { history: {}, renders: 0, lastRender: null, errors: [] };

  // ---------------------------------------------------------------- helpers
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") el.className = v;
      else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else el.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  }
  function s(tag, attrs) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, v);
    return el;
  }
  function time(epoch) {
    if (!epoch) return "–";
    const d = new Date(epoch * 1000);
    const ago = Math.max(0, Math.round(Date.now() / 1000 - epoch));
    const rel = ago < 90 ? ago + " s ago" : ago < 5400 ? Math.round(ago / 60) + " min ago" : Math.round(ago / 3600) + " h ago";
    return d.toISOString().replace("T", " ").slice(0, 19) + " (" + rel + ")";
  }
  function badge(st) { return h("span", { class: "badge " + (st || "none"), text: st || "no proxy" }); }
  function shortVersion(v) { return v ? (v.length > 12 ? "…" + v.slice(-10) : v) : "–"; }

  class ApiError extends Error {
    constructor(status, type, message) { super(message); this.status = status; this.type = type; }
  }
  async function api(path, opts) {
    opts = opts || {};
    const headers = { "Accept": "application/json" };
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    if (opts.method && opts.method !== "GET") {
      headers["X-Meshplane-Console"] = "1";
      if (state.csrf) headers["X-CSRF-Token"] = state.csrf;
    }
    const res = await fetch("/ui/api/" + path, { method: opts.method || "GET", headers, credentials: "same-origin",
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body), cache: "no-store" });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = { message: text }; }
    if (!res.ok) {
      const err = new ApiError(res.status, res.headers.get("x-amzn-ErrorType") || "", (data && data.message) || res.statusText);
      if (res.status === 403 && state.auth && !opts.quiet && /Authentication|Unrecognized|Sign in/i.test(err.type + err.message)) {
        showSignIn(err.message);
      }
      throw err;
    }
    return data;
  }

  // ---------------------------------------------------------------- sign-in
  async function checkSession() {
    const who = await api("session", { quiet: true });
    state.csrf = who.csrf || "";
    const el = document.getElementById("who");
    el.replaceChildren();
    if (who.required && who.signedIn) {
      el.append(h("span", { text: (who.name || who.keyId) + " " }),
        h("button", { id: "sign-out", onclick: async () => { await api("session", { method: "DELETE", quiet: true });
          state.csrf = ""; showSignIn(""); } }, "Sign out"));
    }
    return who;
  }

  function showSignIn(message) {
    stopPolling();
    state.view = null;
    const main = document.getElementById("main");
    const keyId = h("input", { type: "text", id: "access-key-id", autocomplete: "username", spellcheck: "false" });
    const secret = h("input", { type: "password", id: "secret-access-key", autocomplete: "current-password" });
    const out = h("div", { id: "signin-message", class: message ? "msg err" : "" }, message || "");
    const form = h("form", { class: "signin", id: "signin", onsubmit: async (ev) => {
      ev.preventDefault();
      try {
        const who = await api("session", { method: "POST", quiet: true,
          body: { accessKeyId: keyId.value, secretAccessKey: secret.value } });
        secret.value = ""; // the secret is not kept anywhere in the page once the server has checked it
        state.csrf = who.csrf || "";
        await checkSession();
        route();
      } catch (e) {
        secret.value = "";
        out.className = "msg err";
        out.textContent = e.message;
      }
    } },
    h("h1", { text: "Sign in to meshplane" }),
    h("p", { class: "muted", text: "Use an access key (meshplane keys create). The secret is checked by the server once; the page keeps only an HttpOnly session cookie." }),
    h("label", { for: "access-key-id", text: "Access key id" }), keyId,
    h("label", { for: "secret-access-key", text: "Secret access key" }), secret,
    h("p", {}, h("button", { class: "primary", type: "submit", id: "sign-in" }, "Sign in")), out);
    main.replaceChildren(form);
    document.body.dataset.ready = "signin";
  }

  // ---------------------------------------------------------------- live polling
  function stopPolling() { if (state.timer) clearTimeout(state.timer); state.timer = null; }
  function poll(versionPath, refresh) {
    stopPolling();
    const mine = ++state.seq;
    const live = document.getElementById("live");
    const tick = async () => {
      if (mine !== state.seq) return;
      try {
        const v = await api(versionPath, { quiet: false });
        live.className = "live on";
        if (v.version !== state.version) await refresh();
      } catch (e) {
        live.className = "live off";
      }
      if (mine === state.seq) state.timer = setTimeout(tick, POLL_MS);
    };
    state.timer = setTimeout(tick, POLL_MS);
  }
  function rendered(view, version) {
    state.version = version;
    document.getElementById("live").className = "live on";
    hooks.renders += 1;
    // Marked once the browser has laid out and painted the new content (the next frame), so the
    // time measured is what a person waits for, not just the script.
    requestAnimationFrame(() => setTimeout(() => {
      hooks.lastRender = { view, version, at: performance.now() };
      document.body.dataset.ready = view + ":" + version;
    }, 0));
  }

  // ---------------------------------------------------------------- meshes page
  const KIND_COLUMNS = [["virtualGateway", "gateways"], ["gatewayRoute", "gateway routes"], ["virtualService", "services"],
    ["virtualRouter", "routers"], ["route", "routes"], ["virtualNode", "nodes"]];

  async function meshesView() {
    const main = document.getElementById("main");
    const refresh = async () => {
      const data = await api("meshes");
      const head = h("tr", {}, h("th", { text: "mesh" }), h("th", { text: "egress filter" }),
        KIND_COLUMNS.map(([, label]) => h("th", { class: "num", text: label })),
        ["connected", "synced", "stale", "error", "not sent", "disconnected"].map((t) => h("th", { class: "num", text: t })));
      const rows = data.meshes.map((m) => {
        const p = m.proxies || {};
        return h("tr", { "data-mesh": m.name },
          h("td", {}, h("a", { href: "#/mesh/" + encodeURIComponent(m.name), text: m.name })),
          h("td", { text: m.egressFilter }),
          KIND_COLUMNS.map(([k]) => h("td", { class: "num" + (m.counts[k] ? "" : " zero"), "data-kind": k, text: m.counts[k] || 0 })),
          ["connected", "SYNCED", "STALE", "ERROR", "NOT_SENT", "disconnected"].map((k) =>
            h("td", { class: "num" + (p[k] ? " has-" + k : " zero"), "data-proxies": k, text: p[k] || 0 })));
      });
      main.replaceChildren(h("h1", { text: "Meshes" }),
        data.meshes.length ? h("table", { id: "meshes" }, h("thead", {}, head), h("tbody", {}, rows))
          : h("p", { class: "muted", text: "No mesh yet: create one with the aws CLI, boto3 or Terraform." }));
      rendered("meshes", data.version);
    };
    await refresh();
    poll("version", refresh);
  }

  // ---------------------------------------------------------------- mesh graph
  const KIND_LABEL = { virtualGateway: "VIRTUAL GATEWAY", gatewayRoute: "GATEWAY ROUTE", virtualService: "VIRTUAL SERVICE",
    virtualRouter: "VIRTUAL ROUTER", route: "ROUTE", virtualNode: "VIRTUAL NODE" };

  async function meshView(mesh) {
    const main = document.getElementById("main");
    const filter = h("input", { type: "search", id: "graph-filter", placeholder: "filter by name", value: sessionStorage.getItem("filter:" + mesh) || "" });
    const collapse = h("input", { type: "checkbox", id: "graph-collapse" });
    const layout = h("select", { id: "graph-layout", title: "flow: columns follow the traffic; kind: one column per kind" },
      ["auto", "flow", "kind"].map((x) => h("option", { value: x, text: "layout: " + x })));
    const stats = h("span", { class: "muted", id: "graph-stats" });
    const svg = s("svg", { id: "graph-svg" });
    const side = h("aside", { class: "side empty", id: "details" }, "Click a box to see its spec, its proxies and their diagnostics.");
    const view = { mesh, data: null, selected: null, vb: null, dirty: false };
    main.replaceChildren(
      h("div", { class: "toolbar" }, h("h1", {}, "Mesh ", h("span", { id: "mesh-name", text: mesh })), filter,
        h("label", {}, collapse, " collapse by service"), layout, h("button", { id: "graph-fit", onclick: () => fit(view, svg) }, "Fit"), stats,
        h("span", { class: "legend" }, ["SYNCED", "STALE", "ERROR", "NOT_SENT"].map((st) => h("span", {}, h("i", { class: "badge " + st }), st)),
          h("span", {}, "dashed red: missing"))),
      h("div", { class: "graph-wrap" }, h("div", { class: "graph" }, svg), side));
    enablePanZoom(view, svg);
    const refresh = async () => {
      const q = new URLSearchParams();
      if (filter.value.trim()) q.set("filter", filter.value.trim());
      if (collapse.checked) q.set("collapse", "1");
      if (layout.value !== "auto") q.set("layout", layout.value);
      const data = await api("meshes/" + encodeURIComponent(mesh) + "/graph?" + q.toString());
      const t0 = performance.now();
      hooks.serverMs = data.elapsedMs;
      const first = !view.data;
      view.data = data;
      // Measure the drawing area before filling it: asking afterwards would force a layout of
      // every new element in the middle of the script.
      const rect = svg.getBoundingClientRect();
      drawGraph(view, svg);
      if (first || view.refit) { fit(view, svg, rect); view.refit = false; }
      hooks.drawMs = performance.now() - t0;
      stats.textContent = data.boxes.length + " of " + data.total + " boxes · " + data.layout + " layout · server " + data.elapsedMs + " ms · drawn " + Math.round(performance.now() - t0) + " ms";
      if (view.selected) await showDetails(view, view.selected, side, true);
      rendered("mesh", data.version);
    };
    let debounce = null;
    filter.addEventListener("input", () => { clearTimeout(debounce); sessionStorage.setItem("filter:" + mesh, filter.value);
      debounce = setTimeout(() => { view.refit = true; refresh(); }, 200); });
    collapse.addEventListener("change", () => { view.refit = true; refresh(); });
    layout.addEventListener("change", () => { view.refit = true; refresh(); });
    svg.addEventListener("click", (ev) => {
      const g = ev.target.closest("g.box");
      if (!g || view.dragged) return;
      view.selected = JSON.parse(g.dataset.ref);
      view.dirty = false;
      svg.querySelectorAll("g.box.selected").forEach((x) => x.classList.remove("selected"));
      g.classList.add("selected");
      side.className = "side";
      side.replaceChildren(h("p", { class: "muted", text: "Loading " + view.selected.name + "…" }));
      showDetails(view, view.selected, side, false);
    });
    await refresh();
    poll("version?mesh=" + encodeURIComponent(mesh), refresh);
  }

  // Text is cut to its box with the canvas's measurement of the same font (no layout needed).
  const FONT_FAMILY = getComputedStyle(document.body).fontFamily;
  const NAME_FONT = "13px " + FONT_FAMILY, CAPTION_FONT = "10px " + FONT_FAMILY;
  // Widths per character and font, measured once each: summing them is close enough (no kerning)
  // and keeps cutting 1,000 labels to a few milliseconds.
  const measure = document.createElement("canvas").getContext("2d");
  const charWidths = {};
  function fitText(text, font, width, spacing) {
    const table = charWidths[font] || (charWidths[font] = {});
    const w = (c) => {
      if (table[c] === undefined) { measure.font = font; table[c] = measure.measureText(c).width; }
      return table[c] + spacing;
    };
    let total = 0;
    for (const c of text) total += w(c);
    if (total <= width) return text;
    const room = width - w("…");
    let used = 0, cut = 0;
    for (const c of text) { if (used + w(c) > room) break; used += w(c); cut += c.length; }
    return text.slice(0, cut) + "…";
  }

  function drawGraph(view, svg) {
    const data = view.data;
    const byId = {};
    for (const b of data.boxes) {  // members at their defaults are left out of the JSON
      b.w = data.boxWidth; b.h = data.boxHeight; b.parent = b.parent || ""; b.states = b.states || {};
      b.folded = b.folded || []; b.proxies = b.proxies || 0; b.state = b.state || ""; b.detail = b.detail || "";
      byId[b.id] = b;
    }
    const defs = s("defs");
    for (const [id, colour] of [["arrow", "#98a2b3"], ["arrow-w", "#b54708"], ["arrow-b", "#6172f3"], ["arrow-d", "#c01048"]]) {
      const m = s("marker", { id, viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" });
      m.append(s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: colour }));
      defs.append(m);
    }
    const edges = s("g", { class: "edges" });
    const labels = s("g", { class: "labels" });
    for (const e of data.edges) {
      const a = byId[e.src], b = byId[e.dst];
      if (!a || !b) continue;
      const x1 = a.x + a.w, y1 = a.y + a.h / 2, x2 = b.x, y2 = b.y + b.h / 2;
      let d, mx, my;
      if (x2 > x1) {
        const c = Math.max(30, (x2 - x1) / 2);
        d = `M${x1},${y1} C${x1 + c},${y1} ${x2 - c},${y2} ${x2},${y2}`;
        mx = (x1 + 3 * (x1 + c) + 3 * (x2 - c) + x2) / 8; my = (y1 + y2) / 2;
      } else { // closes a cycle: loop round below the boxes
        const low = Math.max(a.y, b.y) + a.h + 40;
        d = `M${x1},${y1} C${x1 + 80},${low} ${x2 - 80},${low} ${x2},${y2}`;
        mx = (x1 + x2) / 2; my = low - 10;
      }
      const dangling = b.missing;
      const cls = "edge " + e.rel + (dangling ? " dangling" : "") + (e.back ? " back" : "");
      const marker = dangling ? "arrow-d" : e.rel === "weighted" ? "arrow-w" : e.rel === "backend" ? "arrow-b" : "arrow";
      const p = s("path", { class: cls, d, "marker-end": `url(#${marker})`, "data-src": e.src, "data-dst": e.dst });
      if (e.rel === "weighted" && e.weight !== undefined) {
        const share = (e.label.match(/\((\d+)%\)/) || [null, "100"])[1];
        p.setAttribute("stroke-width", String(1.2 + 3 * Number(share) / 100));
      }
      edges.append(p);
      if (e.label) {
        const t = s("text", { class: "elabel", x: mx, y: my - 4, "text-anchor": "middle", "data-src": e.src, "data-dst": e.dst });
        t.textContent = e.label;
        labels.append(t);
      }
    }
    const boxes = s("g", { class: "boxes" });
    for (const b of data.boxes) {
      const hist = hooks.history[b.id] || (hooks.history[b.id] = []);
      if (b.state && hist[hist.length - 1] !== b.state) hist.push(b.state);
      const cls = ["box", b.kind, b.state ? "s-" + b.state : "s-none", b.missing ? "missing" : "",
        view.selected && view.selected.id === b.id ? "selected" : ""].join(" ");
      const g = s("g", { class: cls, transform: `translate(${b.x},${b.y})`, "data-id": b.id, "data-state": b.state || "",
        "data-history": hist.join(","), "data-ref": JSON.stringify({ id: b.id, kind: b.kind, name: b.name, parent: b.parent }) });
      g.append(s("rect", { width: b.w, height: b.h, rx: 6 }));
      const kind = s("text", { class: "kind", x: 10, y: 15 });
      const caption = (KIND_LABEL[b.kind] || b.kind) + (b.missing ? " · MISSING" : b.detail ? " · " + b.detail : "");
      kind.textContent = fitText(caption, CAPTION_FONT, b.w - (b.proxies ? 36 : 18), 0.3);
      const name = s("text", { class: "name", x: 10, y: 34 });
      const label = b.folded.length ? b.name + " (+" + b.folded.length + ")" : b.name;
      name.textContent = fitText(label, NAME_FONT, b.w - 18, 0);
      if (name.textContent !== label || b.proxies) {  // a tooltip where the box cannot say it all
        const title = s("title");
        title.textContent = `${b.kind} ${b.parent ? b.parent + "/" : ""}${b.name}` + (b.proxies ? ` · ${b.proxies} proxies: ` +
          Object.entries(b.states).map(([k, v]) => `${v} ${k}`).join(", ") : "");
        g.append(title);
      }
      g.append(kind, name);
      if (b.proxies) {
        const dot = s("circle", { class: "dot", cx: b.w - 12, cy: 12, r: 6,
          fill: { SYNCED: "#12805c", STALE: "#b54708", ERROR: "#c01048", NOT_SENT: "#475467" }[b.state] || "#98a2b3" });
        g.append(dot);
        const n = s("text", { class: "kind", x: b.w - 22, y: 38, "text-anchor": "end" });
        n.textContent = b.proxies + (b.proxies === 1 ? " proxy" : " proxies");
        g.append(n);
      }
      boxes.append(g);
    }
    const root = s("g", { id: "graph-root" });
    root.append(edges, boxes, labels);
    svg.replaceChildren(defs, root);
    if (view.vb) svg.setAttribute("viewBox", view.vb.join(" "));
  }

  function fit(view, svg, rect) {
    if (!view.data) return;
    const pad = 30, w = Math.max(view.data.width, 300) + 2 * pad, hgt = Math.max(view.data.height, 200) + 2 * pad;
    // Readable first: never zoom out so far that a box's name is smaller than ~5 px.
    rect = rect || svg.getBoundingClientRect();
    const scale = Math.min(rect.width / w, rect.height / hgt);
    const minScale = 0.35;
    if (scale >= minScale || !rect.width) view.vb = [-pad, -pad, w, hgt];
    else view.vb = [-pad, -pad, rect.width / minScale, rect.height / minScale];
    svg.setAttribute("viewBox", view.vb.join(" "));
  }

  function enablePanZoom(view, svg) {
    let drag = null;
    svg.addEventListener("wheel", (ev) => {
      if (!view.vb) return;
      ev.preventDefault();
      const rect = svg.getBoundingClientRect();
      const [x, y, w, hh] = view.vb;
      const k = ev.deltaY > 0 ? 1.15 : 1 / 1.15;
      const px = x + (ev.clientX - rect.left) / rect.width * w, py = y + (ev.clientY - rect.top) / rect.height * hh;
      view.vb = [px - (px - x) * k, py - (py - y) * k, w * k, hh * k];
      svg.setAttribute("viewBox", view.vb.join(" "));
    }, { passive: false });
    svg.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, y: ev.clientY, vb: view.vb && view.vb.slice() }; view.dragged = false; });
    window.addEventListener("mousemove", (ev) => {
      if (!drag || !drag.vb) return;
      const rect = svg.getBoundingClientRect();
      const dx = (ev.clientX - drag.x) / rect.width * drag.vb[2], dy = (ev.clientY - drag.y) / rect.height * drag.vb[3];
      if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 4) view.dragged = true;
      view.vb = [drag.vb[0] - dx, drag.vb[1] - dy, drag.vb[2], drag.vb[3]];
      svg.setAttribute("viewBox", view.vb.join(" "));
    });
    window.addEventListener("mouseup", () => { drag = null; setTimeout(() => { view.dragged = false; }, 0); });
  }

  async function showDetails(view, ref, side, live) {
    if (live && view.dirty) return; // never overwrite weights the user is editing
    const q = new URLSearchParams({ kind: ref.kind, name: ref.name, parent: ref.parent || "" });
    let d;
    try { d = await api("meshes/" + encodeURIComponent(view.mesh) + "/resource?" + q.toString()); }
    catch (e) { side.replaceChildren(h("div", { class: "msg err", text: e.message })); return; }
    if (view.selected !== ref) return;
    side.className = "side";
    const parts = [h("h2", { id: "details-title", text: ref.name }),
      h("dl", { class: "kv" }, h("dt", { text: "kind" }), h("dd", { text: ref.kind }),
        ref.parent ? [h("dt", { text: "in" }), h("dd", { text: ref.parent })] : null,
        d.missing ? [h("dt", { text: "status" }), h("dd", { class: "diag", text: "does not exist: " + d.message })] :
          [h("dt", { text: "version" }), h("dd", { id: "details-version", text: d.version }),
           h("dt", { text: "updated" }), h("dd", { text: time(d.lastUpdatedAt) }),
           h("dt", { text: "arn" }), h("dd", { text: d.arn })])];
    if (d.missing) { side.replaceChildren(...parts); return; }
    if (d.weightedTargets && d.weightedTargets.length) parts.push(weightsForm(view, ref, d, side));
    if (d.proxies && d.proxies.length) {
      parts.push(h("h2", { text: "Proxies" }));
      for (const p of d.proxies) parts.push(proxyCard(p));
    } else if (ref.kind === "virtualNode" || ref.kind === "virtualGateway") {
      parts.push(h("p", { class: "muted", text: "No proxy has connected for it." }));
    }
    if (d.diagnostics && d.diagnostics.length) {
      parts.push(h("h2", { text: "Diagnostics" }), h("ul", { id: "details-diagnostics" }, d.diagnostics.map((x) => h("li", { class: "diag", text: x }))));
    }
    parts.push(h("h2", { text: "Spec" }), jsonTree(d.spec, "spec", 12));
    side.replaceChildren(...parts);
  }

  function weightsForm(view, ref, d, side) {
    const targets = d.weightedTargets;
    const total = h("span", { class: "total", id: "weights-total" });
    const msg = h("div", { id: "weights-message" });
    const numbers = [], sliders = [];
    const update = () => {
      const sum = numbers.reduce((a, n) => a + (Number(n.value) || 0), 0);
      const valid = numbers.every((n) => /^\d+$/.test(n.value) && Number(n.value) <= 100) && sum > 0;
      total.textContent = "total " + sum + (valid ? "" : " — each weight 0..100, total above 0");
      total.className = "total" + (valid ? "" : " bad");
      numbers.forEach((n, i) => { const pct = sum ? Math.round(100 * (Number(n.value) || 0) / sum) : 0;
        n.parentNode && (n.parentNode.querySelector(".pct").textContent = pct + "%"); });
      apply.disabled = !valid;
      return valid;
    };
    const rows = targets.map((t, i) => {
      const num = h("input", { type: "number", min: "0", max: "100", step: "1", value: t.weight, "data-index": i, class: "weight-input" });
      const slider = h("input", { type: "range", min: "0", max: "100", value: t.weight, "data-index": i, class: "weight-slider" });
      num.addEventListener("input", () => { view.dirty = true; slider.value = num.value; update(); });
      slider.addEventListener("input", () => { view.dirty = true; num.value = slider.value; update(); });
      numbers.push(num); sliders.push(slider);
      return h("div", { class: "row" }, h("span", { text: t.virtualNode + (t.port ? ":" + t.port : "") }), slider, num, h("span", { class: "pct" }));
    });
    const apply = h("button", { class: "primary", id: "weights-apply", onclick: async () => {
      if (!update()) return;
      apply.disabled = true;
      try {
        const r = await api("meshes/" + encodeURIComponent(view.mesh) + "/virtualRouters/" + encodeURIComponent(ref.parent) +
          "/routes/" + encodeURIComponent(ref.name) + "/weights", { method: "POST",
          body: { version: d.version, weights: numbers.map((n) => Number(n.value)) } });
        msg.className = "msg ok";
        msg.textContent = "Applied: the route is at version " + r.version + ".";
        view.dirty = false;
        d.version = r.version;
      } catch (e) {
        msg.className = "msg err";
        msg.textContent = (e.status === 409 ? "Not applied — " : "Refused — ") + e.message;
        apply.disabled = false;
      }
    } }, "Apply");
    const reset = h("button", { onclick: () => { view.dirty = false; showDetails(view, ref, side, false); } }, "Reload");
    const form = h("div", { class: "weights", id: "weights", "data-version": d.version },
      h("h2", { text: "Weights" }),
      h("p", { class: "muted", text: "Applied as UpdateRoute at version " + d.version + "; refused if the route changed meanwhile." }),
      rows, h("p", {}, total), h("p", {}, apply, " ", reset), msg);
    setTimeout(update, 0);
    return form;
  }

  // ---------------------------------------------------------------- proxies
  function proxyCard(p) {
    const types = Object.entries(p.types || {});
    return h("div", { class: "proxy", "data-node": p.nodeId },
      h("p", {}, badge(p.state), " ", h("b", { text: p.nodeId }), " ", h("span", { class: "muted", text: p.protocol + " · " + p.peer })),
      h("table", { class: "types" }, h("tr", {}, ["type", "state", "sent", "ACKed"].map((x) => h("th", { text: x }))),
        types.map(([t, st]) => h("tr", { "data-type": t }, h("td", { text: t }), h("td", {}, badge(st.state)),
          h("td", { class: "ver", title: st.versionSent || "", text: shortVersion(st.versionSent) }),
          h("td", { class: "ver", title: st.versionAcked || "", text: shortVersion(st.versionAcked) })))),
      types.filter(([, st]) => st.error).map(([t, st]) => h("div", {}, h("b", { text: t + " NACK" }),
        h("pre", { class: "nack", "data-type": t, text: st.error }))));
  }

  async function proxiesView() {
    const main = document.getElementById("main");
    const params = new URLSearchParams(location.hash.split("?")[1] || "");
    const mesh = h("select", { id: "proxy-mesh" }, h("option", { value: "", text: "every mesh" }));
    const node = h("input", { type: "search", id: "proxy-node", placeholder: "node id contains", value: params.get("node") || "" });
    const st = h("select", { id: "proxy-state" }, ["", "SYNCED", "STALE", "ERROR", "NOT_SENT", "DISCONNECTED"].map((x) =>
      h("option", { value: x, text: x || "any state" })));
    st.value = params.get("state") || "";
    const summary = h("span", { class: "muted", id: "proxy-summary" });
    const table = h("div", { id: "proxies" });
    const open = new Set();
    const dumps = new Map(); // stream -> { sent: versions sent, cell: its config dump cell }
    main.replaceChildren(h("h1", { text: "Proxies" }), h("div", { class: "toolbar" }, mesh, node, st, summary), table);
    // The mesh names for the filter load alongside the first page of proxies, not before it.
    const names = api("meshes").then((data) => {
      for (const m of data.meshes) mesh.append(h("option", { value: m.name, text: m.name }));
      mesh.value = params.get("mesh") || "";
    }).catch(() => { /* the list still works without the mesh names */ });
    let first = true;
    const refresh = async () => {
      const q = new URLSearchParams();
      const chosen = first ? (params.get("mesh") || "") : mesh.value;
      first = false;
      if (chosen) q.set("mesh", chosen);
      if (node.value.trim()) q.set("node", node.value.trim());
      if (st.value) q.set("state", st.value);
      const data = await api("proxies?" + q.toString());
      const typeNames = [];
      for (const p of data.proxies) for (const t of Object.keys(p.types)) if (!typeNames.includes(t)) typeNames.push(t);
      const head = h("tr", {}, ["proxy (node id)", "state", "protocol", "connected since", "last seen"].map((x) => h("th", { text: x })),
        typeNames.map((t) => h("th", { text: t + " sent / ACKed" })), h("th", { text: "config" }));
      const body = [];
      for (const p of data.proxies) {
        const key = p.stream;
        body.push(h("tr", { class: "proxy-row", "data-node": p.nodeId, "data-state": p.state },
          h("td", {}, h("b", { text: p.nodeId }), p.diagnostics.length ? h("div", { class: "diag", text: p.diagnostics.join("; ") }) : null),
          h("td", {}, badge(p.state)), h("td", { text: p.protocol }),
          h("td", { text: time(p.connectedSince) }), h("td", { text: time(p.lastSeen) }),
          typeNames.map((t) => { const x = p.types[t] || {};
            return h("td", { "data-type": t }, badge(x.state || "NOT_SENT"), h("div", { class: "ver", title: (x.versionSent || "") + " / " + (x.versionAcked || ""),
              text: shortVersion(x.versionSent) + " / " + shortVersion(x.versionAcked) }),
              x.error ? h("pre", { class: "nack", "data-type": t, text: x.error }) : null); }),
          h("td", {}, h("button", { class: "config-toggle", onclick: () => { open.has(key) ? open.delete(key) : open.add(key); refresh(); } },
            open.has(key) ? "hide" : "show"))));
        if (open.has(key)) {
          // An open dump is kept as it is (expanded branches and all) until the proxy is sent
          // something new; only then is it fetched again.
          const sent = Object.values(p.types).map((x) => x.versionSent || "").join("|");
          let kept = dumps.get(key);
          if (!kept || kept.sent !== sent) {
            const cell = h("td", { class: "config-cell" }, h("span", { class: "muted", text: "loading…" }));
            kept = { sent, cell };
            dumps.set(key, kept);
            loadConfig(p.nodeId, cell);
          }
          kept.cell.setAttribute("colspan", String(6 + typeNames.length));
          body.push(h("tr", { class: "config-row", "data-node": p.nodeId }, kept.cell));
        } else {
          dumps.delete(key);
        }
      }
      table.replaceChildren(h("table", {}, h("thead", {}, head), h("tbody", {}, body)));
      summary.textContent = data.proxies.length + " streams · server " + data.elapsedMs + " ms";
      rendered("proxies", data.version);
    };
    const onFilter = () => {
      const q = new URLSearchParams();
      if (mesh.value) q.set("mesh", mesh.value);
      if (node.value.trim()) q.set("node", node.value.trim());
      if (st.value) q.set("state", st.value);
      history.replaceState(null, "", "#/proxies" + (q.toString() ? "?" + q.toString() : ""));
      state.version = null;
      refresh();
    };
    mesh.addEventListener("change", onFilter); st.addEventListener("change", onFilter);
    let debounce = null;
    node.addEventListener("input", () => { clearTimeout(debounce); debounce = setTimeout(onFilter, 250); });
    await Promise.all([refresh(), names]);
    poll("version" + (mesh.value ? "?mesh=" + encodeURIComponent(mesh.value) : ""), refresh);
  }

  async function loadConfig(nodeId, cell) {
    try {
      const data = await api("proxies/config?node=" + encodeURIComponent(nodeId));
      const text = JSON.stringify(data.resources, null, 2);
      const copied = h("span", { class: "muted" });
      const copy = h("button", { class: "copy-config", onclick: async () => {
        try { await navigator.clipboard.writeText(text); }
        catch (e) { const ta = h("textarea", {}, text); document.body.append(ta); ta.select(); document.execCommand("copy"); ta.remove(); }
        copied.textContent = " copied " + text.length + " characters";
      } }, "Copy JSON");
      cell.replaceChildren(h("div", {}, copy, copied), jsonTree(data.resources, "resources", 1));
    } catch (e) {
      cell.replaceChildren(h("div", { class: "msg err", text: e.message }));
    }
  }

  // A collapsible JSON tree: <details> per object/array, children built when first opened.
  function jsonTree(value, label, openDepth) {
    const root = h("div", { class: "json" });
    root.append(node(label, value, 0));
    return root;
    function leaf(v) {
      if (typeof v === "string") return h("span", { class: "s", text: JSON.stringify(v) });
      if (typeof v === "number") return h("span", { class: "n", text: String(v) });
      return h("span", { class: "b", text: String(v) });
    }
    function node(key, v, depth) {
      if (v === null || typeof v !== "object") {
        return h("div", { class: "leaf" }, key !== null ? h("span", { class: "k", text: key + ": " }) : null, leaf(v));
      }
      const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v);
      const d = h("details", {});
      d.append(h("summary", {}, h("span", { class: "k", text: key }), h("span", { class: "muted",
        text: Array.isArray(v) ? " [" + v.length + "]" : " {" + entries.length + "}" })));
      let built = false;
      const build = () => { if (built) return; built = true; for (const [k, x] of entries) d.append(node(k, x, depth + 1)); };
      d.addEventListener("toggle", () => { if (d.open) build(); });
      if (depth < openDepth) { build(); d.open = true; }
      return d;
    }
  }

  // ---------------------------------------------------------------- router
  async function route() {
    stopPolling();
    state.version = null;
    const hash = location.hash || "#/meshes";
    for (const id of ["nav-meshes", "nav-proxies"]) document.getElementById(id).classList.remove("active");
    try {
      if (state.auth) {
        const who = await checkSession();
        if (!who.signedIn) { showSignIn(""); return; }
      }
      if (hash.startsWith("#/mesh/")) {
        await meshView(decodeURIComponent(hash.slice(7).split("?")[0]));
      } else if (hash.startsWith("#/proxies")) {
        document.getElementById("nav-proxies").classList.add("active");
        await proxiesView();
      } else {
        document.getElementById("nav-meshes").classList.add("active");
        await meshesView();
      }
    } catch (e) {
      hooks.errors.push(String(e && e.message));
      if (!(e instanceof ApiError && e.status === 403 && state.auth)) {
        document.getElementById("main").replaceChildren(h("div", { class: "msg err", id: "page-error", text: e.message }));
      }
    }
  }
  window.addEventListener("hashchange", route);
  route();
})();
