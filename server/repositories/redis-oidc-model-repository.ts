// oidc-provider's short-lived models in Redis (sessions, interactions,
// authorization codes, replay detection, PAR, device and CIBA requests): the
// same contract as oidc-model-repository.ts, each instance one hash that
// expires with the instance. The same code serves one server and a cluster.
//
//   tollgate:m:<model>:<id>            hash: payload (JSON), created (ms), consumed (epoch s, once consumed)
//   tollgate:uid:<model>:<uid>         → id       (expires with the instance)
//   tollgate:uc:<model>:<user code>    → id
//   tollgate:g:<model>:<grant id>      set of ids (expires with its longest-lived member)
//   tollgate:a:<model>:<account id>    set of ids
//
// Index sets never outlive their members, so nothing grows without bound; a
// member that expired before its set is skipped and pruned on read.
//
// Redis Cluster: an instance and its index keys are found by different
// values (id, uid, user code, grant id, account id), so no hash tag could
// put them in one slot. Every script therefore touches exactly one key, the
// one it declares in KEYS, and the writes that span keys are ordered
// instead of atomic: an upsert writes the index keys first and the instance
// last, so an instance is never stored without the indexes that find it
// (revocation by grant, sign-out by account); a crash in between leaves at
// most an index entry without its instance, which reads skip. Consume, the
// one step that must be atomic (of concurrent consumers of one code exactly
// one wins), is a script on the instance's hash alone.

import type { ModelPayload, OidcModelRepository } from './oidc-model-repository.ts';
import { REDIS_PREFIX, type Redis } from './redis.ts';
import { UnstorableValueError } from '../errors.ts';

const key = {
  model: (model: string, id: string) => `${REDIS_PREFIX}m:${model}:${id}`,
  uid: (model: string, uid: string) => `${REDIS_PREFIX}uid:${model}:${uid}`,
  userCode: (model: string, code: string) => `${REDIS_PREFIX}uc:${model}:${code}`,
  grant: (model: string, grantId: string) => `${REDIS_PREFIX}g:${model}:${grantId}`,
  account: (model: string, accountId: string) => `${REDIS_PREFIX}a:${model}:${accountId}`,
};

// KEYS: the instance; ARGV: payload, ttl (0: none), now (ms). A consumed instance stays consumed.
const SAVE_INSTANCE = `
redis.call('HSET', KEYS[1], 'payload', ARGV[1])
redis.call('HSETNX', KEYS[1], 'created', ARGV[3])
if tonumber(ARGV[2]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[2]) else redis.call('PERSIST', KEYS[1]) end
return 1`;

// KEYS: the instance; ARGV: payload, ttl (> 0), now (ms). Written only if absent: 1 if written, 0 if it existed.
const INSERT_IF_ABSENT = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'payload', ARGV[1], 'created', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1`;

// KEYS: an index set; ARGV: the member id, its ttl (0: none). The set lives as long as its longest-lived member.
const ADD_TO_INDEX = `
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl, 'NX')
  redis.call('EXPIRE', KEYS[1], ttl, 'GT')
else
  redis.call('PERSIST', KEYS[1])
