// What the login and sign-up forms read: a failed login reads the account
// once (the audit trail's account id comes from that read), and a sign-up
// signs in with the account it created, without checking its password again
// (a password check always reads the account by e-mail first, with whether
// it has a second factor: AccountRepository.findForSignIn).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestTollgate, removeDirs, type TestTollgate } from '../support/tollgate.ts';
import { UserAgent } from '../support/user-agent.ts';
import { REDIRECT, authorizationRequest, relyingParty, type RP } from '../support/sign-in.ts';
import { countCalls, type CallCounts } from '../support/counting.ts';

const PASSWORD = 'correct horse battery';

describe('account reads behind the login and sign-up forms', () => {
  let t: TestTollgate;
  let rp: RP;
  let reads: CallCounts<'findByEmail' | 'findById' | 'findForSignIn' | 'create'>;
  let knownId: string;
  before(async () => {
    t = await startTestTollgate({ env: { SIGNUP_ENABLED: 'true' } });
    await t.tollgate.clients.register({ id: 'web', secret: 'web-client-secret-long-enough-0123456789', redirectUris: [REDIRECT], scope: 'openid email' });
    knownId = (await t.tollgate.accounts.create({ email: 'known@example.test', password: PASSWORD })).id;
    rp = await relyingParty(t, 'web', 'web-client-secret-long-enough-0123456789');
    reads = countCalls(t.tollgate.repositories.accounts, ['findByEmail', 'findById', 'findForSignIn', 'create']);
  });
  after(async () => {
    reads.restore();
    await t.close();
    await removeDirs(t.dirs);
  });

  /** The login page of a fresh authorization request, in a fresh browser. */
  const loginPage = async () => {
    const agent = new UserAgent();
    const page = await agent.navigate((await authorizationRequest(rp)).url.href, {}, REDIRECT);
    assert.equal(page.status, 200);
    return { agent, page };
  };

  const failures = () => t.tollgate.repositories.audit.list({ type: 'login.failure', limit: 1000 });

  for (const [what, login, accountId] of [
    ['a wrong password', 'known@example.test', () => knownId],
    ['an unknown e-mail', 'nobody@example.test', () => undefined],
  ] as const) {
    test(`a failed login with ${what} reads the account once, and the audit trail still names it`, async () => {
      const { agent, page } = await loginPage();
      const before = (await failures()).length;
      reads.reset();
      const failed = await agent.submit(page, '/login', { login, password: 'not the password' }, REDIRECT);
      assert.equal(failed.status, 401);
      // The sign-in's read: the account by e-mail, with whether it has a second factor, in one statement.
      assert.deepEqual(reads.calls, { findByEmail: 0, findById: 0, findForSignIn: 1, create: 0 });
      const after = await failures();
      assert.equal(after.length, before + 1, 'this attempt wrote one login.failure event');
      assert.equal(after[0]!.accountId, accountId());
    });
  }

  test('a sign-up creates the account and signs in with it: no password check, no account read by e-mail', async () => {
    const { agent, page } = await loginPage();
    const signupHref = page.body.match(/href="([^"]+\/signup)"/)![1]!;
    const form = await agent.navigate(new URL(signupHref, t.issuer).href, {}, REDIRECT);
    reads.reset();
    const done = await agent.submit(form, '/signup', { login: 'new@example.test', password: 'a long enough password' }, REDIRECT);
    assert.equal(reads.calls.create, 1);
    assert.equal(reads.calls.findByEmail, 0);
    assert.equal(reads.calls.findForSignIn, 0, 'nor again for the second-factor step: it was just made');
    // Signed in: on to consent (or back to the client), not the sign-up page again.
    assert.ok(done.url.startsWith(REDIRECT) || done.body.includes('/confirm'), `${done.status} ${done.url}`);
  });
});
