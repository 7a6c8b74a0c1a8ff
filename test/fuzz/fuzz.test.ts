// The fuzz suite's short form, run by `npm test`: 2,000 generated requests
// against a real Tollgate on the embedded database (`npm run fuzz` sends
// 20,000; docs/fuzzing.md). The seed is fixed, so a failure here replays
// exactly: `npm run fuzz -- --requests 2000 --seed <seed> --path <path>`
// with the path fast-check prints. FUZZ_SEED picks another seed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCampaign, summary } from './campaign.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_201);

test('2,000 hostile requests: no 5xx, no internals or secrets in any answer or in the log, RSS bounded', { timeout: 10 * 60_000 }, async (t) => {
  const report = await runCampaign({ requests: 2_000, seed: SEED, timeLimitMs: 5 * 60_000 });
  t.diagnostic(summary(report));
  const findings = [...report.findings, ...report.logFindings].map((f) => `${f.kind}: ${f.detail}\n${f.request ?? ''}`);
  assert.equal(report.failure, undefined, `${report.failure}\n\n${findings.join('\n\n')}`);
  assert.equal(report.status5xx, 0);
  assert.deepEqual(findings, []);
  // The time bound may stop a run on a slow machine early, but never before it has said something.
  assert.ok(report.requests >= 2_000 || (report.interrupted && report.requests >= 500), `only ${report.requests} requests sent`);
  assert.ok(report.rssAfterMb - report.rssBeforeMb <= report.rssLimitMb, `RSS grew from ${report.rssBeforeMb} MB to ${report.rssAfterMb} MB`);
  // Every family of routes was reached.
  for (const family of ['token', 'par', 'authorization', 'interaction', 'account', 'admin', 'introspection', 'revocation', 'userinfo', 'end_session', 'documents', 'stray', 'wire']) {
    assert.ok(report.families[family], `no ${family} request was generated`);
  }
});
