// tollgate/bff's cookies on an https origin (the flows tests run on
// http://localhost, where browsers refuse Secure cookies from plain HTTP):
// every cookie is Secure and named with the __Secure- prefix (RFC 6265bis
// §4.1.3.1), so that a browser takes it only over HTTPS and a plain-HTTP
// page of the same host cannot plant one in its place; the rest as there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSealer } from '../../server/bff/sealed.ts';
import { sessionCookies, type Session } from '../../server/bff/session-cookies.ts';

const session: Session = { bid: 'b'.repeat(22), sub: 'ada', sid: 'sid-1', remember: true, expiresAt: Date.now() + 3_600_000, signedInAt: Date.now() };

test('on https every BFF cookie is Secure, __Secure- prefixed, HttpOnly, host-only and scoped to the BFF\'s path, and reads back', async () => {
  const cookies = sessionCookies(createSealer([randomBytes(32).toString('base64url')]), { prefix: '/bff', secure: true, now: Date.now });
  const lines = [
    ...await cookies.write(session, { refreshToken: 'rt', accessToken: 'at', accessTokenExpiresAt: Date.now() + 60_000 }),
    await cookies.writeLogin({ state: 's', nonce: 'n', verifier: 'v', returnTo: '/' }),
    ...cookies.clear(),
    cookies.clearLogin(),
  ];
  assert.equal(lines.length, 8);
  for (const line of lines) {
    assert.match(line, /^__Secure-tollgate-bff-(session|refresh|access|login)=/, line.split('=')[0]);
    assert.match(line, /; Secure(;|$)/);
    assert.match(line, /; HttpOnly(;|$)/);
    assert.match(line, /; Path=\/bff(;|$)/);
    assert.doesNotMatch(line, /Domain=/i);
  }
  const header = lines.slice(0, 3).map((l) => l.split(';')[0]).join('; ');
  const read = await cookies.read(header);
  assert.equal(read.kind, 'signed-in');
  // The unprefixed names (what a plain-HTTP page could set) are not read on https.
  const unprefixed = header.replaceAll('__Secure-', '');
  assert.equal((await cookies.read(unprefixed)).kind, 'none');
});
