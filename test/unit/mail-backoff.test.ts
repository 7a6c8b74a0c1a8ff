// The mail queue's retry schedule as it ships (the delivery tests shorten it):
// exponential from 1 s, capped at 10 minutes a wait, about an hour in all.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OUTBOX_DEFAULTS } from '../../server/mail/outbox.ts';

test('the default retry schedule backs off exponentially from 1 s, caps each wait at 10 min, and gives up after about an hour', () => {
  const delays = OUTBOX_DEFAULTS.retryDelaysMs;
  assert.ok(delays.length >= 10, `only ${delays.length} retries`);
  assert.equal(delays[0], 1_000);
  for (let i = 1; i < delays.length; i += 1) {
    assert.ok(delays[i]! >= delays[i - 1]!, `the wait shrinks at retry ${i + 1}`);
    assert.ok(delays[i]! <= 600_000, `retry ${i + 1} waits ${delays[i]} ms`);
  }
  // Doubling while below the cap.
  assert.deepEqual(delays.slice(0, 5), [1_000, 2_000, 4_000, 8_000, 16_000]);
  const total = delays.reduce((sum, d) => sum + d, 0);
  assert.ok(total >= 45 * 60_000 && total <= 65 * 60_000, `retries span ${Math.round(total / 60_000)} min`);
});
