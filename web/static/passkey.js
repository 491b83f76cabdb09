// costwarden passkeys (WebAuthn). The only script of the pages: it is loaded
// from /static (the CSP forbids inline scripts), and every page works without it
// (the TOTP code field stays). It shows the passkey buttons only where the
// browser supports WebAuthn.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  function dec(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) { s += "="; }
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }
  function enc(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function ids(list) {
    return (list || []).map(function (c) { return Object.assign({}, c, { id: dec(c.id) }); });
  }
  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (j) {
        if (!r.ok) { throw new Error(j.message || ("HTTP " + r.status)); }
        return j;
      });
    });
  }
  function say(el, msg) {
    var out = document.getElementById(el.getAttribute("data-status"));
    if (out) { out.textContent = msg; out.hidden = false; }
  }
  function answer(c) {
    var r = { clientDataJSON: enc(c.response.clientDataJSON) };
    if (c.response.attestationObject) { r.attestationObject = enc(c.response.attestationObject); }
    if (c.response.authenticatorData) { r.authenticatorData = enc(c.response.authenticatorData); }
    if (c.response.signature) { r.signature = enc(c.response.signature); }
    if (c.response.userHandle) { r.userHandle = enc(c.response.userHandle); }
    return { id: c.id, rawId: enc(c.rawId), type: c.type, response: r };
  }
  document.querySelectorAll("[data-passkey-login]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      post("/login/passkey/begin", {}).then(function (o) {
        var pk = o.publicKey;
        pk.challenge = dec(pk.challenge);
        pk.allowCredentials = ids(pk.allowCredentials);
        return navigator.credentials.get({ publicKey: pk });
      }).then(function (c) {
        return post("/login/passkey/finish", answer(c));
      }).then(function (j) {
        window.location.assign(j.redirect || "/account");
      }).catch(function (e) { say(btn, "The passkey did not work: " + e.message); });
    });
  });
  document.querySelectorAll("[data-passkey-register]").forEach(function (btn) {
    btn.hidden = false;
    btn.addEventListener("click", function () {
      var name = document.getElementById(btn.getAttribute("data-name"));
      post("/api/v1/me/passkeys/begin", { name: name ? name.value : "" }).then(function (o) {
        var pk = o.publicKey;
        pk.challenge = dec(pk.challenge);
        pk.user.id = dec(pk.user.id);
        pk.excludeCredentials = ids(pk.excludeCredentials);
        return navigator.credentials.create({ publicKey: pk });
      }).then(function (c) {
        return post("/api/v1/me/passkeys/finish", answer(c));
      }).then(function () {
        window.location.reload();
      }).catch(function (e) { say(btn, "The passkey was not added: " + e.message); });
    });
  });
}());
