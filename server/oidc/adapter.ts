// oidc-provider's storage adapter: translates the library's model calls into
// repository calls and nothing more (the contract is lib/adapters/memory_adapter.js
// upstream). Clients come from the client table; every other model from
// oidc_model.
import { errors, type Adapter, type AdapterFactory, type AdapterPayload } from 'oidc-provider';
import type { ClientRepository } from '../repositories/client-repository.ts';
import type { OidcModelRepository } from '../repositories/oidc-model-repository.ts';
import { UnstorableValueError } from '../errors.ts';

export function createAdapterFactory(repos: { oidcModels: OidcModelRepository; clients: ClientRepository }): AdapterFactory {
  return (name) => (name === 'Client' ? clientAdapter(repos.clients) : modelAdapter(name, repos.oidcModels));
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
