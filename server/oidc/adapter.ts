// oidc-provider's storage adapter: translates the library's model calls into
// repository calls and nothing more (the contract is lib/adapters/memory_adapter.js
// upstream). Clients come from the client table; every other model from
// oidc_model.
import { errors, type Adapter, type AdapterFactory, type AdapterPayload } from 'oidc-provider';
import type { ClientRepository } from '../repositories/client-repository.ts';
import type { OidcModelRepository } from '../repositories/oidc-model-repository.ts';
import { UnstorableValueError } from '../errors.ts';

export function createAdapterFactory(repos: { oidcModels: OidcModelRepository; clients: ClientRepository }): AdapterFactory {
  return (name) => {
    if (name === 'Client') return clientAdapter(repos.clients);
    if (name === 'RefreshToken') return withReuseGrace(modelAdapter(name, repos.oidcModels), repos);
    return modelAdapter(name, repos.oidcModels);
  };
}

/** Client metadata: seconds during which the refresh token just rotated away may be presented again (default 0). */
export const REUSE_GRACE_METADATA = 'refresh_token_reuse_grace_seconds';

/**
 * A per-client grace window for refresh token reuse, as Hydra and Auth0
 * offer: an application with several tabs may retry the token it has just
 * rotated, for a few seconds, without tripping theft detection. Within the
 * window the spent token looks unspent to the library (which then rotates
 * again instead of revoking the family); older tokens, and any token after
 * the window, still revoke it.
 */
function withReuseGrace(adapter: Adapter, repos: { oidcModels: OidcModelRepository; clients: ClientRepository }): Adapter {
  const model = 'RefreshToken';
  const graceFor = async (clientId: unknown) => {
    if (typeof clientId !== 'string') return 0;
    const seconds = (await repos.clients.find(clientId))?.metadata[REUSE_GRACE_METADATA];
    return typeof seconds === 'number' ? seconds : 0;
  };
  return {
    ...adapter,
    async find(id) {
      const payload = (await repos.oidcModels.find(model, id)) as AdapterPayload | undefined;
      if (!payload?.consumed) return payload;
      const grace = await graceFor(payload.clientId);
      if (grace > 0 && (await repos.oidcModels.withinReuseGrace(model, id, grace))) {
        const { consumed: _spent, ...unspent } = payload;
        return unspent as AdapterPayload;
      }
      return payload;
    },
    async consume(id) {
      if (await repos.oidcModels.consume(model, id)) return;
      const payload = await repos.oidcModels.find(model, id);
      const grace = await graceFor(payload?.clientId);
      if (grace > 0 && typeof payload?.grantId === 'string' && (await repos.oidcModels.withinReuseGrace(model, id, grace))) {
        // The retry replaces the successor it was given before, which is
        // deleted here: the family keeps one live line instead of forking
        // (a replay in the window takes the line over; the other holder's
        // next use then fails).
        await repos.oidcModels.deleteUnconsumedByGrant(model, payload.grantId);
        return;
      }
      throw new errors.InvalidGrant('grant already used');
    },
  };
}

function modelAdapter(model: string, store: OidcModelRepository): Adapter {
  return {
    async upsert(id, payload, expiresIn) {
      try {
        await store.upsert(model, id, payload as Record<string, unknown>, expiresIn);
      } catch (err) {
        // A request parameter with NUL (state, nonce, login_hint...) would be
        // stored with the interaction: a bad request, not a server error.
        if (err instanceof UnstorableValueError) throw new errors.InvalidRequest(err.message);
        throw err;
      }
    },
    find: async (id) => (await store.find(model, id)) as AdapterPayload | undefined,
    findByUid: async (uid) => (await store.findByUid(model, uid)) as AdapterPayload | undefined,
    findByUserCode: async (userCode) => (await store.findByUserCode(model, userCode)) as AdapterPayload | undefined,
    async consume(id) {
      // The library ignores consume's result and goes on issuing, so the
      // loser of a race must be stopped here: of N concurrent redemptions of
      // one code or refresh token, only the conditional UPDATE's winner
      // proceeds, the others get invalid_grant.
      if (!(await store.consume(model, id))) {
        throw new errors.InvalidGrant(`${model === 'AuthorizationCode' ? 'authorization code' : 'grant'} already used`);
      }
    },
    destroy: (id) => store.destroy(model, id),
    revokeByGrantId: (grantId) => store.revokeByGrantId(model, grantId),
  };
}

function clientAdapter(clients: ClientRepository): Adapter {
  const readOnly = async () => {
    throw new Error('clients are managed through Tollgate, not through oidc-provider');
  };
  return {
    async find(id) {
      const client = await clients.find(id);
      if (!client) return undefined;
      // The digest stands in for the secret; oidc/configuration.ts compares
      // presented secrets against it (compareClientSecret).
      return {
        ...client.metadata,
        client_id: client.id,
        ...(client.secretDigest ? { client_secret: client.secretDigest } : {}),
      } as AdapterPayload;
    },
    upsert: readOnly,
    findByUid: async () => undefined,
    findByUserCode: async () => undefined,
    consume: readOnly,
    destroy: readOnly,
    revokeByGrantId: async () => undefined,
  };
}
