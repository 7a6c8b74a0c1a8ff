// taskset -c 0 npx tsx bench/mfa.ts   (RUNS=5000 by default; not part of `npm run bench`: no HTTP yet, the pages come later)
//
// The server CPU of one TOTP verification and of one recovery-code use
// (issue 16's closing note), on this process, pinned to one core when run
// under `taskset -c 0`. Two figures each:
// - the service's own work: decrypting the stored secret (JWE, A256GCM) and
//   checking the code over ±1 step (three HMAC-SHA-1 for a wrong code, the
//   worst case); for a recovery code, normalising and the SHA-256 digest;
// - the whole service call on the embedded database (PGlite runs in this
//   process, so its CPU is the server's too): read, decrypt, check, the
//   atomic UPDATE.
// Medians of many timed runs, in µs; figures belong in notes, never in tests.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as OTPAuth from 'otpauth';
import { loadConfig } from '../server/config.ts';
import { applyMigrations, createRepositories, openDatabase } from '../server/repositories/index.ts';
import { createSecretBox } from '../server/federation/secret-box.ts';
import { createMfaService } from '../server/mfa/mfa.ts';
import { matchingTimeStep } from '../server/mfa/totp.ts';
import { normaliseRecoveryCode, recoveryCodeDigest } from '../server/mfa/recovery-codes.ts';

const RUNS = Number(process.env.RUNS ?? 5000);

async function median(label: string, runs: number, work: (i: number) => Promise<unknown> | unknown): Promise<void> {
  for (let i = 0; i < Math.min(200, runs); i += 1) await work(i);
  const times: number[] = [];
  const cpu = process.cpuUsage();
  for (let i = 0; i < runs; i += 1) {
    const start = process.hrtime.bigint();
    await work(i);
    times.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  const used = process.cpuUsage(cpu);
  times.sort((a, b) => a - b);
  const at = (q: number) => times[Math.floor(q * (times.length - 1))]!.toFixed(1);
  console.log(`${label.padEnd(62)} median ${at(0.5).padStart(7)} µs   p90 ${at(0.9).padStart(7)} µs   process CPU ${((used.user + used.system) / runs).toFixed(1).padStart(7)} µs/op   (${runs} runs)`);
}

const dataDir = await mkdtemp(path.join(tmpdir(), 'tollgate-bench-mfa-'));
const keysDir = await mkdtemp(path.join(tmpdir(), 'tollgate-bench-mfa-keys-'));
const db = await openDatabase(loadConfig({ DATA_DIR: dataDir }));
try {
  await applyMigrations(db);
  const repositories = createRepositories(db);
  const box = createSecretBox(keysDir);
  const mfa = createMfaService({ totpFactors: repositories.totpFactors, recoveryCodes: repositories.recoveryCodes, secrets: box, issuerName: 'bench.example' });
  const id = randomUUID();
  await db.execute("INSERT INTO account (id, email, updated_at) VALUES ($1, 'bench@example.test', now())", [id]);
  const { secret } = await mfa.startTotpEnrolment({ id, email: 'bench@example.test' });
  const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret) });
  if (await mfa.confirmTotp(id, totp.generate()) !== 'ok') throw new Error('enrolment failed');
  const stored = (await repositories.totpFactors.find(id))!.secretEncrypted!;
  const wrong = String((Number(totp.generate()) + 1) % 1_000_000).padStart(6, '0');
  const now = Date.now() / 1000;

  console.log(`node ${process.version}, ${process.env.RUNS ? '' : 'RUNS=5000, '}embedded database`);
  await median('TOTP: decrypt the secret only (JWE dir+A256GCM)', RUNS, () => box.decryptBound('mfa.totp', id, stored));
  await median('TOTP: check a wrong code over ±1 step only (3 HMAC-SHA-1)', RUNS, () => matchingTimeStep(secret, wrong, now));
  await median('TOTP: decrypt + check (the service\'s CPU, no database)', RUNS, async () => matchingTimeStep(await box.decryptBound('mfa.totp', id, stored), wrong, now));
  await median('TOTP: verifyTotp, wrong code (read, decrypt, check)', RUNS, () => mfa.verifyTotp(id, wrong));
  await median('TOTP: verifyTotp, replayed code (read, decrypt, check, UPDATE)', RUNS, () => mfa.verifyTotp(id, totp.generate()));

  const codes = await mfa.regenerateRecoveryCodes(id);
  await median('Recovery code: normalise + SHA-256 digest only', RUNS, () => recoveryCodeDigest(id, normaliseRecoveryCode(codes[0])!));
  await median('Recovery code: useRecoveryCode, unknown code (one UPDATE)', RUNS, () => mfa.useRecoveryCode(id, 'AAAA-AAAA-AAAA-AAAA'));
  // A successful use changes the set: regenerate between uses (untimed would be fairer; the regeneration is one upsert).
  let set = await mfa.regenerateRecoveryCodes(id);
  await median('Recovery code: useRecoveryCode, a valid code (one UPDATE)', Math.min(RUNS, 2000), async (i) => {
    if (i % 10 === 0) set = await mfa.regenerateRecoveryCodes(id);
    return mfa.useRecoveryCode(id, set[i % 10]);
  });
} finally {
  await db.close();
  await rm(dataDir, { recursive: true, force: true });
  await rm(keysDir, { recursive: true, force: true });
}
