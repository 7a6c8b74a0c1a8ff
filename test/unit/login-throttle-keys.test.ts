// The throttle's key for a client address (services/login-throttle.ts):
// IPv4 as it is, IPv6 by its /64, the smallest block one subscriber gets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipKey } from '../../server/services/login-throttle.ts';

test('IPv4 is keyed as it is, also when it arrives IPv4-mapped', () => {
  assert.equal(ipKey('203.0.113.9'), 'ip:203.0.113.9');
  assert.equal(ipKey('::ffff:203.0.113.9'), 'ip:203.0.113.9');
  assert.equal(ipKey('127.0.0.1'), 'ip:127.0.0.1');
});

test('IPv6 addresses of one /64 share a key, however they are written', () => {
  const key = 'ip6:2001:db8:1:2::/64';
  assert.equal(ipKey('2001:db8:1:2:aaaa::1'), key);
  assert.equal(ipKey('2001:db8:1:2::99'), key);
  assert.equal(ipKey('2001:0DB8:0001:0002:0000:0000:0000:0001'), key, 'leading zeros and upper case');
  assert.equal(ipKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), key);
  assert.notEqual(ipKey('2001:db8:1:3::1'), key, 'the next /64 is another subscriber');
});

test('compressed zeros expand to the right groups', () => {
  assert.equal(ipKey('::1'), 'ip6:0:0:0:0::/64');
  assert.equal(ipKey('2001:db8::1'), 'ip6:2001:db8:0:0::/64');
  assert.equal(ipKey('fe80::1%eth0'), 'ip6:fe80:0:0:0::/64', 'a zone id does not reach the prefix');
});

test('anything else is keyed as written (still counted, never an error)', () => {
  assert.equal(ipKey('unknown'), 'ip:unknown');
  assert.equal(ipKey(''), 'ip:');
});
