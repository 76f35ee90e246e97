// Anju console: live events (server-sent events), gate commands, workflow forms.
// Plain JavaScript, no build step; every request that changes state sends the CSRF token.
"use strict";

const L = JSON.parse(document.getElementById("labels")?.textContent || "{}");
const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";
const MAX_ROWS = 200;

function label(key) { return L[key] || key; }

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? "")));
  return node;
}

// times are shown in the community's time zone, as the server-rendered parts are
const TZ = document.body?.dataset.tz || undefined;

function hhmmss(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleTimeString("zh-CN", { hour12: false, timeZone: TZ });
}

function fullTime(iso) {
  return new Date(iso).toLocaleString("zh-CN", { hour12: false, timeZone: TZ });
}

async function send(method, url, body) {
  const response = await fetch(url, {
    method,
    headers: { "Content-Type": "application/json", "X-CSRF-Token": CSRF },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  let data = null;
  try { data = await response.json(); } catch (_) { data = null; }
  if (!response.ok) {
    const detail = data && data.detail;
    // a validation error (422) is a list: say which field and why, in words
    const words = Array.isArray(detail)
      ? detail.map((d) => `${(d.loc || []).slice(-1)[0] || ""}: ${d.msg || ""}`).join("; ")
      : detail;
    throw new Error(typeof words === "string" ? words : String(response.status));
  }
  return data;
}

// ------------------------------------------------------------------ live page

function eventRow(ev) {
  const thumb = ev.thumb ? el("img", { src: ev.thumb, alt: (ev.kind === "alarm" ? "face " : "plate ") + (ev.subject || ""), class: "thumb", loading: "lazy" }) : "";
  return el("tr", { class: "ev lv-" + ev.level, "data-kind": ev.kind, "data-gate": ev.gate || "", "data-id": ev.id },
    el("td", { class: "t" }, hhmmss(ev.ts)),
    el("td", {}, ev.kind_label),
    el("td", {}, ev.gate_name || ev.gate || ev.device),
    el("td", { class: "sum" }, ev.summary, openFromRow(ev)),
    el("td", {}, thumb));
}

// A refused car: "open this gate" fills that gate's command form (reason still required,
// the command is audited like any other) and puts the cursor in the reason.
function openFromRow(ev) {
  if (ev.kind !== "gate_decision" || ev.decision !== "refuse") return "";
  const form = document.querySelector(`form.gate-cmd[data-gate="${CSS.escape(ev.gate || "")}"]`);
  if (!form) return "";
  const button = el("button", { type: "button", class: "small open-from-row" }, label("open"));
  button.addEventListener("click", () => {
    form.reason.value = `${ev.subject || ""} `;
    form.scrollIntoView({ block: "center" });
    form.reason.focus();
  });
  return button;
}

function startLive() {
  const panel = document.querySelector(".page-live .events");
  if (!panel) return;
  const site = panel.dataset.site;
  const rows = document.getElementById("event-rows");
  const gateSel = document.getElementById("filter-gate");
  const kindSel = document.getElementById("filter-kind");
  const badge = document.getElementById("stream-state");
  let source = null;

  function visible(ev) {
    // one row per passage: its read, barrier and ack steps show only when asked for by kind
    if (!kindSel.value && ev.passage_step) return false;
    return (!gateSel.value || ev.gate === gateSel.value) && (!kindSel.value || ev.kind === kindSel.value);
  }
  function add(ev, top) {
    if (ev.kind === "gate_state") updateGate(ev);
    if (!visible(ev)) return;
    rows.querySelector("tr.empty")?.remove();
    const row = eventRow(ev);
    if (top) { rows.prepend(row); row.classList.add("new"); } else rows.append(row);
    while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
  }
  async function load() {
    if (source) source.close();
    const q = new URLSearchParams({ site, limit: "60" });
    if (gateSel.value) q.set("gate", gateSel.value);
    if (kindSel.value) q.set("kind", kindSel.value);
    const data = await (await fetch("/api/events?" + q, { credentials: "same-origin" })).json();
    rows.replaceChildren();
    const evs = data.events || [];
    for (const ev of evs.slice().reverse()) add(ev, false);
    if (!evs.length) rows.append(el("tr", { class: "empty" }, el("td", { colspan: 5 }, label("waiting"))));
    const after = evs.reduce((m, e) => Math.max(m, e.seq || 0), 0);
    const s = new URLSearchParams({ site });
    if (after) s.set("after", String(after));
    source = new EventSource("/api/events/stream?" + s);
    source.addEventListener("hello", () => { badge.textContent = label("stream.on"); badge.className = "badge on"; });
    source.addEventListener("event", (m) => add(JSON.parse(m.data), true));
    // the server ends the stream when the session is gone (disabled, logged out, expired)
    source.addEventListener("logout", () => { source.close(); window.location.assign("/login"); });
    source.onerror = () => { badge.textContent = label("stream.off"); badge.className = "badge off"; };
  }
  gateSel.addEventListener("change", load);
  kindSel.addEventListener("change", load);
  load();
  setInterval(refreshDevices, 5000);
}

function updateGate(ev) {
  const card = document.querySelector(`.gate[data-gate="${CSS.escape(ev.gate || "")}"]`);
  if (!card) return;
  const pos = card.querySelector('[data-role="position"]');
  const position = ["open", "closed", "fault"].includes(ev.position) ? ev.position : "unknown";
  pos.textContent = label("pos." + position);
  pos.className = "pos pos-" + position;
}

async function refreshDevices() {
  const table = document.getElementById("devices");
  if (!table) return;
  try {
    const data = await (await fetch("/api/devices?site=" + encodeURIComponent(table.dataset.site), { credentials: "same-origin" })).json();
    const body = table.querySelector("tbody");
    body.replaceChildren(...data.devices.map((d) => el("tr", {},
      el("td", {}, d.device),
      el("td", {}, el("span", { class: "dot " + d.state }), label(d.state), d.tamper ? el("span", { class: "badge warn" }, " " + label("tamper")) : ""),
      el("td", {}, hhmmss(d.last_heartbeat)),
      el("td", { class: "rejects", title: Object.entries(d.rejected_reasons || {}).map(([r, n]) => r + ": " + n).join("\n") }, String(d.rejected_24h || 0)))));
  } catch (_) { /* next round */ }
}

// ------------------------------------------------------------------ car park (refreshed every 5 s)

function startCarPark() {
  const panel = document.getElementById("carpark");
  if (!panel) return;
  async function refresh() {
    try {
      const r = await fetch("/api/carpark?site=" + encodeURIComponent(panel.dataset.site), { credentials: "same-origin" });
      const park = await r.json();
      for (const slot of park.slots || []) {
        const g = panel.querySelector(`g[data-slot="${CSS.escape(slot.id)}"]`);
        if (!g) continue;
        const state = slot.occupied === null ? "unk" : slot.occupied ? "occ" : "free";
        g.classList.remove("occ", "free", "unk");
        g.classList.add(state);
        const plate = g.querySelector("text.plate");
        if (plate) plate.textContent = slot.plate || "";
      }
      for (const z of park.zones || []) {
        const row = document.querySelector(`tr[data-zone="${CSS.escape(z.zone)}"]`);
        if (!row) continue;
        row.querySelector('[data-n="occupied"]').textContent = z.occupied;
        row.querySelector('[data-n="free"]').textContent = z.slots - z.occupied - z.unknown;
        row.querySelector('[data-n="unknown"]').textContent = z.unknown;
      }
      document.getElementById("occupied-count").textContent = park.occupied;
      if (park.has_data) document.getElementById("carpark-partial")?.remove();
    } catch (_) { /* next round */ }
  }
  setInterval(refresh, 5000);
}

// ------------------------------------------------------------------ gate commands

function bindGateForms() {
  for (const form of document.querySelectorAll("form.gate-cmd")) {
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const action = e.submitter?.value || "open";
      const reason = form.reason.value.trim();
      const status = form.parentElement.querySelector('[data-role="cmd-status"]');
      if (reason.length < 3) { status.textContent = label("reason"); form.reason.focus(); return; }
      const buttons = form.querySelectorAll("button");
      buttons.forEach((b) => (b.disabled = true));
      status.className = "cmd-status sent";
      status.textContent = `${action} · ${label("cmd.sent")} …`;
      try {
        const out = await send("POST", `/api/gates/${encodeURIComponent(form.dataset.site)}/${encodeURIComponent(form.dataset.gate)}/command`, { action, reason });
        status.className = "cmd-status " + out.display;
        status.textContent = `${action} · ${label("cmd." + out.display)}` + (out.detail ? ` · ${out.detail}` : "") + ` · ${hhmmss(out.acked_at || out.sent_at)}`;
        if (out.display === "acknowledged") form.reason.value = "";
      } catch (err) {
        status.className = "cmd-status failed";
        status.textContent = `${action} · ${label("cmd.failed")} · ${err.message}`;
      } finally {
        buttons.forEach((b) => (b.disabled = false));
      }
    });
  }
}

