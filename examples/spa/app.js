// The page of a single-page app behind tollgate/bff. It never sees the
// refresh token (an HttpOnly cookie that only the BFF reads) and keeps the
// access token in a variable: not in localStorage, not in a cookie, gone on
// reload, when the page asks the BFF again.
const $ = (id) => document.getElementById(id);
// POSTs to the BFF carry this header: a form or another site's script cannot send it.
const bff = (path, init = {}) => fetch(`/bff${path}`, { ...init, headers: { ...init.headers, 'X-Tollgate-BFF': '1' } });

let accessToken; // { value, expiresAt }, in memory only

function show(who) {
  $('signed-out').hidden = who.signedIn;
  $('signed-in').hidden = !who.signedIn;
  $('name').textContent = who.signedIn ? who.name ?? who.email ?? who.sub : '';
  $('status').textContent = who.signedIn ? '' : 'You are signed out.';
}

function signedOut() {
  accessToken = undefined;
  show({ signedIn: false });
}

// An access token, re-issued silently by the BFF when the one in memory is
// about to expire (or was refused); undefined when the sign-in has ended.
async function token(force) {
  if (!force && accessToken && Date.now() < accessToken.expiresAt - 10_000) return accessToken.value;
  const res = await bff('/token', { method: 'POST' });
  if (res.status === 401) return signedOut(); // login_required: logged out elsewhere, forced logout, reuse detected
  if (!res.ok) throw new Error(`the BFF answered ${res.status}`);
  const { access_token, expires_in } = await res.json();
  accessToken = { value: access_token, expiresAt: Date.now() + expires_in * 1000 };
  return accessToken.value;
}

async function report(res) {
  $('output').dataset.status = res.status;
  $('output').textContent = `${res.status} ${await res.text()}`;
}

// The token from memory in the Authorization header; once more with a fresh one if the API says it expired.
$('call-api').addEventListener('click', async () => {
  const call = async (force) => {
    const value = await token(force);
    return value && fetch('/api/notes', { headers: { authorization: `Bearer ${value}` } });
  };
  let res = await call(false);
  if (res?.status === 401) res = await call(true);
  if (res) await report(res);
});

// Token-handler mode: the BFF attaches the token; the page never holds one.
$('call-proxy').addEventListener('click', async () => {
  const res = await fetch('/bff/api/notes');
  if (res.status === 401 && (await res.clone().json().catch(() => ({}))).error === 'login_required') return signedOut();
  await report(res);
});

$('sign-in').addEventListener('click', () => {
  location.href = `/bff/login?return_to=${encodeURIComponent(location.pathname)}`;
});

$('sign-out').addEventListener('click', async () => {
  const { logoutUrl } = await (await bff('/logout', { method: 'POST' })).json();
  signedOut();
  location.href = logoutUrl; // the authorization server ends its session too (RP-initiated logout)
});

// First render, and after every reload: the BFF says from its cookies whether someone is signed in.
show(await (await fetch('/bff/session')).json());
