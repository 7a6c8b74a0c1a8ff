// The CLI's second-factor commands, run as an operator runs them beside a
// server on PostgreSQL: a client's --require-mfa, and `users reset-mfa`,
// which removes a person's factors and ends their sign-ins, printing a
// confirmation without any secret.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as OTPAuth from 'otpauth';
import { runCli } from '../support/processes.ts';
import { createDatabase, requirePostgres, startPostgres, type PostgresServer } from '../support/postgres.ts';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { basicAuth } from '../support/admin.ts';
import { REDIRECT, signIn } from '../support/sign-in.ts';

const PASSWORD = 'correct horse battery';
const SCOPE = 'openid offline_access basic';

describe('tollgate CLI: second factors', { skip: requirePostgres() }, () => {
  let postgres: PostgresServer;
  let t: TestTollgate;
  let env: Record<string, string>;
  const json = <T>(stdout: string) => JSON.parse(stdout) as T;
  const ok = async <T = Record<string, unknown>>(args: string[]) => {
    const r = await runCli(args, env);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return json<T>(r.stdout);
  };

  before(async () => {
    postgres = await startPostgres();
    t = await startTestTollgate({ databaseUrl: await createDatabase(postgres, 'mfa_cli') });
    env = { DATABASE_URL: t.config.database.url!, DATA_DIR: t.dirs.data, KEYS_DIR: t.dirs.keys, ISSUER: t.issuer };
  });
  after(async () => {
    await t?.close();
    if (t) await removeDirs(t.dirs);
    postgres?.stop();
  });

  test('clients add --require-mfa, clients update --no-require-mfa / --require-mfa; list and show say so', async () => {
    const added = await ok<{ client: { require_mfa: boolean } }>(['clients', 'add', '--id', 'payroll', '--redirect-uri', REDIRECT, '--require-mfa']);
    assert.equal(added.client.require_mfa, true);
    assert.equal((await ok<{ client: { require_mfa: boolean } }>(['clients', 'add', '--id', 'wiki', '--redirect-uri', REDIRECT])).client.require_mfa, false);
    assert.equal((await ok(['clients', 'show', '--id', 'payroll'])).require_mfa, true);

    assert.equal((await ok(['clients', 'update', '--id', 'payroll', '--no-require-mfa'])).require_mfa, false);
    assert.equal((await ok(['clients', 'update', '--id', 'wiki', '--require-mfa'])).require_mfa, true);
    const list = await ok<Array<{ client_id: string; require_mfa: boolean }>>(['clients', 'list']);
    assert.deepEqual(list.map((c) => [c.client_id, c.require_mfa]), [['payroll', false], ['wiki', true]]);
    // The running server's oidc-provider sees the change (the sign-in reads it from the client).
    assert.equal((await t.tollgate.provider.Client.find('wiki') as unknown as { require_mfa?: boolean }).require_mfa, true);

    const nothing = await runCli(['clients', 'update', '--id', 'wiki'], env);
    assert.equal(nothing.code, 2, nothing.stderr);
    assert.match(nothing.stderr, /--require-mfa or --no-require-mfa/);
    const unknown = await runCli(['clients', 'update', '--id', 'nobody', '--require-mfa'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no client with id "nobody"/);
  });

  test('users reset-mfa: factors gone, refresh token refused, a confirmation without any secret; audited as the CLI', async () => {
    const email = 'ada@example.test';
    const account = await t.tollgate.accounts.create({ email, password: PASSWORD });
    // Signed in before the factor exists (with it, the password alone leads to the second step).
    const webSecret = (await t.tollgate.clients.register({ id: 'web', redirectUris: [REDIRECT], scope: SCOPE, firstParty: true })).client_secret!;
    const { tokens } = await signIn(t, { clientId: 'web', secret: webSecret, email, password: PASSWORD, scope: SCOPE });
    const enrolment = await t.tollgate.mfa.startTotpEnrolment({ id: account.id, email });
    const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(enrolment.secret), algorithm: 'SHA1', digits: 6, period: 30 });
    assert.equal(await t.tollgate.mfa.confirmTotp(account.id, totp.generate()), 'ok');
    const codes = await t.tollgate.mfa.regenerateRecoveryCodes(account.id);

    const r = await runCli(['users', 'reset-mfa', '--email', 'ADA@example.test'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = json<Record<string, unknown> & { ended: { sessions: number } }>(r.stdout);
    assert.equal(out.account, account.id);
    assert.equal(out.factors_reset, true);
    assert.equal(out.totp, true);
    assert.equal(out.recovery_codes, true);
    assert.equal(out.passkeys, 0);
    assert.equal(out.ended.sessions, 1);
    for (const secret of [enrolment.secret, enrolment.groupedSecret, ...codes, webSecret, tokens.refresh_token!]) {
      assert.ok(!r.stdout.includes(secret) && !r.stderr.includes(secret), 'no secret, code or token printed');
    }

    const refresh = await fetch(`${t.issuer}/token`, {
      method: 'POST', headers: { authorization: basicAuth('web', webSecret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }),
    });
    assert.equal(((await refresh.json()) as { error: string }).error, 'invalid_grant');
    const factors = await t.tollgate.mfa.factorsOf(account.id);
    assert.deepEqual([factors.totp, factors.recoveryCodes], [null, null]);
    const [event] = (await t.tollgate.audit.page({ type: 'mfa.factors_reset', accountId: account.id, limit: 1 })).events;
    assert.equal(event?.actor, 'cli');
    assert.deepEqual(event?.details, { totp: true, recovery_codes: true, passkeys: 0, by: 'cli' });

    // By account id too; a second reset finds nothing left.
    const byId = await ok(['users', 'reset-mfa', '--id', account.id]);
    assert.deepEqual([byId.totp, byId.recovery_codes, byId.passkeys], [false, false, 0]);
  });

  test('users reset-mfa: an unknown user is exit 1 naming it; neither or both of --email and --id is exit 2', async () => {
    const unknown = await runCli(['users', 'reset-mfa', '--email', 'nobody@example.test'], env);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^tollgate: no account with e-mail "nobody@example.test"$/m);
    const unknownId = await runCli(['users', 'reset-mfa', '--id', '00000000-0000-4000-8000-000000000000'], env);
    assert.equal(unknownId.code, 1);
    assert.match(unknownId.stderr, /no account with id/);
    for (const args of [['users', 'reset-mfa'], ['users', 'reset-mfa', '--email', 'a@example.test', '--id', 'x']]) {
      const r = await runCli(args, env);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /give either --email or --id/);
    }
  });
});
