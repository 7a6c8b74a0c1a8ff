// Second factors (server/mfa/ over repositories/totp-factor-repository.ts and
// recovery-code-repository.ts), on the embedded database and on a real
// PostgreSQL server. Every code typed here is computed by otpauth, an
// implementation independent of the server's (otplib): enrolment and its
// key URI, ±1 step of drift and no more, no replay (also under concurrency),
// a pending factor that is not one, re-enrolment, encryption at rest bound to
// the account, and recovery codes: single use, regeneration, normalisation.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import * as OTPAuth from 'otpauth';
import { loadConfig } from '../../server/config.ts';
import { applyMigrations, createRepositories, openDatabase, type Database, type Repositories } from '../../server/repositories/index.ts';
import { createMfaService, type MfaService } from '../../server/mfa/mfa.ts';
import { createSecretBox } from '../../server/federation/secret-box.ts';
import { createAudit } from '../../server/services/audit.ts';
import { NotFoundError } from '../../server/errors.ts';
import { UpstreamSecretKeyError } from '../../server/keys/upstream-secret-keys.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';

let server: PostgresServer | undefined;
after(() => server?.stop());

const backends: Array<[string, () => Promise<{ db: Database; cleanup: () => Promise<void> }>, string | false]> = [
  ['embedded', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'tollgate-mfa-'));
    return { db: await openDatabase(loadConfig({ DATA_DIR: dir })), cleanup: () => rm(dir, { recursive: true, force: true }) };
  }, false],
  ['postgresql', async () => {
    server ??= await startPostgres();
    return { db: await openDatabase(loadConfig({ DATABASE_URL: await createDatabase(server, 'mfa') })), cleanup: async () => {} };
  }, requirePostgres()],
];

/** The code an authenticator app shows for `secret` at `ms`, by otpauth. */
const codeAt = (secret: string, ms: number) => new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30 }).generate({ timestamp: ms });

const RECOVERY_CODE = /^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$/;

