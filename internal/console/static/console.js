// Bulwark console: the one script, served from this origin (CSP
// script-src 'self'). It runs passkey ceremonies and moves a reset token
// from the URL fragment (never sent to the server) into the reset form.
"use strict";

async function post(url, body) {
  const r = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: body === undefined ? {} : {"Content-Type": "application/json"},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await r.json();
  if (!r.ok) throw new Error(data.error || "request failed");
  return data;
}

function showError(err) {
  const el = document.getElementById("passkey-error");
  if (el) el.textContent = String(err.message || err);
}

async function registerPasskey() {
  const opts = await post("/console/passkey/register");
  const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(opts.publicKey);
  const cred = await navigator.credentials.create({publicKey});
  const res = await post("/console/passkey/register/finish", cred.toJSON());
  location.assign(res.next);
}

async function loginPasskey() {
  const opts = await post("/console/passkey/login");
  const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(opts.publicKey);
  const cred = await navigator.credentials.get({publicKey});
  const res = await post("/console/passkey/login/finish", cred.toJSON());
  location.assign(res.next);
}

document.addEventListener("DOMContentLoaded", () => {
  const reg = document.getElementById("passkey-register");
  if (reg) reg.addEventListener("click", () => registerPasskey().catch(showError));
  const login = document.getElementById("passkey-login");
  if (login) login.addEventListener("click", () => loginPasskey().catch(showError));
  const token = document.getElementById("token");
  if (token && location.hash.startsWith("#token=")) {
    token.value = decodeURIComponent(location.hash.slice("#token=".length));
    history.replaceState(null, "", location.pathname);
  }
});
