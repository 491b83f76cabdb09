import { $, el, api, apiAll, dateTime, table, empty, showError, APIError, renderPosture } from "./app.js";

// Each section loads on its own: one missing or failing API leaves the others
// working; a section whose API this server does not offer (404) says so.
async function section(id, fn) {
  const root = $(`#${id}`);
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    await fn(root);
  } catch (e) {
    if (e instanceof APIError && e.status === 404) root.replaceChildren(el("p", { class: "muted" }, "Not available on this server."));
    else showError(root, e);
  }
}

function kv(obj) {
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of Object.entries(obj)) {
    if (v === null || v === undefined) continue;
    const isObj = typeof v === "object" && !Array.isArray(v);
    dl.append(el("dt", {}, k), el("dd", {}, isObj ? (Object.keys(v).length ? kv(v) : "—") : Array.isArray(v) ? v.join(", ") : String(v)));
  }
  return dl;
}

const scopeText = (s) => {
  if (!s || (!s.clusters && !s.namespaces && !s.selector)) return "all";
  return [s.clusters && `clusters=${s.clusters.join("|")}`, s.namespaces && `namespaces=${s.namespaces.join("|")}`, s.selector && `selector=${s.selector}`].filter(Boolean).join("; ");
};

// directory is every principal, fetched once per page view (the users and
// service-account tables, and the name of whoever decided on telemetry).
let principals;
const directory = () => (principals ??= apiAll("/api/v1/users", "users").catch((e) => { principals = undefined; throw e; }));
async function nameOf(id) {
  try {
    const u = (await directory()).users.find((x) => x.id === id);
    return u ? u.name : id;
  } catch {
    return id;
  }
}

async function users(root) {
  const r = await directory();
  const people = r.users.filter((u) => u.kind !== "service");
  root.replaceChildren(table([
    { label: "Name", render: (u) => { const b = el("button", { type: "button", class: "link" }, u.name); b.addEventListener("click", () => detail(u)); return b; } },
    { label: "Role", render: (u) => u.role || "none (pending)" },
    { label: "Scope", render: (u) => scopeText(u.scope) },
    { label: "State", key: "state" },
    { label: "MFA", render: (u) => (u.mfa ? "TOTP" : u.source === "oidc" ? "SSO" : "—") },
    { label: "Last seen", render: (u) => dateTime(u.lastSeenAt) },
  ], people, { id: "users-table" }));
  const services = r.users.filter((u) => u.kind === "service");
  const owners = Object.fromEntries(r.users.map((u) => [u.id, u.name]));
  $("#services").replaceChildren(services.length ? table([
    { label: "Name", render: (u) => { const b = el("button", { type: "button", class: "link" }, u.name); b.addEventListener("click", () => detail(u)); return b; } },
    { label: "Owner", render: (u) => owners[u.owner] || u.owner || "—" },
    { label: "Role", key: "role" },
    { label: "Scope", render: (u) => scopeText(u.scope) },
    { label: "State", key: "state" },
    { label: "", render: (u) => { const b = el("button", { type: "button", class: "secondary" }, "Issue token"); b.addEventListener("click", () => issue(u)); return b; } },
  ], services) : empty("No service accounts."));
}

async function issue(u) {
  const out = $("#newtoken");
  try {
    const t = await api(`/api/v1/service-accounts/${encodeURIComponent(u.id)}/tokens`, { method: "POST", body: { name: "dashboard" } });
    out.replaceChildren(el("div", { class: "notice" }, `Token for ${u.name}, shown once, expires ${dateTime(t.expiresAt)}:`, el("p", { class: "secret" }, t.token)));
  } catch (e) { showError(out, e); }
}