end
return 1`;

// KEYS: the instance; ARGV: now (epoch s). 1 for the one caller that consumed it.
const CONSUME = `
if redis.call('EXISTS', KEYS[1]) == 1 and redis.call('HSETNX', KEYS[1], 'consumed', ARGV[1]) == 1 then return 1 end
return 0`;

const present = (hash: Record<string, string>): ModelPayload | undefined => {
  if (!hash.payload) return undefined;
  const payload = JSON.parse(hash.payload) as ModelPayload;
  return hash.consumed ? { ...payload, consumed: Number(hash.consumed) } : payload;
};

const text = (value: unknown) => (typeof value === 'string' && value.length > 0 ? value : undefined);

export function createRedisOidcModelRepository(redis: Redis): OidcModelRepository {
  const find = async (model: string, id: string) => present(await redis.hGetAll(key.model(model, id)));

  /**
   * The members of an index set that still exist, newest first; the gone ones
   * are pruned. (A prune landing between an upsert's index write and its
   * instance write would orphan that instance; the window is one round trip,
   * and every later save of the instance indexes it again.)
   */
  const members = async (model: string, setKey: string) => {
    const ids = await redis.sMembers(setKey);
    if (!ids.length) return [];
    // One command per member (each key on its own slot in a cluster); node-redis pipelines them.
    const hashes = await Promise.all(ids.map((id) => redis.hGetAll(key.model(model, id))));
    const live: Array<{ id: string; payload: ModelPayload; created: number }> = [];
    const gone: string[] = [];
    ids.forEach((id, i) => {
      const payload = present(hashes[i] ?? {});
      if (payload) live.push({ id, payload, created: Number(hashes[i]!.created ?? 0) });
      else gone.push(id);
    });
    if (gone.length) await redis.sRem(setKey, gone);
    return live.sort((a, b) => b.created - a.created);
  };

  /**
   * Deletes a set's members and leaves their ids in the set, where reads
   * prune them: an instance written again meanwhile (a session saved by a
   * request in flight) then stays indexed for the next sign-out, where
   * removing the ids could orphan it (its index entry is written before it).
   */
  const deleteMembers = async (model: string, setKey: string) => {
    const ids = await redis.sMembers(setKey);
    const deleted = await Promise.all(ids.map((id) => redis.del(key.model(model, id))));
    return deleted.reduce((sum: number, n) => sum + Number(n), 0);
  };

  const durableOnly = (what: string) => async (): Promise<never> => {
    throw new Error(`${what} concerns durable models, which are not kept in Redis`);
  };

  return {
    async insertIfAbsent(model, id, payload, expiresInSeconds) {
      const json = JSON.stringify(payload);
      if (json.includes('\\u0000') || id.includes('\u0000')) throw new UnstorableValueError();
      const ttl = String(Math.max(1, Math.ceil(expiresInSeconds)));
      return Number(await redis.eval(INSERT_IF_ABSENT, { keys: [key.model(model, id)], arguments: [json, ttl, String(Date.now())] })) === 1;
    },

    async upsert(model, id, payload, expiresInSeconds) {
      const json = JSON.stringify(payload);
      // Redis could store NUL, but the answer must not depend on the backend: a bad request everywhere.
      if (json.includes('\\u0000') || id.includes('\u0000')) throw new UnstorableValueError();
      const indexes: Array<[string, 'p' | 's']> = [];
      const uid = text(payload.uid);
      const userCode = text(payload.userCode);
      const grantId = text(payload.grantId);
      const accountId = text(payload.accountId);
      if (uid) indexes.push([key.uid(model, uid), 'p']);
      if (userCode) indexes.push([key.userCode(model, userCode), 'p']);
      if (grantId) indexes.push([key.grant(model, grantId), 's']);
      if (accountId) indexes.push([key.account(model, accountId), 's']);
      const ttl = String(Math.max(0, Math.ceil(expiresInSeconds ?? 0)));
      // The indexes first, the instance last (see the top of this file).
      await Promise.all(indexes.map(([indexKey, kind]) => kind === 'p'
        ? (ttl === '0' ? redis.set(indexKey, id) : redis.set(indexKey, id, { EX: Number(ttl) }))
        : redis.eval(ADD_TO_INDEX, { keys: [indexKey], arguments: [id, ttl] })));
      await redis.eval(SAVE_INSTANCE, { keys: [key.model(model, id)], arguments: [json, ttl, String(Date.now())] });
    },

    find,

    async findByUid(model, uid) {
      const id = await redis.get(key.uid(model, uid));
      const payload = id ? await find(model, id) : undefined;
      // A pointer may outlive a destroyed instance whose id was reused; trust only a match.
      return payload?.uid === uid ? payload : undefined;
    },

    async findByUserCode(model, userCode) {
      const id = await redis.get(key.userCode(model, userCode));
      const payload = id ? await find(model, id) : undefined;
      return payload?.userCode === userCode ? payload : undefined;
    },

    async consume(model, id) {
      return Number(await redis.eval(CONSUME, { keys: [key.model(model, id)], arguments: [String(Math.floor(Date.now() / 1000))] })) === 1;
    },

    async destroy(model, id) {
      await redis.del(key.model(model, id));
    },

    async revokeByGrantId(model, grantId) {
      await deleteMembers(model, key.grant(model, grantId));
    },

    async listByAccount(model, accountId) {
      return (await members(model, key.account(model, accountId))).map(({ id, payload }) => ({ id, payload }));
    },

    async countByGrant(model, grantId) {
      return (await members(model, key.grant(model, grantId))).filter(({ payload }) => !payload.consumed).length;
    },

    async deleteByAccount(models, accountId) {
      const counts: Record<string, number> = {};
      for (const model of models) counts[model] = await deleteMembers(model, key.account(model, accountId));
      return counts;
    },

    // Short-lived instances of a deleted client expire within minutes, and
    // the library refuses them at once (their client no longer exists).
    deleteByClient: async () => 0,
    // Redis expires instances itself.
    purgeExpired: async () => 0,
    // Refresh tokens are durable (tiered-oidc-model-repository.ts): a Redis
    // flush must not sign anyone out. Their rotation is the database's.
    // A code in Redis is read alone: its grant and account are the database's.
    async findGrantSource(model, id) {
      const token = await find(model, id);
      return token && { token, related: false, sessionRead: false };
    },
    rotateRefreshToken: durableOnly('refresh tokens'),
    findLatestForClient: durableOnly('remembered consent'),
  };
}
