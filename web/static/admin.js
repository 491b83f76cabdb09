import { $, el, api, apiAll, dateTime, table, empty, showError, APIError } from "./app.js";

// Each section loads on its own: one missing or failing API leaves the others
// working. Status, audit, posture and telemetry follow the contracts of
// issues 4 and 7; where this server lacks one, the section says so.
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

async function users(root) {
  const r = await apiAll("/api/v1/users", "users");
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

async function status(root) {
  const s = await api("/api/v1/status");
  delete s.code;
  root.replaceChildren(kv(s));
}

async function telemetry(root) {
  const p = await api("/api/v1/telemetry/preview");
  const toggle = el("button", { type: "button", class: p.enabled ? "danger" : "" }, p.enabled ? "Turn telemetry off" : "Turn telemetry on");
  toggle.addEventListener("click", async () => {
    try {
      await api("/api/v1/telemetry/consent", { method: "PUT", body: { enabled: !p.enabled, payloadVersion: p.payloadVersion } });
      section("telemetry", telemetry);
    } catch (e) { showError(root, e); }
  });
  root.replaceChildren(el("p", {}, "Telemetry is ", el("strong", {}, p.enabled ? "on" : "off"), `. Payload version ${p.payloadVersion}.`),
    el("pre", { class: "payload", id: "telemetry-payload" }, JSON.stringify(p.payload, null, 2)), toggle);
}

async function posture(root) {
  const p = await api("/api/v1/security/posture");
  root.replaceChildren(el("p", {}, "Score ", el("strong", {}, `${p.score}/100`), "; worst finding: ", el("span", { class: `sev-${p.worst}` }, p.worst)),
    p.findings.length ? table([
      { label: "Severity", render: (f) => el("span", { class: `sev-${f.severity}` }, f.severity) },
      { label: "Finding", render: (f) => el("span", {}, el("strong", {}, f.title), el("br"), f.detail) },
      { label: "Fix", key: "fix" },
    ], p.findings, { id: "posture-table" }) : empty("No findings."));
}

$("#newservice").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const ns = $("#sa-scope").value.split(",").map((s) => s.trim()).filter(Boolean);
  try {
    await api("/api/v1/service-accounts", { method: "POST", body: { name: $("#sa-name").value.trim(), role: $("#sa-role").value, scope: ns.length ? { namespaces: ns } : {} } });
    $("#sa-name").value = "";
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