async function detail(u) {
  const root = $("#userdetail");
  root.replaceChildren(el("p", { class: "muted" }, "Loading…"));
  try {
    const [s, t] = await Promise.all([apiAll(`/api/v1/users/${encodeURIComponent(u.id)}/sessions`, "sessions"), apiAll(`/api/v1/users/${encodeURIComponent(u.id)}/tokens`, "tokens")]);
    const revoke = (path, label) => { const b = el("button", { type: "button", class: "danger" }, label); b.addEventListener("click", async () => { try { await api(path, { method: "DELETE" }); detail(u); } catch (e) { showError(root, e); } }); return b; };
    root.replaceChildren(el("h3", {}, `${u.name}: sessions`),
      s.sessions.length ? table([
        { label: "Started", render: (x) => dateTime(x.createdAt) }, { label: "Last used", render: (x) => dateTime(x.lastSeenAt) },
        { label: "From", render: (x) => `${x.addr || ""} ${x.userAgent || ""}` }, { label: "How", key: "method" },
        { label: "", render: (x) => (x.revokedAt ? "ended" : x.current ? "this one" : revoke(`/api/v1/users/${encodeURIComponent(u.id)}/sessions/${encodeURIComponent(x.id)}`, "End")) },
      ], s.sessions) : empty("No sessions."),
      el("h3", {}, `${u.name}: API tokens`),
      t.tokens.length ? table([
        { label: "Name", key: "name" }, { label: "Role", key: "role" }, { label: "Scope", render: (x) => scopeText(x.scope) },
        { label: "Expires", render: (x) => dateTime(x.expiresAt) }, { label: "Last used", render: (x) => dateTime(x.lastUsedAt) },
        { label: "", render: (x) => (x.revokedAt ? "revoked" : revoke(`/api/v1/users/${encodeURIComponent(u.id)}/tokens/${encodeURIComponent(x.id)}`, "Revoke")) },
      ], t.tokens) : empty("No tokens."));
  } catch (e) { showError(root, e); }
}

async function requests(root) {
  const r = await apiAll("/api/v1/access-requests?state=pending", "requests");
  if (!r.requests.length) { root.replaceChildren(empty("No pending access requests.")); return; }
  const act = (x, verb, cls) => { const b = el("button", { type: "button", class: cls }, verb); b.addEventListener("click", async () => { try { await api(`/api/v1/access-requests/${encodeURIComponent(x.id)}/${verb.toLowerCase()}`, { method: "POST", body: {} }); section("requests", requests); } catch (e) { showError(root, e); } }); return b; };
  root.replaceChildren(table([
    { label: "Who", key: "requester" }, { label: "Role", key: "role" }, { label: "Scope", render: (x) => scopeText(x.scope) },
    { label: "Reason", key: "reason" }, { label: "Asked", render: (x) => dateTime(x.createdAt) },
    { label: "", render: (x) => el("span", {}, act(x, "Approve", ""), " ", act(x, "Reject", "danger")) },
  ], r.requests, { id: "requests-table" }));
}

async function settings(root) {
  const s = await api("/api/v1/settings");
  delete s.code;
  root.replaceChildren(kv(s));
}

async function keys(root) {
  const k = await api("/api/v1/keys");
  root.replaceChildren(kv({ "key-encryption key": k.kek, provider: k.provider, "scheduled rotation": k.rotateEvery || "off" }),
    ...k.tenants.map((t) => el("div", {}, el("h3", {}, `Tenant ${t.tenant}`), table([
      { label: "Version", num: true, key: "version" }, { label: "State", key: "state" }, { label: "KEK", key: "kek" },
      { label: "Created", render: (v) => dateTime(v.created) }, { label: "Uses", num: true, key: "uses" },
    ], t.versions), el("p", { class: "muted small" }, `Re-encryption: ${t.reencryption}`))));
}

// ago turns seconds into a short duration.
function ago(secs) {
  if (secs < 120) return `${Math.round(secs)} s`;
  if (secs < 7200) return `${Math.round(secs / 60)} min`;
  if (secs < 172800) return `${Math.round(secs / 3600)} h`;
  return `${Math.round(secs / 86400)} d`;
}

function backfillText(b) {
  if (!b || !b.state) return "—";
  if (b.state === "complete") return `complete (${b.total} hours)`;
  if (b.state === "running") return `${Math.round(b.percent || 0)}% (${b.done}/${b.total} hours${b.etaSeconds ? `, about ${ago(b.etaSeconds)} left` : ""})`;
  return b.state;
}

