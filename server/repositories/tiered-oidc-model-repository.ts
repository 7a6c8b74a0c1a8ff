// With Redis: the short-lived models (RFC 9700's "hot" state, minutes to a
// session's life) go to Redis, the durable ones (grants, refresh tokens) stay
// in PostgreSQL, where a restart or a Redis flush cannot lose them. One
// repository to the rest of Tollgate; each call goes where its model lives.
import type { OidcModelRepository } from './oidc-model-repository.ts';

/** oidc-provider models kept in Redis when it is configured. */
export const SHORT_LIVED_MODELS: ReadonlySet<string> = new Set([
  'Session', 'Interaction', 'AuthorizationCode', 'ReplayDetection', 'PushedAuthorizationRequest', 'DeviceCode', 'BackchannelAuthenticationRequest',
]);

export function tieredOidcModelRepository(durable: OidcModelRepository, shortLived: OidcModelRepository): OidcModelRepository {
  const store = (model: string) => (SHORT_LIVED_MODELS.has(model) ? shortLived : durable);
  const split = (models: readonly string[]) => [models.filter((m) => !SHORT_LIVED_MODELS.has(m)), models.filter((m) => SHORT_LIVED_MODELS.has(m))] as const;

  return {
    upsert: (model, id, payload, expiresIn) => store(model).upsert(model, id, payload, expiresIn),
    insertIfAbsent: (model, id, payload, expiresIn) => store(model).insertIfAbsent(model, id, payload, expiresIn),
    find: (model, id) => store(model).find(model, id),
    findByUid: (model, uid) => store(model).findByUid(model, uid),
    findByUserCode: (model, code) => store(model).findByUserCode(model, code),
    consume: (model, id) => store(model).consume(model, id),
    async findGrantSource(model, id) {
      if (SHORT_LIVED_MODELS.has(model)) return shortLived.findGrantSource(model, id);
      const read = await durable.findGrantSource(model, id);
      // Sessions live in Redis: the database's answer about them means nothing.
      if (!read) return undefined;
      const { session: _none, ...rest } = read;
      return { ...rest, sessionRead: false };
    },
    rotateRefreshToken: (spentId, successorId, payload, expiresIn) => durable.rotateRefreshToken(spentId, successorId, payload, expiresIn),
    destroy: (model, id) => store(model).destroy(model, id),
    revokeByGrantId: (model, grantId) => store(model).revokeByGrantId(model, grantId),
    listByAccount: (model, accountId) => store(model).listByAccount(model, accountId),
    countByGrant: (model, grantId) => store(model).countByGrant(model, grantId),
    findLatestForClient: (model, accountId, clientId) => store(model).findLatestForClient(model, accountId, clientId),
    async deleteByAccount(models, accountId) {
      const [inDurable, inShortLived] = split(models);
      const [a, b] = await Promise.all([durable.deleteByAccount(inDurable, accountId), shortLived.deleteByAccount(inShortLived, accountId)]);
      return { ...a, ...b };
    },
    async deleteByClient(models, clientId) {
      const [inDurable, inShortLived] = split(models);
      const [a, b] = await Promise.all([durable.deleteByClient(inDurable, clientId), shortLived.deleteByClient(inShortLived, clientId)]);
      return a + b;
    },
    purgeExpired: (limit) => durable.purgeExpired(limit),
  };
}
