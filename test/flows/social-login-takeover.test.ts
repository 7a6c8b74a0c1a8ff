// Social login against pre-account takeover and the edges the security
// review found, without a browser (a cookie-keeping agent, cookies per host):
// - someone claims a victim's address through an upstream that does not vouch
//   for it (an account is created, unverified, linked to their identity);
//   the victim's password reset proves the address, and the claimant's
//   identity goes with it: they are back to "sign in to link";
// - an account nobody has proven links nothing from the account page;
// - prompt=login and max_age reach the upstream;
// - a name longer than ours is cut; an e-mail or a subject we cannot store is a page;
// - two unlinks at once never leave an account with no way in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as oidc from 'openid-client';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { startUpstreamOp, type UpstreamOp } from '../support/upstream-op.ts';
import { startSmtp, type TestSmtp } from '../support/smtp.ts';
import { authorizationRequest, relyingParty, REDIRECT, type RP } from '../support/sign-in.ts';
import { hostScopedFetch, UserAgent } from '../support/user-agent.ts';

const APP_SECRET = 'takeover-app-secret-0123456789abcdef';
const UPSTREAM_SECRET = 'takeover-upstream-secret-0123456789';
const VICTIM = 'victim@example.test';

describe('social login: pre-account takeover, re-authentication, odd profiles, concurrent unlinks', () => {
  let t: TestTollgate;
  let op: UpstreamOp;
  let smtp: TestSmtp;
  let rp: RP;

  before(async () => {
    smtp = await startSmtp();
    t = await startTestTollgate({ smtp, env: { ALLOW_PRIVATE_NETWORK_FETCH: 'true' } });
    op = await startUpstreamOp({
      clients: [{ clientId: 'tollgate', clientSecret: UPSTREAM_SECRET, redirectUris: [`${t.issuer}/interaction/federated/corp/callback`] }],
      // The claimant states the victim's address; the upstream does not vouch for it.
      users: [{ sub: 'claimant', email: VICTIM, email_verified: false, name: 'Not the victim' }],
    });
    await t.tollgate.providers.add({ id: 'corp', type: 'oidc', issuer: op.issuer, clientId: 'tollgate', clientSecret: UPSTREAM_SECRET, name: 'Corp', autoCreate: true, enabled: true });
    await t.tollgate.clients.register({ id: 'photo-prints', name: 'Photo Prints', secret: APP_SECRET, redirectUris: [REDIRECT], scope: 'openid email', firstParty: true });
    rp = await relyingParty(t, 'photo-prints', APP_SECRET);
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await op?.close();
    await smtp?.close();
  });

  const browser = () => new UserAgent({}, hostScopedFetch());

  /** The application's sign-in through "Continue with Corp": where it ends (the client's callback, or a page). */
  async function throughCorp(agent: UserAgent, params: Record<string, string> = {}) {
    const request = await authorizationRequest(rp, { scope: 'openid email', ...params });
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    return agent.submit(login, '/federated/corp', {}, REDIRECT);
  }

  test('a claimant\'s identity on an address nobody had proven goes when the owner resets the password', async () => {
    await op.setBehaviour({ signInAs: 'claimant' });
    const claimed = await throughCorp(browser());
    assert.ok(claimed.url.startsWith(REDIRECT), 'the claimant got an account (unverified) and signed in');
    const [account] = await t.tollgate.accounts.list({ email: VICTIM });
    assert.equal(account!.email_verified, false);
    assert.equal((await t.tollgate.repositories.linkedIdentities.listByAccount(account!.id)).length, 1);

    // The owner of the address: "Forgot password?", the link from their mailbox, a new password.
    const owner = browser();
    const forgot = await owner.navigate(`${t.issuer}/account/forgot-password`);
    const count = smtp.messages.length;
    await owner.submit(forgot, '/forgot-password', { email: VICTIM });
    const message = await smtp.waitFor((m) => smtp.messages.indexOf(m) >= count && JSON.stringify(m.to).includes(VICTIM) && /reset/i.test(m.subject ?? ''));
    const form = await owner.navigate(smtp.linkIn(message, `${t.issuer}/account/reset-password`));
    const done = await owner.submit(form, '/reset-password', { password: 'the owner chose this 2468' });
    assert.equal(done.status, 200, done.body.slice(0, 300));

    const after = (await t.tollgate.accounts.list({ email: VICTIM }))[0]!;
    assert.equal(after.email_verified, true, 'the reset proved the address');
    assert.deepEqual(await t.tollgate.repositories.linkedIdentities.listByAccount(after.id), [], "the claimant's identity is gone");
    const unlinked = (await t.tollgate.audit.page({ accountId: after.id, type: 'identity.unlinked', limit: 5 })).events[0];
    assert.equal((unlinked?.details as { reason?: string } | undefined)?.reason, 'linked_before_the_address_was_proven');
    // The claimant comes back: no sign-in, only "this account exists: sign in to it to link".
    const again = await throughCorp(browser());
    assert.ok(!again.url.startsWith(REDIRECT), 'the claimant is not signed in');
    assert.match(again.body, /already exists/);
  });

  test('prompt=login and max_age are passed on to the upstream, and the sign-in is a fresh one', async () => {
    await op.setUsers([...op.users, { sub: 'fresh', email: 'fresh@corp.example', email_verified: true, name: 'Fresh' }]);
    await op.setBehaviour({ signInAs: 'fresh' });
    const agent = browser();
    const first = await throughCorp(agent);
    assert.ok(first.url.startsWith(REDIRECT));
    const plain = (await op.received()).authorizations.at(-1)!;
    assert.equal(plain.prompt, undefined, 'an ordinary sign-in asks nothing more');
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const request = await authorizationRequest(rp, { scope: 'openid email', prompt: 'login', max_age: '60' });
    const login = await agent.navigate(request.url.href, {}, REDIRECT);
    const back = await agent.submit(login, '/federated/corp', {}, REDIRECT);
    assert.ok(back.url.startsWith(REDIRECT), back.body.slice(0, 300));
    const asked = (await op.received()).authorizations.at(-1)!;
    assert.equal(asked.prompt, 'login');
    assert.equal(asked.max_age, '60');
    const tokens = await oidc.authorizationCodeGrant(rp, new URL(back.url), { pkceCodeVerifier: request.verifier, expectedState: request.state, expectedNonce: request.nonce, maxAge: 60 });
    const authTime = tokens.claims()!.auth_time!;
    assert.ok(Math.abs(authTime - Date.now() / 1000) < 5, 'a fresh sign-in');
  });

  test('a first sign-in with a name longer than ours is cut to 200 characters; an e-mail we cannot store is a page, not a 500', async () => {
    const long = 'N'.repeat(255);
    await op.setUsers([...op.users, { sub: 'long-name', email: 'long@corp.example', email_verified: true, name: long }, { sub: 'odd-mail', email: 'odd@intranet', email_verified: true, name: 'Odd' }]);
    await op.setBehaviour({ signInAs: 'long-name' });
    const named = await throughCorp(browser());
    assert.ok(named.url.startsWith(REDIRECT), named.body.slice(0, 300));
    assert.equal((await t.tollgate.accounts.list({ email: 'long@corp.example' }))[0]!.name, long.slice(0, 200));

    await op.setBehaviour({ signInAs: 'odd-mail' });
    const odd = await throughCorp(browser());
    assert.equal(odd.status, 403, odd.body.slice(0, 300));
    assert.match(odd.body, /cannot be used for an account here/);
    assert.equal(await t.tollgate.repositories.linkedIdentities.find('corp', 'odd-mail'), undefined);

    // A subject no database can hold (PostgreSQL refuses NUL in text): the upstream's error, a page.
    await op.setUsers([...op.users, { sub: 'nul\u0000sub', email: 'nul@corp.example', email_verified: true, name: 'Nul' }]);
    await op.setBehaviour({ signInAs: 'nul\u0000sub' });
    const nul = await throughCorp(browser());
    assert.equal(nul.status, 502, nul.body.slice(0, 300));
    assert.match(nul.body, /did not say who you are/);
    assert.deepEqual(await t.tollgate.accounts.list({ email: 'nul@corp.example' }), []);
  });

  test('two unlinks at once of an account\'s last two identities leave it one', async () => {
    await t.tollgate.providers.add({ id: 'second', type: 'oidc', issuer: op.issuer, clientId: 'tollgate', clientSecret: UPSTREAM_SECRET, autoCreate: true, enabled: true });
    const account = await t.tollgate.accounts.createWithoutPassword({ email: 'two-ways@example.test', emailVerified: true });
    for (const providerId of ['corp', 'second']) {
      await t.tollgate.repositories.linkedIdentities.link({ providerId, upstreamSub: `two-ways-${providerId}`, accountId: account.id, email: 'two-ways@example.test', emailVerified: true });
    }
    const { createIdentities } = await import('../../server/federation/identities.ts');
    const identities = createIdentities({ identities: t.tollgate.repositories.linkedIdentities, accounts: t.tollgate.accounts, removeAccount: async () => undefined, audit: t.tollgate.audit });
    for (let round = 0; round < 5; round += 1) {
      const outcomes = await Promise.allSettled([identities.unlink(account.id, 'corp', {}), identities.unlink(account.id, 'second', {})]);
      const left = await t.tollgate.repositories.linkedIdentities.listByAccount(account.id);
      assert.ok(left.length >= 1, `round ${round}: ${JSON.stringify(outcomes.map((o) => o.status))} left none`);
      // Put both back for the next round.
      for (const providerId of ['corp', 'second']) {
        if (!left.some((i) => i.providerId === providerId)) {
          await t.tollgate.repositories.linkedIdentities.link({ providerId, upstreamSub: `two-ways-${providerId}`, accountId: account.id, email: 'two-ways@example.test', emailVerified: true });
        }
      }
    }
  });
});
