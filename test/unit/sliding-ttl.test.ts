// Sessions and refresh tokens slide within an absolute bound (oidc/configuration.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slidingTtl } from '../../server/oidc/configuration.ts';

const NOW = 1_800_000_000;
const DAY = 86_400;

test('slidingTtl: the idle period while the absolute end is further away', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: NOW * 1000 });
  assert.equal(slidingTtl(NOW - DAY, 30 * DAY, 7 * DAY), 7 * DAY);
  assert.equal(slidingTtl(undefined, 30 * DAY, 7 * DAY), 7 * DAY, 'an unknown start counts from now');
});

test('slidingTtl: never past the absolute end counted from the start', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: NOW * 1000 });
  assert.equal(slidingTtl(NOW - 29 * DAY, 30 * DAY, 7 * DAY), DAY);
  assert.equal(slidingTtl(NOW - 30 * DAY + 100, 30 * DAY, 7 * DAY), 100);
  assert.equal(slidingTtl(undefined, 60, 7 * DAY), 60, 'an absolute bound shorter than the idle one wins from the start');
});

test('slidingTtl: at or past the end, one second (a positive TTL), never zero or negative', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: NOW * 1000 });
  assert.equal(slidingTtl(NOW - 30 * DAY, 30 * DAY, 7 * DAY), 1);
  assert.equal(slidingTtl(NOW - 365 * DAY, 30 * DAY, 7 * DAY), 1);
});

test('slidingTtl: whole seconds from a clock in milliseconds', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: NOW * 1000 + 999 });
  assert.equal(slidingTtl(NOW - 10, 70, 3_600), 60);
});
