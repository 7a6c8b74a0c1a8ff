// Ending sign-ins from the server side: one login session (with the refresh
// tokens bound to it), all of a user's sessions (the "single" concurrent-
// login policy), or everything a user holds (forced logout: sessions,
// grants and all issued from them). Each ended session is announced with a
// back-channel logout token (OpenID Connect Back-Channel Logout 1.0) to every
// client in it that registered a back-channel URI. Keycloak's bulk logout
// does not notify clients; this does.
import type Provider from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { ModelPayload, OidcModelRepository } from '../repositories/oidc-model-repository.ts';

/** What a user's sign-ins leave in storage. */
const USER_MODELS = ['Session', 'Grant', 'RefreshToken', 'AuthorizationCode', 'AccessToken', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;
/** What one login session issues and takes with it when it ends. */
const SESSION_BOUND_MODELS = ['RefreshToken', 'AuthorizationCode', 'AccessToken'] as const;

export interface EndedSessions {
  sessions: number;
  refresh_tokens: number;
  backchannel_notified: number;
  backchannel_failed: number;
}

export interface ForcedLogout extends EndedSessions {
  grants: number;
}

interface SessionPayload { uid?: string; accountId?: string; authorizations?: Record<string, { sid?: string }> }

interface BackchannelClient {
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

export interface SessionService {
  /** Ends every login session of an account (other devices included). */
  endSessionsOf(accountId: string): Promise<EndedSessions>;
  /** Forced logout: every session, every grant, everything issued from them. */
  endEverything(accountId: string): Promise<ForcedLogout>;
}

export function createSessionService(deps: { provider: Provider; oidcModels: OidcModelRepository; logger: Logger }): SessionService {
  /** true: delivered; false: failed; undefined: the client has no back-channel receiver. */
  const notify = async (accountId: string, clientId: string, sid: string | undefined): Promise<boolean | undefined> => {
    // Client#backchannelLogout signs and POSTs the logout token (oidc-provider 9, lib/models/client.js:442).
    const client = (await deps.provider.Client.find(clientId)) as unknown as BackchannelClient | undefined;
    if (!client?.backchannelLogoutUri || !sid) return undefined;
    try {
      await client.backchannelLogout(accountId, sid);
      return true;
    } catch (err) {
      deps.logger.warn({ client_id: clientId, err: { message: (err as Error).message } }, 'back-channel logout failed');
      return false;
    }
  };

  const endOne = async (id: string, payload: ModelPayload) => {
    const session = payload as SessionPayload;
    const accountId = String(session.accountId ?? '');
    const notices = await Promise.all(Object.entries(session.authorizations ?? {}).map(([clientId, a]) => notify(accountId, clientId, a.sid)));
    await deps.oidcModels.destroy('Session', id);
    const refreshTokens = session.uid ? await deps.oidcModels.deleteBySession(SESSION_BOUND_MODELS, session.uid) : 0;
    return { notices, refreshTokens };
  };

  const endSessionsOf = async (accountId: string): Promise<EndedSessions> => {
    const ended = await Promise.all((await deps.oidcModels.listByAccount('Session', accountId)).map((s) => endOne(s.id, s.payload)));
    const notices = ended.flatMap((e) => e.notices);
    return {
      sessions: ended.length,
      refresh_tokens: ended.reduce((sum, e) => sum + e.refreshTokens, 0),
      backchannel_notified: notices.filter((ok) => ok === true).length,
      backchannel_failed: notices.filter((ok) => ok === false).length,
    };
  };

  return {
    endSessionsOf,
    async endEverything(accountId) {
      // Sessions first: their logout tokens name the session (sid) they end.
      const sessions = await endSessionsOf(accountId);
      const removed = await deps.oidcModels.deleteByAccount(USER_MODELS, accountId);
      return { ...sessions, grants: removed.Grant ?? 0, refresh_tokens: sessions.refresh_tokens + (removed.RefreshToken ?? 0) };
    },
  };
}
