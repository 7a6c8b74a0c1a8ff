// Which errors mean "the database or Redis is down right now" (503, retried)
// rather than a bug (500): repositories/unavailable.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUnavailable } from '../../server/repositories/unavailable.ts';

const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });

test('refused, reset and timed-out connections', () => {
  for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']) assert.ok(isUnavailable(withCode(code)), code);
});

test('PostgreSQL: connection exceptions (class 08) and a server shutting down or starting up (57P01-57P03)', () => {
  for (const code of ['08000', '08001', '08003', '08006', '57P01', '57P02']) assert.ok(isUnavailable(withCode(code)), code);
  assert.ok(isUnavailable(withCode('57P03', 'the database system is starting up')), 'a restarted server is an outage for a moment, like a refused connection');
  assert.ok(isUnavailable({ originalCode: '57P03' }), "as Prisma's driver adapter reports it");
});

test('Prisma and node-redis name their outages', () => {
  for (const code of ['P1001', 'P1002', 'P1008', 'P1017', 'P2024']) assert.ok(isUnavailable(withCode(code)), code);
  for (const name of ['ClientClosedError', 'ClientOfflineError', 'SocketClosedUnexpectedlyError', 'ConnectionTimeoutError']) {
    assert.ok(isUnavailable(Object.assign(new Error('x'), { name })), name);
  }
  assert.ok(isUnavailable(new Error('The client is offline')), 'node-redis names some of its errors plain Error: the message tells');
  assert.ok(isUnavailable(new Error('timeout exceeded when trying to connect')), "pg's pool");
});

test('the cause chain is followed, a few levels deep', () => {
  assert.ok(isUnavailable(new Error('outer', { cause: new Error('middle', { cause: withCode('ECONNREFUSED') }) })));
  let deep: Error = withCode('ECONNREFUSED');
  for (let i = 0; i < 6; i += 1) deep = new Error(`wrap ${i}`, { cause: deep });
  assert.equal(isUnavailable(deep), false, 'not endlessly');
});

test('bugs and bad input are not outages', () => {
  for (const code of ['23505', '22021', '42P01', '40001', '57014', 'P2002']) assert.equal(isUnavailable(withCode(code)), false, code);
  assert.equal(isUnavailable(new TypeError('x is undefined')), false);
  assert.equal(isUnavailable(undefined), false);
  assert.equal(isUnavailable('ECONNREFUSED'), false);
});

test('Redis Cluster: a cluster down, a slot moving or failing over, no seed node answering', () => {
  for (const message of ['CLUSTERDOWN The cluster is down', 'CLUSTERDOWN Hash slot not served', 'TRYAGAIN Multiple keys request during rehashing of slot', 'MASTERDOWN Link with MASTER is down', 'LOADING Redis is loading the dataset in memory', 'All the root nodes are unavailable', 'Too many Cluster redirections']) {
    assert.ok(isUnavailable(new Error(message)), message);
  }
  assert.equal(isUnavailable(new Error("CROSSSLOT Keys in request don't hash to the same slot")), false, 'a bug in our keys, not an outage');
  assert.equal(isUnavailable(new Error('WRONGTYPE Operation against a key holding the wrong kind of value')), false);
});
