// REDIS_CLUSTER_NODES: seed nodes as host:port pairs or URLs, one set of
// credentials for the whole cluster, and one clear line for a bad value
// (never the value itself: it may hold a password).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../server/config.ts';
import { ConfigError } from '../../server/errors.ts';
import { redisTargetOf } from '../../server/repositories/redis.ts';

test('host:port pairs and URLs become seed URLs; the cluster is the Redis target', () => {
  const config = loadConfig({ REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-2:7001 ,[::1]:7002' });
  assert.deepEqual(config.redisClusterNodes, ['redis://10.0.0.1:7000', 'redis://redis-2:7001', 'redis://[::1]:7002']);
  assert.deepEqual(redisTargetOf(config), { clusterNodes: config.redisClusterNodes });
  assert.deepEqual(loadConfig({ REDIS_CLUSTER_NODES: 'rediss://app:s%3Dcret@a:6380,rediss://app:s%3Dcret@b:6380' }).redisClusterNodes, ['rediss://app:s%3Dcret@a:6380', 'rediss://app:s%3Dcret@b:6380']);
  assert.deepEqual(redisTargetOf(loadConfig({ REDIS_URL: 'redis://one:6379' })), { url: 'redis://one:6379' });
  assert.equal(redisTargetOf(loadConfig({})), undefined);
});

test('bad values are refused with one line that names the variable and not the value', () => {
  const refused = (value: string, pattern: RegExp, extra: Record<string, string> = {}) => assert.throws(() => loadConfig({ REDIS_CLUSTER_NODES: value, ...extra }), (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    assert.match(err.message, /^REDIS_CLUSTER_NODES: /);
    assert.match(err.message, pattern);
    assert.ok(!err.message.includes('hunter2'), 'the password stays out of the message');
    return true;
  });
  refused('http://a:1', /host:port pairs or redis/);
  refused(',', /host:port pairs or redis/);
  refused('redis://a:1/2', /host:port pairs or redis/); // a cluster has database 0 only
  refused('redis://:hunter2@a:1,redis://:other@b:1', /same scheme and credentials/);
  refused('rediss://:hunter2@a:1,redis://:hunter2@b:1', /same scheme and credentials/);
  refused('a:1', /either REDIS_URL .* or REDIS_CLUSTER_NODES/, { REDIS_URL: 'redis://:hunter2@one:6379' });
});