for (const [name, open, skip] of backends) {
  describe(`second factors (${name})`, { skip }, () => {
    let opened: { db: Database; cleanup: () => Promise<void> };
    let keysDir: string;
    let repositories: Repositories;
    // The clock the service checks codes against; tests set it.
    let clock = Date.now();
    let mfa: MfaService;
    const account = async () => {
      const id = randomUUID();
      await opened.db.execute("INSERT INTO account (id, email, password_hash, updated_at) VALUES ($1, $2, 'not-a-hash', now())", [id, `${id.slice(0, 8)}@example.test`]);
      return { id, email: `${id.slice(0, 8)}@example.test` };
    };
    /** An account with a confirmed TOTP factor, confirmed with the code of the step before the clock's, and its secret. */
    const enrolled = async () => {
      const who = await account();
      const { secret } = await mfa.startTotpEnrolment(who);
      assert.equal(await mfa.confirmTotp(who.id, codeAt(secret, clock - 60_000)), 'invalid', 'two steps back is refused');
      clock -= 30_000;
      assert.equal(await mfa.confirmTotp(who.id, codeAt(secret, clock)), 'ok');
      clock += 30_000;
      return { ...who, secret };
    };

    before(async () => {
      opened = await open();
      await applyMigrations(opened.db);
      keysDir = await mkdtemp(path.join(tmpdir(), 'tollgate-mfa-keys-'));
      repositories = createRepositories(opened.db);
      mfa = createMfaService({
        totpFactors: repositories.totpFactors, recoveryCodes: repositories.recoveryCodes, secrets: createSecretBox(keysDir),
        audit: createAudit(repositories.audit, pino({ level: 'silent' })), issuerName: 'login.example.test', now: () => clock,
      });
    });
    after(async () => {
      await opened.db.close();
      await opened.cleanup();
      await rm(keysDir, { recursive: true, force: true });
    });

    test('an enrolment gives a 20-byte base32 secret, a key URI an app reads, a QR code as SVG and the secret grouped for typing', async () => {
      const who = await account();
      const enrolment = await mfa.startTotpEnrolment(who);
      assert.match(enrolment.secret, /^[A-Z2-7]{32}$/);
      assert.equal(OTPAuth.Secret.fromBase32(enrolment.secret).bytes.length, 20);
      assert.equal(enrolment.groupedSecret, enrolment.secret.match(/.{4}/g)!.join(' '));
      const parsed = OTPAuth.URI.parse(enrolment.uri);
      assert.ok(parsed instanceof OTPAuth.TOTP);
      assert.equal(parsed.issuer, 'login.example.test');
      assert.equal(parsed.label, who.email);
      assert.equal(parsed.algorithm, 'SHA1');
      assert.equal(parsed.digits, 6);
      assert.equal(parsed.period, 30);
      assert.equal(parsed.secret.base32, enrolment.secret);
      assert.match(enrolment.uri, /^otpauth:\/\/totp\/login\.example\.test:[^?]+\?secret=[A-Z2-7]{32}&issuer=login\.example\.test/);
      assert.match(enrolment.svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" viewBox="0 0 \d+ \d+"[^>]*>.*<\/svg>\s*$/s);
      assert.doesNotMatch(enrolment.svg, /<script|on\w+=/i);
      assert.notEqual((await mfa.startTotpEnrolment(who)).secret, enrolment.secret, 'each enrolment has a new secret');
    });

    test('a pending factor is not a factor: its codes do not verify, and it shows as pending only', async () => {
      const who = await account();
      const { secret } = await mfa.startTotpEnrolment(who);
      assert.equal(await mfa.verifyTotp(who.id, codeAt(secret, clock)), 'invalid');
      const factors = await mfa.factorsOf(who.id);
      assert.equal(factors.totp, null);
      assert.ok(factors.pendingTotp?.since instanceof Date);
      assert.equal(await mfa.confirmTotp(who.id, codeAt(secret, clock)), 'ok');
      const confirmed = await mfa.factorsOf(who.id);
      assert.ok(confirmed.totp?.confirmedAt instanceof Date);
      assert.equal(confirmed.pendingTotp, null);
    });

    test('the code that confirmed the enrolment cannot also pass verification; the next step\'s can', async () => {
      const who = await account();
      const { secret } = await mfa.startTotpEnrolment(who);
      assert.equal(await mfa.confirmTotp(who.id, codeAt(secret, clock)), 'ok');
      assert.equal(await mfa.confirmTotp(who.id, codeAt(secret, clock)), 'no_enrolment', 'and it confirms nothing twice');
      assert.equal(await mfa.verifyTotp(who.id, codeAt(secret, clock)), 'replayed');
      clock += 30_000;
      assert.equal(await mfa.verifyTotp(who.id, codeAt(secret, clock)), 'ok');
    });

    test('±1 step of drift is accepted, ±2 refused, at the start and the end of a step', async () => {
      const base = Math.floor(Date.now() / 30_000) * 30_000;
      for (const offset of [0, 29_999]) {
        const now = base + offset;
        clock = now;
        const who = await enrolled();
        clock = now;
        assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, now - 60_000)), 'invalid', '2 steps back');
        assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, now + 60_000)), 'invalid', '2 steps ahead');
        // The enrolment used the step before: the current one and the next remain, in order.
        assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, now)), 'ok', 'this step');
        assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, now + 30_000)), 'ok', '1 step ahead');
        const other = await account();
        const { secret } = await mfa.startTotpEnrolment(other);
        assert.equal(await mfa.confirmTotp(other.id, codeAt(secret, now - 30_000)), 'ok', '1 step back confirms an enrolment too');
      }
      clock = Date.now();
    });

    test('wrong and malformed codes are invalid, never errors', async () => {
      const who = await enrolled();
      const right = codeAt(who.secret, clock);
      const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
      for (const bad of [wrong, right.slice(0, 5), `${right}0`, 'abcdef', '', ' ', '１２３４５６', `${right}\u0000`, 'x'.repeat(100_000), "' OR 1=1 --", 123456, null, undefined, { code: right }, [right]]) {
        assert.equal(await mfa.verifyTotp(who.id, bad), 'invalid', `verify ${JSON.stringify(bad)?.slice(0, 20)}`);
      }
      for (const id of ['not-a-uuid', randomUUID(), '', `${who.id}\u0000`]) {
        assert.equal(await mfa.verifyTotp(id, right), 'invalid', 'an account without a factor');
      }
      assert.equal(await mfa.verifyTotp(who.id, `${right.slice(0, 3)} ${right.slice(3)}`), 'ok', 'spaces as apps show them are fine');
    });

    test('a code is accepted once; an older step after a newer one is a replay', async () => {
      const who = await enrolled();
      const code = codeAt(who.secret, clock);
      assert.equal(await mfa.verifyTotp(who.id, code), 'ok');
      assert.equal(await mfa.verifyTotp(who.id, code), 'replayed');
      clock += 30_000;
      assert.equal(await mfa.verifyTotp(who.id, code), 'replayed', 'the previous step, still within drift, is not accepted again');
      assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, clock)), 'ok');
    });

    test('of 20 concurrent submissions of one code exactly one succeeds', async () => {
      const who = await enrolled();
      const code = codeAt(who.secret, clock);
      const results = await Promise.all(Array.from({ length: 20 }, () => mfa.verifyTotp(who.id, code)));
      assert.equal(results.filter((r) => r === 'ok').length, 1);
      assert.equal(results.filter((r) => r === 'replayed').length, 19);
    });

    test('re-enrolment replaces the factor only once the new secret is confirmed', async () => {
      const who = await enrolled();
      const { secret: next } = await mfa.startTotpEnrolment(who);
      assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, clock)), 'ok', 'the old authenticator still works');
      assert.equal(await mfa.verifyTotp(who.id, codeAt(next, clock + 30_000)), 'invalid', 'the new one does not yet');
      assert.equal(await mfa.confirmTotp(who.id, codeAt(who.secret, clock + 30_000)), 'invalid', 'the old secret does not confirm the new');
      assert.ok((await mfa.factorsOf(who.id)).totp, 'a failed confirmation leaves the factor');
      assert.equal(await mfa.confirmTotp(who.id, codeAt(next, clock)), 'ok');
      clock += 30_000;
      assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, clock)), 'invalid', 'the old secret is gone');
      assert.equal(await mfa.verifyTotp(who.id, codeAt(next, clock)), 'ok');
    });

    test('an enrolment restarted meanwhile is not confirmed by the earlier secret; concurrent confirmations confirm once', async () => {
      const who = await account();
      const { secret: first } = await mfa.startTotpEnrolment(who);
      const { secret: second } = await mfa.startTotpEnrolment(who);
      assert.equal(await mfa.confirmTotp(who.id, codeAt(first, clock)), 'invalid');
      const results = await Promise.all(Array.from({ length: 10 }, () => mfa.confirmTotp(who.id, codeAt(second, clock))));
      assert.equal(results.filter((r) => r === 'ok').length, 1);
      assert.equal(results.filter((r) => r === 'no_enrolment').length, 9);
    });

    test('the repository confirms only the pending secret whose code was checked, and only in time (the races the service cannot see)', async () => {
      const who = await account();
      const totp = repositories.totpFactors;
      assert.equal(await totp.startPending(who.id, 'ciphertext-a'), true);
      // A second enrolment starts between the check of A's code and its confirmation.
      assert.equal(await totp.startPending(who.id, 'ciphertext-b'), true);
      assert.equal(await totp.confirm(who.id, 'ciphertext-a', 100, 900), false);
      assert.equal((await totp.find(who.id))?.pendingSecretEncrypted, 'ciphertext-b');
      await opened.db.execute("UPDATE totp_factor SET pending_since = now() - interval '901 seconds' WHERE account_id = $1", [who.id]);
      assert.equal(await totp.confirm(who.id, 'ciphertext-b', 100, 900), false, 'expired');
      assert.equal(await totp.startPending(who.id, 'ciphertext-c'), true);
      assert.equal(await totp.confirm(who.id, 'ciphertext-c', 100, 900), true);
      assert.equal(await totp.confirm(who.id, 'ciphertext-c', 101, 900), false, 'confirmed once');
      const factor = await totp.find(who.id);
      assert.deepEqual([factor?.secretEncrypted, factor?.pendingSecretEncrypted, factor?.lastStep], ['ciphertext-c', null, 100]);
      assert.equal(await totp.accept(who.id, 'ciphertext-c', 100), false, 'the confirming step is used');
      assert.equal(await totp.accept(who.id, 'ciphertext-other', 101), false, 'a code checked against a secret replaced meanwhile');
      assert.equal(await totp.accept(who.id, 'ciphertext-c', 101), true);
      assert.equal(await totp.startPending(randomUUID(), 'ciphertext-d'), false, 'no such account');
    });

    test('an enrolment not confirmed in time expires', async () => {
      const who = await account();
      const { secret } = await mfa.startTotpEnrolment(who);
      // No code path writes the past: aged in place.
      await opened.db.execute("UPDATE totp_factor SET pending_since = now() - interval '16 minutes' WHERE account_id = $1", [who.id]);
      const wrong = String((Number(codeAt(secret, clock)) + 1) % 1_000_000).padStart(6, '0');
      assert.equal(await mfa.confirmTotp(who.id, wrong), 'no_enrolment', 'whatever the code');
      assert.equal(await mfa.confirmTotp(who.id, codeAt(secret, clock)), 'no_enrolment');
      assert.equal((await mfa.factorsOf(who.id)).totp, null);
      assert.equal(await mfa.confirmTotp(randomUUID(), codeAt(secret, clock)), 'no_enrolment', 'nor is there one for an account that never started');
    });

    test('secrets are encrypted at rest and bound to their account', async () => {
      const a = await enrolled();
      const b = await enrolled();
      const [row] = await opened.db.query<Record<string, unknown>>('SELECT * FROM totp_factor WHERE account_id = $1', [a.id]);
      assert.ok(!JSON.stringify(row).includes(a.secret));
      assert.match(String(row!.secret_encrypted), /^ey[\w-]+\.\.[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWE with dir (no encrypted key)');
      // B's ciphertext copied onto A's row does not open as A's secret.
      await opened.db.execute('UPDATE totp_factor SET secret_encrypted = (SELECT secret_encrypted FROM totp_factor WHERE account_id = $2) WHERE account_id = $1', [a.id, b.id]);
      await assert.rejects(mfa.verifyTotp(a.id, codeAt(b.secret, clock)), UpstreamSecretKeyError);
    });

    test('removing the factor ends it; unknown accounts cannot enrol', async () => {
      const who = await enrolled();
      assert.equal(await mfa.removeTotp(who.id), true);
      assert.equal(await mfa.removeTotp(who.id), false);
      assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, clock)), 'invalid');
      assert.equal((await mfa.factorsOf(who.id)).totp, null);
      await assert.rejects(mfa.startTotpEnrolment({ id: randomUUID(), email: 'nobody@example.test' }), NotFoundError);
      await assert.rejects(mfa.startTotpEnrolment({ id: 'not-a-uuid', email: 'nobody@example.test' }), NotFoundError);
    });

    test('ten distinct recovery codes of 80 bits, each usable once, telling how many remain', async () => {
      const who = await account();
      const codes = await mfa.regenerateRecoveryCodes(who.id);
      assert.equal(codes.length, 10);
      assert.equal(new Set(codes).size, 10);
      for (const code of codes) assert.match(code, RECOVERY_CODE);
      assert.deepEqual(await mfa.useRecoveryCode(who.id, codes[0]), { ok: true, remaining: 9 });
      assert.deepEqual(await mfa.useRecoveryCode(who.id, codes[0]), { ok: false }, 'a used code is refused');
      assert.deepEqual(await mfa.useRecoveryCode(who.id, codes[1]), { ok: true, remaining: 8 });
      const factors = await mfa.factorsOf(who.id);
      assert.equal(factors.recoveryCodes?.remaining, 8);
      assert.ok(factors.recoveryCodes?.lastUsedAt instanceof Date);
      assert.equal(factors.totp, null, 'recovery codes are not a TOTP factor');
    });

    test('case, spaces and dashes do not matter, and I, L, O read as 1, 1, 0', async () => {
      const who = await account();
      const codes = await mfa.regenerateRecoveryCodes(who.id);
      const plain = (code: string) => code.replaceAll('-', '');
      assert.equal((await mfa.useRecoveryCode(who.id, codes[0]!.toLowerCase())).ok, true);
      assert.equal((await mfa.useRecoveryCode(who.id, ` ${plain(codes[1]!).match(/.{4}/g)!.join(' ')} `)).ok, true);
      assert.equal((await mfa.useRecoveryCode(who.id, plain(codes[2]!))).ok, true);
      // Misread characters: every 1 typed as l or I, every 0 as O.
      const misread = codes.slice(5).find((c) => /[01]/.test(c));
      if (misread) assert.equal((await mfa.useRecoveryCode(who.id, misread.replaceAll('1', 'l').replaceAll('0', 'O'))).ok, true);
      for (const bad of ['', codes[4]!.slice(0, -1), `${codes[4]}A`, 'UUUU-UUUU-UUUU-UUUU', `${codes[4]}\u0000`, 'x'.repeat(100_000), 42, null, undefined, { code: codes[4] }]) {
        assert.deepEqual(await mfa.useRecoveryCode(who.id, bad), { ok: false });
      }
      assert.equal((await mfa.useRecoveryCode(who.id, codes[4])).ok, true, 'and the real one still works');
    });

    test('regenerating voids the old codes; another account\'s codes do not work', async () => {
      const who = await account();
      const other = await account();
      const old = await mfa.regenerateRecoveryCodes(who.id);
      const others = await mfa.regenerateRecoveryCodes(other.id);
      await mfa.useRecoveryCode(who.id, old[0]);
      const fresh = await mfa.regenerateRecoveryCodes(who.id);
      assert.equal((await mfa.factorsOf(who.id)).recoveryCodes?.remaining, 10);
      for (const code of old) assert.deepEqual(await mfa.useRecoveryCode(who.id, code), { ok: false });
      assert.deepEqual(await mfa.useRecoveryCode(who.id, others[0]), { ok: false });
      assert.deepEqual(await mfa.useRecoveryCode(who.id, fresh[0]), { ok: true, remaining: 9 });
      assert.deepEqual(await mfa.useRecoveryCode(other.id, others[0]), { ok: true, remaining: 9 });
      await assert.rejects(mfa.regenerateRecoveryCodes(randomUUID()), NotFoundError);
    });

    test('of 10 concurrent uses of one recovery code exactly one succeeds; uses of different codes count exactly', async () => {
      const who = await account();
      const codes = await mfa.regenerateRecoveryCodes(who.id);
      const same = await Promise.all(Array.from({ length: 10 }, () => mfa.useRecoveryCode(who.id, codes[0])));
      assert.equal(same.filter((r) => r.ok).length, 1);
      const different = await Promise.all(codes.slice(1, 6).map((code) => mfa.useRecoveryCode(who.id, code)));
      assert.deepEqual(different.map((r) => (r.ok ? r.remaining : -1)).sort(), [4, 5, 6, 7, 8]);
    });

    test('the table holds digests bound to the account, never the codes', async () => {
      const who = await account();
      const codes = await mfa.regenerateRecoveryCodes(who.id);
      const rows = await opened.db.query<{ digests: string[] }>('SELECT * FROM recovery_code_set WHERE account_id = $1', [who.id]);
      assert.equal(rows[0]!.digests.length, 10);
      const text = JSON.stringify(rows);
      for (const code of codes) {
        assert.ok(!text.includes(code) && !text.includes(code.replaceAll('-', '')));
      }
      assert.ok(rows[0]!.digests.every((d) => /^[\w-]{43}$/.test(d)));
    });

    test('the operator\'s reset removes every factor, audited; deleting the account deletes them too', async () => {
      const who = await enrolled();
      await mfa.regenerateRecoveryCodes(who.id);
      assert.deepEqual(await mfa.resetFactors(who.id, { actor: 'admin-sub' }), { totp: true, recoveryCodes: true });
      assert.deepEqual(await mfa.factorsOf(who.id), { totp: null, pendingTotp: null, recoveryCodes: null });
      assert.equal(await mfa.verifyTotp(who.id, codeAt(who.secret, clock + 30_000)), 'invalid');
      const events = await repositories.audit.list({ accountId: who.id, limit: 10 });
      const types = events.map((e) => e.type);
      for (const type of ['mfa.totp_enabled', 'mfa.recovery_codes_generated', 'mfa.factors_reset']) assert.ok(types.includes(type), type);
      assert.equal(events.find((e) => e.type === 'mfa.factors_reset')?.actor, 'admin-sub');

      const gone = await enrolled();
      await mfa.regenerateRecoveryCodes(gone.id);
      await opened.db.execute('DELETE FROM account WHERE id = $1', [gone.id]);
      assert.equal((await opened.db.query('SELECT 1 FROM totp_factor WHERE account_id = $1', [gone.id])).length, 0);
      assert.equal((await opened.db.query('SELECT 1 FROM recovery_code_set WHERE account_id = $1', [gone.id])).length, 0);
    });

    test('using a recovery code is audited with how many remain; no code reaches the trail', async () => {
      const who = await account();
      const codes = await mfa.regenerateRecoveryCodes(who.id);
      await mfa.useRecoveryCode(who.id, codes[3], { ip: '192.0.2.1' });
      const events = await repositories.audit.list({ accountId: who.id, limit: 10 });
      const used = events.find((e) => e.type === 'mfa.recovery_code_used');
      assert.deepEqual(used?.details, { remaining: 9 });
      assert.equal(used?.ip, '192.0.2.1');
      const text = JSON.stringify(events);
      for (const code of codes) assert.ok(!text.includes(code) && !text.includes(code.replaceAll('-', '')));
    });
  });
}
