// oidc-provider's storage adapter: translates the library's model calls into
// repository calls (the contract is lib/adapters/memory_adapter.js
// upstream). Clients come from the client table; every other model from
// oidc_model. Decisions about stored data (refresh-token reuse grace, what a
// rotation writes) are the repository's.
import { errors, type Adapter, type AdapterFactory, type AdapterPayload } from 'oidc-provider';
import type { ClientRepository } from '../repositories/client-repository.ts';
import { splitClientScope } from './api-scopes.ts';
import { PROVIDER_SCOPES } from './configuration.ts';
import type { GrantSourceModel, OidcModelRepository } from '../repositories/oidc-model-repository.ts';
import { UnstorableValueError } from '../errors.ts';
import { currentGrantType, keepForRequest, takeFromRequest } from './request-scope.ts';
import { keepAccountForRequest } from './find-account.ts';
import { ISSUED_REFRESH_TOKEN, REDEEMING_CODE } from './code-redemption.ts';

export function createAdapterFactory(repos: { oidcModels: OidcModelRepository; clients: ClientRepository }): AdapterFactory {
  return (name) => {
    if (name === 'Client') return clientAdapter(repos.clients);
    if (name === 'RefreshToken') return refreshTokenAdapter(grantSourceAdapter(name, modelAdapter(name, repos.oidcModels), repos.oidcModels), repos.oidcModels);
    if (name === 'AuthorizationCode') return codeAdapter(grantSourceAdapter(name, modelAdapter(name, repos.oidcModels), repos.oidcModels));
    if (name === 'Grant') return keptLookupAdapter(modelAdapter(name, repos.oidcModels), 'find', grantKey);
    if (name === 'Session') return keptLookupAdapter(modelAdapter(name, repos.oidcModels), 'findByUid', sessionKey);
    if (name === 'ReplayDetection') return replayDetectionAdapter(modelAdapter(name, repos.oidcModels), repos.oidcModels);
    return modelAdapter(name, repos.oidcModels);
  };
}

const grantKey = (id: string) => `Grant:${id}`;
const sessionKey = (uid: string) => `Session:uid:${uid}`;
const SPENT_REFRESH_TOKEN = 'RefreshToken:spent';

/**
 * A code exchange or a refresh (lib/actions/grants/ upstream) reads the
 * token, then its grant (validateGrant), its account (findAccount) and, for
 * tokens that expire with their session, the session (checkSessionBinding).
 * Here the first read brings the others along, kept for the same request
 * only and taken once, so the library's next reads cost no round trip.
 */
function grantSourceAdapter(model: GrantSourceModel, adapter: Adapter, store: OidcModelRepository): Adapter {
  return {
    ...adapter,
    async find(id) {
      const read = await store.findGrantSource(model, id);
      if (!read) return undefined;
      const { token } = read;
      if (read.related && typeof token.grantId === 'string') keepForRequest(grantKey(token.grantId), read.grant);
      if (read.related && typeof token.accountId === 'string') keepAccountForRequest(token.accountId, read.account);
      if (read.sessionRead && typeof token.sessionUid === 'string') keepForRequest(sessionKey(token.sessionUid), read.session);
      return token as AdapterPayload;
    },
  };
}

/**
 * A refresh (lib/actions/grants/refresh_token.js upstream) consumes the
 * token and saves its successor. Here consume only notes which token is
 * being spent: saving the successor spends it in the same write
 * (OidcModelRepository.rotateRefreshToken), so a refresh is two statements,
 * the read (grantSourceAdapter) and this write. The race loser, or a replay
 * past the grace window, fails at that write with invalid_grant, before
 * anything is issued.
 */
function refreshTokenAdapter(adapter: Adapter, store: OidcModelRepository): Adapter {
  return {
    ...adapter,
    async consume(id) {
      // Outside a refresh (the library never does this; the storage contract does), consume at once.
      if (currentGrantType() !== 'refresh_token') return adapter.consume(id);
      keepForRequest(SPENT_REFRESH_TOKEN, id);
    },
    async upsert(id, payload, expiresIn) {
      const spent = takeFromRequest<string>(SPENT_REFRESH_TOKEN)?.value;
      if (spent === undefined) {
        await adapter.upsert(id, payload, expiresIn);
        // A code exchange: undone if the code turns out spent (oidc/code-redemption.ts).
        if (currentGrantType() === 'authorization_code') keepForRequest(ISSUED_REFRESH_TOKEN, id);
        return;
      }
      let rotated: boolean;
      try {
        rotated = await store.rotateRefreshToken(spent, id, payload as Record<string, unknown>, expiresIn);
      } catch (err) {
        if (err instanceof UnstorableValueError) throw new errors.InvalidRequest(err.message);
        throw err;
      }
      if (!rotated) throw new errors.InvalidGrant('grant already used');
    },
  };
}

/**
 * A code exchange consumes the code before it stores the tokens. Here
 * consume only notes the code; oidc/code-redemption.ts spends it once the
 * exchange has succeeded, so a fault in between leaves it unspent.
 */
function codeAdapter(adapter: Adapter): Adapter {
  return {
    ...adapter,
    async consume(id) {
      if (currentGrantType() !== 'authorization_code') return adapter.consume(id);
      keepForRequest(REDEEMING_CODE, id);
    },
  };
}

/**
 * Grant.find and Session.findByUid answered from what this request's token
 * read brought along (grantSourceAdapter), when it did; otherwise from storage.
 */
function keptLookupAdapter(adapter: Adapter, lookup: 'find' | 'findByUid', keyOf: (value: string) => string): Adapter {
  const read = adapter[lookup].bind(adapter);
  return {
    ...adapter,
    async [lookup](value: string) {
      const kept = takeFromRequest<AdapterPayload>(keyOf(value));
      return kept ? kept.value : read(value);
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

/** The ReplayDetection model's adapter, with the one-statement write its `unique` needs (replay-detection.ts). */
export interface ReplayDetectionAdapter extends Adapter {
  insertIfAbsent(id: string, payload: AdapterPayload, expiresIn: number): Promise<boolean>;
}

function replayDetectionAdapter(adapter: Adapter, store: OidcModelRepository): ReplayDetectionAdapter {
  return {
    ...adapter,
    async insertIfAbsent(id, payload, expiresIn) {
      try {
        return await store.insertIfAbsent('ReplayDetection', id, payload as Record<string, unknown>, expiresIn);
      } catch (err) {
        if (err instanceof UnstorableValueError) throw new errors.InvalidRequest(err.message);
        throw err;
      }
    },
  };
}

function clientAdapter(clients: ClientRepository): Adapter {
  const isOwn = (scope: string) => PROVIDER_SCOPES.includes(scope);
  const readOnly = async () => {
    throw new Error('clients are managed through Tollgate, not through oidc-provider');
  };
  return {
    async find(id) {
      const client = await clients.find(id);
      if (!client) return undefined;
      // The digest stands in for the secret; oidc/configuration.ts compares
      // presented secrets against it (compareClientSecret).
      // Registered APIs' scopes aside (oidc/api-scopes.ts); they were checked when the client was registered or updated.
      return {
        ...splitClientScope(client.metadata as Record<string, unknown>, isOwn),
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
