// Ending a person's sign-ins from the server side (forced logout): every
// login session, every grant and everything issued from them, and a
// back-channel logout token (OpenID Connect Back-Channel Logout 1.0) for
// each session to every client that registered a back-channel URI.
// Keycloak's bulk logout does not notify clients; this does.
import type Provider from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { OidcModelRepository } from '../repositories/oidc-model-repository.ts';

/** What a user's sign-ins leave in storage; all of it goes. */
const USER_MODELS = ['Session', 'Grant', 'RefreshToken', 'AuthorizationCode', 'AccessToken', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;

export interface ForcedLogout {
  sessions: number;
  grants: number;
  refresh_tokens: number;
  backchannel_notified: number;
  backchannel_failed: number;
}

interface BackchannelClient {
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

interface SessionPayload { authorizations?: Record<string, { sid?: string }> }

export interface SessionService {
  endEverything(accountId: string): Promise<ForcedLogout>;
}

export function createSessionService(deps: { provider: Provider; oidcModels: OidcModelRepository; logger: Logger }): SessionService {
  return {
    async endEverything(accountId) {
      // Notify first: a logout token names the session (sid) it ends.
      const notices: Array<Promise<boolean | undefined>> = [];
      for (const { payload } of await deps.oidcModels.listByAccount('Session', accountId)) {
        for (const [clientId, authorization] of Object.entries((payload as SessionPayload).authorizations ?? {})) {
          notices.push((async () => {
            // Client#backchannelLogout signs and POSTs the logout token (oidc-provider 9, lib/models/client.js:442).
            const client = (await deps.provider.Client.find(clientId)) as unknown as BackchannelClient | undefined;
            if (!client?.backchannelLogoutUri || !authorization.sid) return undefined;
            try {
              await client.backchannelLogout(accountId, authorization.sid);
              return true;
            } catch (err) {
              deps.logger.warn({ client_id: clientId, err: { message: (err as Error).message } }, 'back-channel logout failed');
              return false;
            }
          })());
        }
      }
      const results = await Promise.all(notices);
      const removed = await deps.oidcModels.deleteByAccount(USER_MODELS, accountId);
      return {
        sessions: removed.Session ?? 0,
        grants: removed.Grant ?? 0,
        refresh_tokens: removed.RefreshToken ?? 0,
        backchannel_notified: results.filter((ok) => ok === true).length,
        backchannel_failed: results.filter((ok) => ok === false).length,
      };
    },
  };
}
