// Passkeys in the browser (issue 16): runs the WebAuthn ceremony a form
// asks for and posts the credential back with the form. No fetch: the pages'
// CSP (default-src 'none'; script-src 'self') allows no connections, only
// this file and form posts. Served as-is from <issuer path>/assets.
//
// A page opts in with a form:
//   <form method="post" data-webauthn="create|get" data-webauthn-options="<options JSON from server/mfa/passkeys.ts>">
//     <input type="hidden" name="webauthn_response">
//     <button type="submit">…</button>
//     <p data-webauthn-message hidden data-unsupported="…" data-failed="…" role="alert"></p>
//   </form>
// On submit, the options are decoded (base64url → bytes, WebAuthn Level 3
// §5.1.8 JSON forms), navigator.credentials.create() or .get() runs, the
// credential's JSON goes into `webauthn_response`, and the form is posted.
// A cancelled or failed ceremony shows the form's failure text instead.
(function () {
  'use strict';

  function toBytes(b64u) {
    var b64 = b64u.replace(/-/g, '+').replace(/_/g, '/');
    var text = atob(b64 + '==='.slice((b64.length + 3) % 4));
    var bytes = new Uint8Array(text.length);
    for (var i = 0; i < text.length; i += 1) bytes[i] = text.charCodeAt(i);
    return bytes.buffer;
  }

  function toB64u(buffer) {
    var bytes = new Uint8Array(buffer);
    var text = '';
    for (var i = 0; i < bytes.length; i += 1) text += String.fromCharCode(bytes[i]);
    return btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  function descriptors(list) {
    return (list || []).map(function (d) { return { type: d.type || 'public-key', id: toBytes(d.id), transports: d.transports }; });
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    var o = Object.assign({}, json, { challenge: toBytes(json.challenge), excludeCredentials: descriptors(json.excludeCredentials) });
    o.user = Object.assign({}, json.user, { id: toBytes(json.user.id) });
    return o;
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    var o = Object.assign({}, json, { challenge: toBytes(json.challenge) });
    if (json.allowCredentials) o.allowCredentials = descriptors(json.allowCredentials);
    return o;
  }

  function credentialJson(credential) {
    if (typeof credential.toJSON === 'function') return credential.toJSON();
    var r = credential.response;
    var response = { clientDataJSON: toB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64u(r.attestationObject);
      response.transports = typeof r.getTransports === 'function' ? r.getTransports() : [];
    } else {
      response.authenticatorData = toB64u(r.authenticatorData);
      response.signature = toB64u(r.signature);
      if (r.userHandle) response.userHandle = toB64u(r.userHandle);
    }
    return {
      id: credential.id, rawId: toB64u(credential.rawId), type: credential.type, response: response,
      clientExtensionResults: credential.getClientExtensionResults(), authenticatorAttachment: credential.authenticatorAttachment || undefined,
    };
  }

  function say(form, key) {
    var message = form.querySelector('[data-webauthn-message]');
    if (!message) return;
    message.textContent = message.getAttribute('data-' + key) || '';
    message.hidden = false;
  }

  function ceremony(form) {
    var json = JSON.parse(form.getAttribute('data-webauthn-options'));
    if (form.getAttribute('data-webauthn') === 'create') return navigator.credentials.create({ publicKey: creationOptions(json) });
    return navigator.credentials.get({ publicKey: requestOptions(json) });
  }

  function start(form) {
    var field = form.querySelector('input[name="webauthn_response"]');
    if (!window.PublicKeyCredential || !navigator.credentials) {
      say(form, 'unsupported');
      return;
    }
    form.addEventListener('submit', function (event) {
      if (field.value) return; // filled by the ceremony: post it
      event.preventDefault();
      var button = form.querySelector('[type="submit"]');
      if (button) button.disabled = true;
      Promise.resolve().then(function () { return ceremony(form); }).then(function (credential) {
        field.value = JSON.stringify(credentialJson(credential));
        form.submit();
      }).catch(function () {
        if (button) button.disabled = false;
        say(form, 'failed');
      });
    });
  }

  var forms = document.querySelectorAll('form[data-webauthn]');
  for (var i = 0; i < forms.length; i += 1) start(forms[i]);
})();
