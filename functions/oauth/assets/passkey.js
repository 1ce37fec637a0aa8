// Passkeys on the hosted pages: "Sign in with a passkey" on /signin and "Add a passkey" on
// /account. The only script of the pages, served from their own origin (CSP script-src 'self');
// without it the buttons stay hidden and the password form works as before. It asks the API for
// a challenge, lets the browser's authenticator answer it, and posts the answer with the page's
// form (its CSRF token included), so the server signs in or adds the passkey as for any form.
(function () {
  "use strict";

  function fromBase64url(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) base64 += "=";
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) binary += String.fromCharCode(bytes[i]);
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The options as the API writes them (binary fields in base64url, nulls for "absent"), as
  // the browser's API takes them.
  function withoutNulls(value) {
    if (Array.isArray(value)) return value.map(withoutNulls);
    if (value && typeof value === "object") {
      var out = {};
      Object.keys(value).forEach(function (key) {
        if (value[key] !== null) out[key] = withoutNulls(value[key]);
      });
      return out;
    }
    return value;
  }

  function publicKeyOptions(options) {
    var publicKey = withoutNulls(options.publicKey);
    publicKey.challenge = fromBase64url(publicKey.challenge);
    if (publicKey.user) publicKey.user.id = fromBase64url(publicKey.user.id);
    ["allowCredentials", "excludeCredentials"].forEach(function (list) {
      (publicKey[list] || []).forEach(function (credential) {
        credential.id = fromBase64url(credential.id);
      });
    });
    return publicKey;
  }

  function credentialJson(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      response: { clientDataJSON: toBase64url(response.clientDataJSON) },
      clientExtensionResults: credential.getClientExtensionResults()
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      if (response.getTransports) json.response.transports = response.getTransports();
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      if (response.userHandle) json.response.userHandle = toBase64url(response.userHandle);
    }
    return json;
  }

  function wire(buttonId, optionsUrl, ceremony) {
    var button = document.getElementById(buttonId);
    var form = button && button.form;
    var problem = document.getElementById("passkey-error");
    if (!form || !window.PublicKeyCredential || !navigator.credentials) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      if (problem) problem.hidden = true;
      var body = new URLSearchParams();
      body.set("csrf_token", form.elements.csrf_token.value);
      fetch(optionsUrl, { method: "POST", credentials: "same-origin", body: body })
        .then(function (resp) {
          if (!resp.ok) throw new Error("options");
          return resp.json();
        })
        .then(function (answer) {
          var publicKey = publicKeyOptions(answer.options);
          return navigator.credentials[ceremony]({ publicKey: publicKey }).then(function (credential) {
            form.elements.challenge_id.value = answer.challenge_id;
            form.elements.credential.value = JSON.stringify(credentialJson(credential));
            form.submit();
          });
        })
        .catch(function () {
          button.disabled = false;
          if (problem) {
            problem.textContent = "That did not work. Try again, or use your password.";
            problem.hidden = false;
          }
        });
    });
  }

  wire("passkey-signin", "/signin/passkey/options", "get");
  wire("passkey-add", "/account/passkeys/options", "create");
})();