// status: GET /api/v1/status is {data: {ready, time, sources: [...]}}.
async function status(root) {
  const s = (await api("/api/v1/status")).data;
  const sources = s.sources || [];
  const notes = (x) => [...(x.warnings || []), ...(x.partialCount ? [`${x.partialCount} partial hours`] : []), ...(x.gaps ? [`${x.gaps} gaps`] : []),
    ...(x.kubernetes ? [`Kubernetes API ${x.kubernetes.synced ? "synced" : "not synced"}: ${x.kubernetes.nodes} nodes, ${x.kubernetes.pods} pods`] : [])].join("; ") || "—";
  root.replaceChildren(
    el("p", { id: "ready" }, s.ready ? el("span", { class: "ok" }, "Ready.") : el("span", { class: "bad" }, "Not ready."),
      s.ready ? " Cost data is stored and queries are answered." : " No hour of cost data is stored yet.",
      el("span", { class: "muted small" }, ` As of ${dateTime(s.time)}.`)),
    sources.length ? table([
      { label: "Cluster", key: "cluster" },
      { label: "Source", render: (x) => (x.url ? `${x.kind} (${x.url})` : x.kind) },
      { label: "State", render: (x) => el("span", { class: x.state === "ok" ? "ok" : x.state === "degraded" ? "bad" : null }, x.state) },
      { label: "Newest data", render: (x) => (x.lastSample ? `${dateTime(x.lastSample)}${x.lagSeconds != null ? ` (${ago(x.lagSeconds)} ago)` : ""}` : "—") },
      { label: "Backfill", render: (x) => backfillText(x.backfill) },
      { label: "Hours without data", num: true, key: "hoursWithoutData" },
      { label: "Last error", render: (x) => (x.lastError ? `${x.lastError}${x.lastErrorAt ? ` at ${dateTime(x.lastErrorAt)}` : ""}${x.consecutiveFailures ? `; ${x.consecutiveFailures} failures in a row${x.nextRetry ? `, next try ${dateTime(x.nextRetry)}` : ""}` : ""}` : "—") },
      { label: "Notes", render: notes },
    ], sources, { id: "sources-table" }) : empty("No cluster sources are configured."));
}

// telemetry: the exact payload (GET /api/v1/telemetry/preview), the recorded
// decision (GET /api/v1/telemetry/consent), and a button that gives or
// withdraws consent (PUT, audited).
async function telemetry(root) {
  const [p, c] = await Promise.all([api("/api/v1/telemetry/preview"), api("/api/v1/telemetry/consent")]);
  const decided = c.at
    ? `Consent ${c.enabled ? "given" : "withdrawn"} by ${await nameOf(c.by)} on ${dateTime(c.at)}, for payload version ${c.payloadVersion}.`
    : "No decision recorded: telemetry is off until an administrator turns it on.";
  const msg = el("div", { id: "telemetry-error" });
  const toggle = el("button", { type: "button", id: "telemetry-toggle", class: c.enabled ? "danger" : null }, c.enabled ? "Turn telemetry off" : "Turn telemetry on");
  if (!c.available && !c.enabled) {
    // Consent could not turn it on here: say why instead of offering the button.
    toggle.disabled = true;
    msg.replaceChildren(el("p", { class: "muted", id: "telemetry-unavailable" }, `Telemetry cannot be turned on: ${c.unavailable}.`));
  }
  toggle.addEventListener("click", async () => {
    toggle.disabled = true;
    try {
      await api("/api/v1/telemetry/consent", { method: "PUT", body: { enabled: !c.enabled, payloadVersion: p.payloadVersion } });
      await section("telemetry", telemetry);
    } catch (e) {
      toggle.disabled = false;
      showError(msg, e);
    }
  });
  root.replaceChildren(
    el("p", { id: "telemetry-state" }, "Telemetry is ", el("strong", {}, p.enabled ? "on" : "off"), `. Payload version ${p.payloadVersion}.`),
    el("p", { class: "muted small", id: "telemetry-consent" }, decided),
    c.enabled && !p.enabled ? el("p", { class: "notice" }, "Consent is recorded, but nothing is sent: the server is air-gapped, or the consent was for another payload version.") : "",
    el("pre", { class: "payload", id: "telemetry-payload" }, JSON.stringify(p.payload, null, 2)), toggle, msg);
}

// posture: GET /api/v1/security/posture (shared renderer in app.js).
async function posture(root) {
  renderPosture(root, await api("/api/v1/security/posture"));
}

$("#newservice").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const ns = $("#sa-scope").value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    await api("/api/v1/service-accounts", { method: "POST", body: { name: $("#sa-name").value.trim(), role: $("#sa-role").value, scope: ns.length ? { namespaces: ns } : {} } });
    $("#sa-name").value = "";
    principals = undefined;
    section("users", users);
  } catch (e) { showError($("#newtoken"), e); }
});

section("statuspanel", status);
section("users", users);
section("requests", requests);
section("settings", settings);
section("keys", keys);
section("telemetry", telemetry);
section("posture", posture);
