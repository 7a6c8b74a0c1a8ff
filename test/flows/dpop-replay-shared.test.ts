// With Redis, the DPoP proofs already used are remembered in Redis, so that
// every instance refuses a replay (an in-memory cache per instance would let
// a proof through once at each instance behind a balancer).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { calculateJwkThumbprint, decodeJwt, exportJWK } from 'jose';
import { createClient } from 'redis';
import { removeDirs, startTestTollgate, type TestTollgate } from '../support/tollgate.ts';
import { adminResource } from '../support/sign-in.ts';
import { authorizationServer, boundClientCredentialsToken, newKey, proof, type KeyPair } from '../support/dpop.ts';
import { requirePostgres, startPostgres, createDatabase, type PostgresServer } from '../support/postgres.ts';
import { requireRedis, startRedis, type RedisServer } from '../support/redis.ts';
import { createRedisReplayCache } from '../../server/resource-server/index.ts';

describe('DPoP replay cache shared through Redis', { skip: requirePostgres() || requireRedis() }, () => {
  let pg: PostgresServer;
  let redis: RedisServer;
  let t: TestTollgate;
  let key: KeyPair;
  let token: string;
  let clientsUrl: string;
  let peer: ReturnType<typeof createClient>;

  before(async () => {
    pg = await startPostgres();
    redis = await startRedis();
    t = await startTestTollgate({ databaseUrl: await createDatabase(pg, 'dpop_replay'), env: { REDIS_URL: redis.url } });
    const secret = (await t.tollgate.clients.register({ id: 'ops', grantTypes: ['client_credentials'], scope: 'basic admin' })).client_secret!;
    key = await newKey();
    token = (await boundClientCredentialsToken(await authorizationServer(t.issuer), 'ops', secret, key, { scope: 'admin', resource: adminResource(t) })).access_token;
    clientsUrl = `${t.issuer}/admin/v1/clients`;
    peer = createClient({ url: redis.url });
    await peer.connect();
  });
  after(async () => {
    if (peer?.isOpen) await peer.quit();
    await t?.close();
    if (t) await removeDirs(t.dirs);
    await redis?.stop();
    pg?.stop();
  });

  const call = (dpop: string) => fetch(clientsUrl, { headers: { authorization: `DPoP ${token}`, dpop } });

  test('a used proof is written to Redis, to expire with the proof window', async () => {
    const once = await proof(key, { htm: 'GET', htu: clientsUrl, accessToken: token });
    assert.equal((await call(once)).status, 200);
    assert.equal((await call(once)).status, 401, 'replayed at this instance');
    const keys = await peer.keys('tollgate:dpop:*');
    assert.equal(keys.length, 1);
    const ttl = await peer.ttl(keys[0]!);
    assert.ok(ttl > 0 && ttl <= 600, `TTL ${ttl}`);
  });

  test('a proof another instance has seen is refused here', async () => {
    const fresh = await proof(key, { htm: 'GET', htu: clientsUrl, accessToken: token });
    // What another instance writes when it accepts this proof (the same cache, another connection).
    const thumbprint = await calculateJwkThumbprint(await exportJWK(key.publicKey));
    const { jti, iat } = decodeJwt(fresh) as { jti: string; iat: number };
    assert.equal(await createRedisReplayCache(peer as never).firstUse(`${thumbprint}:${jti}`, iat + 300), true);
    const res = await call(fresh);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_dpop_proof');
  });
});