// ------------------------------------------------------------------ violations workflow

function bindCaseForms() {
  for (const form of document.querySelectorAll("form.act")) {
    const triage = form.querySelector(".triage-only");
    const sync = () => { triage.hidden = form.elements.action.value !== "triage"; };
    form.elements.action.addEventListener("change", sync);
    sync();
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const out = form.querySelector(".act-result");
      const step = { action: form.elements.action.value, note: form.note.value };
      if (step.action === "triage") {
        step.decision = form.decision.value;
        if (form.deadline.value) step.deadline = new Date(form.deadline.value).toISOString();
      }
      try {
        const data = await send("POST", `/api/violations/${encodeURIComponent(form.dataset.vid)}/act`, step);
        out.className = "act-result ok";
        out.textContent = "✓ " + data.violation.status;
        setTimeout(() => location.reload(), 600);
      } catch (err) {
        out.className = "act-result bad";
        out.textContent = err.message;
      }
    });
  }
}

// ------------------------------------------------------------------ visitor passes

function bindPassForm() {
  const form = document.getElementById("new-pass");
  if (!form) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const box = document.getElementById("pass-result");
    try {
      const p = await send("POST", "/api/passes", {
        site: form.dataset.site, plate: form.plate.value, host_unit: form.host_unit.value, hours: Number(form.hours.value),
      });
      // the QR code is an SVG made by the server (segno) from the pass's own data
      box.innerHTML = p.qr_svg;
      box.append(el("p", {}, `${p.id} · ${p.plate} · ${p.host_unit} · ${label("valid_until")}: ${fullTime(p.valid_until)}`));
      const tbody = document.querySelector("#passes tbody");
      tbody.prepend(el("tr", { class: "valid" }, el("td", {}, p.id), el("td", { class: "plate-cell" }, p.plate),
        el("td", {}, p.host_unit), el("td", {}, fullTime(p.valid_until)), el("td", {}, label("from_console"))));
      form.reset();
    } catch (err) {
      box.textContent = "✗ " + err.message;
    }
  });
}

// ------------------------------------------------------------------ accounts (admin)

function bindUserForms() {
  const form = document.getElementById("user-form");
  if (!form) return;
  const out = document.getElementById("user-result");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = { username: form.username.value.trim(), password: form.password.value, role: form.role.value };
    if (form.scope.value) body.scope = form.scope.value;
    try {
      await send("POST", "/api/users", body);
      out.className = "act-result ok"; out.textContent = "✓ " + body.username;
      setTimeout(() => location.reload(), 500);
    } catch (err) { out.className = "act-result bad"; out.textContent = err.message; }
  });
  for (const button of document.querySelectorAll("button[data-disable]")) {
    button.addEventListener("click", async () => {
      try { await send("POST", `/api/users/${encodeURIComponent(button.dataset.disable)}/disable`); location.reload(); }
      catch (err) { out.className = "act-result bad"; out.textContent = err.message; }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const sel of document.querySelectorAll("select[data-autosubmit]")) {
    sel.addEventListener("change", () => sel.form.submit());
  }
  startLive();
  startCarPark();
  bindGateForms();
  bindCaseForms();
  bindPassForm();
  bindUserForms();
});
