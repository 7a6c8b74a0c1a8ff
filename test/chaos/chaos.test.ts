// The short form of the chaos scenario (test/chaos/scenario.ts) that every
// `npm test` runs: fewer families and one round of each fault. The long
// form is `npm run chaos`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requirePostgres } from '../support/postgres.ts';
import { requireRedis } from '../support/redis.ts';
import { runChaos, summarise } from './scenario.ts';

test('under SIGKILL, a PostgreSQL restart and a Redis kill, no family loses or forks its refresh token', { skip: requirePostgres() || requireRedis(), timeout: 240_000 }, async (t) => {
  const report = await runChaos({ families: 12, durationMs: 10_000, faultEveryMs: 2_000, raceUses: 200, maxRequests: 20_000 });
  for (const line of summarise(report).split('\n')) t.diagnostic(line);
  assert.deepEqual(report.violations, []);
  assert.ok(Object.values(report.faults).every((n) => n >= 1), `every fault injected at least once: ${JSON.stringify(report.faults)}`);
  assert.equal(report.race.winners, 1);
  assert.ok(report.families.filter((f) => f.client === 'tolerant').every((f) => f.carriesOn), 'every family of the client with a reuse grace carries on');
  assert.ok(report.requests > 100, `the families rotated (${report.requests} requests)`);
  // The faults reached the clients: some answers were 503 or never came, so the retry rules were exercised.
  assert.ok(report.families.some((f) => f.retriesAfter503 > 0), 'at least one family retried after a 503');
  assert.ok(report.lostAnswers + report.notSent > 0, 'at least one request met a killed or stopped instance');
});
