// Ending sign-ins from the server side: one login session (with the refresh
// tokens bound to it), all of a user's sessions (the "single" concurrent-
// login policy), or everything a user holds (forced logout: sessions,
// grants and all issued from them). Each ended session is announced with a
// back-channel logout token (OpenID Connect Back-Channel Logout 1.0) to every
// client in it that registered a back-channel URI. Keycloak's bulk logout
// does not notify clients; this does.
import type Provider from 'oidc-provider';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { Logger } from '../logger.ts';
import type { Audit } from './audit.ts';
import type { ModelPayload, OidcModelRepository } from '../repositories/oidc-model-repository.ts';
import type { SessionDeviceRepository } from '../repositories/session-device-repository.ts';

/** What a user's sign-ins leave in storage. */
const USER_MODELS = ['Session', 'Grant', 'RefreshToken', 'AuthorizationCode', 'AccessToken', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;

export interface EndedSessions {
  sessions: number;
  /** Grants (one per client and sign-in) revoked with them. */
  grants: number;
  refresh_tokens: number;
  backchannel_notified: number;
  backchannel_failed: number;
}

export type ForcedLogout = EndedSessions;

interface SessionPayload { uid?: string; accountId?: string; authorizations?: Record<string, { sid?: string; grantId?: string }> }

interface BackchannelClient {
  backchannelLogoutUri?: string;
  backchannelLogout(sub: string, sid: string): Promise<void>;
}

/**
 * A user's sessions and grants as operators read them: the admin API's
 * answer (GET /admin/v1/users/{id}/sessions) and `tollgate users sessions`.
 */
export function sessionsOverviewJson(overview: { sessions: SessionView[]; grants: GrantView[] }) {
  return {
    sessions: overview.sessions.map((s) => ({
      uid: s.uid, signed_in_at: s.signedInAt ?? null, last_seen_at: s.lastSeenAt ?? null, user_agent: s.userAgent, ip: s.ip, client_ids: s.clientIds,
      remembered: s.remembered,
    })),
    grants: overview.grants.map((g) => ({ id: g.id, client_id: g.clientId, scopes: g.scopes, granted_at: g.grantedAt ?? null })),
  };
}

export interface SessionView {
  /** The session's public handle (never its id, which is the session cookie's value). */
  uid: string;
  signedInAt: Date | undefined;
  lastSeenAt: Date | undefined;
  userAgent: string | null;
  ip: string | null;
  clientIds: string[];
  /** Display names of the applications signed in through this session. */
  clients: string[];
  /** "Keep me signed in": false for a session whose cookie ends with the browser (oidc-provider's `transient`; oidc/remember-me.ts). */
  remembered: boolean;
}

export interface GrantView {
  id: string;
  clientId: string;
  clientName: string;
  scopes: string[];
  grantedAt: Date | undefined;
}

export interface SessionService {
  /** A user's sessions (with their devices) and grants, newest first. */
  overview(accountId: string): Promise<{ sessions: SessionView[]; grants: GrantView[] }>;
  /** Ends one of the account's sessions, named by its uid; false when it is not theirs (or gone). */
  endSession(accountId: string, sessionUid: string): Promise<boolean>;
  /** Revokes one of the account's grants and everything issued from it; false when it is not theirs. */
  revokeGrant(accountId: string, grantId: string): Promise<boolean>;
  /** Ends every login session of an account (other devices included). */
  endSessionsOf(accountId: string): Promise<EndedSessions>;
  /** Forced logout: every session, every grant, everything issued from them. */
  endEverything(accountId: string): Promise<ForcedLogout>;
  /**
   * Everything but the session `keepSessionUid` (a password change on the
   * account page): every other session ends (back-channel logout), and every
   * grant not made in the kept session is revoked with its refresh tokens,
   * those of sessions long gone (offline access) included.
   */
  endOtherSessions(accountId: string, keepSessionUid: string): Promise<EndedSessions>;
  /**
   * The concurrent-login policy, applied once a person has proven who they
   * are and before their new session is made: under CONCURRENT_LOGINS=single
   * their other sessions end (audited as `session.ended`).
   */
  beforeSignIn(accountId: string): Promise<void>;
}

export interface SessionServiceDependencies {
  provider: Provider;
  oidcModels: OidcModelRepository;
  sessionDevices: SessionDeviceRepository;
  logger: Logger;
  audit: Audit;
  /** CONCURRENT_LOGINS: `single` ends a person's other sessions when they sign in. */
  concurrentLogins: Config['concurrentLogins'];
  /** Counts the logout tokens sent from here (RP-initiated logout's are counted from the library's events). */
  metrics?: Pick<Metrics, 'backchannelLogout'>;
}

const GRANT_BOUND_MODELS = ['RefreshToken', 'AuthorizationCode', 'AccessToken', 'DeviceCode', 'BackchannelAuthenticationRequest'] as const;

interface GrantPayload { clientId?: string; iat?: number; openid?: { scope?: string }; resources?: Record<string, string> }

export function createSessionService(deps: SessionServiceDependencies): SessionService {
  /** true: delivered; false: failed; undefined: the client has no back-channel receiver. */
  const notify = async (accountId: string, clientId: string, sid: string | undefined): Promise<boolean | undefined> => {
    // Client#backchannelLogout signs and POSTs the logout token (oidc-provider 9, lib/models/client.js:442).
    const client = (await deps.provider.Client.find(clientId)) as unknown as BackchannelClient | undefined;
    if (!client?.backchannelLogoutUri || !sid) return undefined;
    try {
      await client.backchannelLogout(accountId, sid);
      deps.metrics?.backchannelLogout('success');
      return true;
    } catch (err) {
      deps.metrics?.backchannelLogout('error');
      deps.logger.warn({ client_id: clientId, err: { message: (err as Error).message } }, 'back-channel logout failed');
      return false;
    }
  };

  /** Revokes a grant and everything issued from it; returns how many usable refresh tokens went, and whether the grant existed. */
  const revokeFamily = async (grantId: string) => {
    const [refreshTokens, grant] = await Promise.all([deps.oidcModels.countByGrant('RefreshToken', grantId), deps.oidcModels.find('Grant', grantId)]);
    await Promise.all(GRANT_BOUND_MODELS.map((model) => deps.oidcModels.revokeByGrantId(model, grantId)));
    await deps.oidcModels.destroy('Grant', grantId);
    return { refreshTokens, grants: grant ? 1 : 0 };
  };

  /**
   * Ends one session: its clients hear of it by back-channel, and the grants
   * it made (one per client and sign-in: oidc/load-existing-grant.ts) are
   * revoked with everything issued from them, so its refresh tokens stop
   * working and its access tokens read as inactive at introspection and userinfo.
   */
  const endOne = async (id: string, payload: ModelPayload) => {
    const session = payload as SessionPayload;
    const accountId = String(session.accountId ?? '');
    const authorizations = Object.entries(session.authorizations ?? {});
    const notices = await Promise.all(authorizations.map(([clientId, a]) => notify(accountId, clientId, a.sid)));
    await deps.oidcModels.destroy('Session', id);
    let refreshTokens = 0;
    let grants = 0;
    for (const [, a] of authorizations) {
      if (!a.grantId) continue;
      const revoked = await revokeFamily(a.grantId);
      refreshTokens += revoked.refreshTokens;
      grants += revoked.grants;
    }
    return { notices, refreshTokens, grants };
  };

  const endSessionsOf = async (accountId: string): Promise<EndedSessions> => {
    const ended = await Promise.all((await deps.oidcModels.listByAccount('Session', accountId)).map((s) => endOne(s.id, s.payload)));
    const notices = ended.flatMap((e) => e.notices);
    return {
      sessions: ended.length,
      grants: ended.reduce((sum, e) => sum + e.grants, 0),
      refresh_tokens: ended.reduce((sum, e) => sum + e.refreshTokens, 0),
      backchannel_notified: notices.filter((ok) => ok === true).length,
      backchannel_failed: notices.filter((ok) => ok === false).length,
    };
  };

  const epoch = (value: unknown) => (typeof value === 'number' ? new Date(value * 1000) : undefined);

  return {
    async overview(accountId) {
      const [sessions, grants, devices] = await Promise.all([
        deps.oidcModels.listByAccount('Session', accountId),
        deps.oidcModels.listByAccount('Grant', accountId),
        deps.sessionDevices.listByAccount(accountId),
      ]);
      const deviceOf = new Map(devices.map((d) => [d.sessionUid, d]));
      const nameOf = async (clientId: string) => (await deps.provider.Client.find(clientId))?.clientName ?? clientId;
      return {
        sessions: await Promise.all(sessions.map(async ({ payload }) => {
          const session = payload as SessionPayload & { loginTs?: number; transient?: boolean };
          const device = session.uid ? deviceOf.get(session.uid) : undefined;
          return {
            uid: String(session.uid ?? ''),
            signedInAt: epoch(session.loginTs),
            lastSeenAt: device?.lastSeenAt,
            userAgent: device?.userAgent ?? null,
            ip: device?.ip ?? null,
            clientIds: Object.keys(session.authorizations ?? {}),
            clients: await Promise.all(Object.keys(session.authorizations ?? {}).map(nameOf)),
            remembered: session.transient !== true,
          };
        })),
        grants: await Promise.all(grants.map(async ({ id, payload }) => {
          const grant = payload as GrantPayload;
          const clientId = String(grant.clientId ?? '');
          const client = await deps.provider.Client.find(clientId);
          const scopes = new Set([...(grant.openid?.scope ?? '').split(' '), ...Object.values(grant.resources ?? {}).flatMap((s) => s.split(' '))]);
          scopes.delete('');
          return { id, clientId, clientName: client?.clientName ?? clientId, scopes: [...scopes], grantedAt: epoch(grant.iat) };
        })),
      };
    },

    async endSession(accountId, sessionUid) {
      // By uid: the id is the session cookie's value, never to be shown or logged.
      const session = (await deps.oidcModels.listByAccount('Session', accountId)).find((s) => (s.payload as SessionPayload).uid === sessionUid);
      if (!session) return false;
      await endOne(session.id, session.payload);
      return true;
    },

    async revokeGrant(accountId, grantId) {
      const grants = await deps.oidcModels.listByAccount('Grant', accountId);
      const grant = grants.find((g) => g.id === grantId);
      if (!grant) return false;
      // "Remove access" means the application, not one sign-in: every grant it holds from this user goes.
      const clientId = (grant.payload as GrantPayload).clientId;
      for (const g of grants) if ((g.payload as GrantPayload).clientId === clientId) await revokeFamily(g.id);
      return true;
    },

    endSessionsOf,
    async beforeSignIn(accountId) {
      if (deps.concurrentLogins !== 'single') return;
      const ended = await endSessionsOf(accountId);
      if (ended.sessions) await deps.audit.record('session.ended', { accountId, details: { ...ended, by: 'single-session policy' } });
    },
    async endOtherSessions(accountId, keepSessionUid) {
      const all = await deps.oidcModels.listByAccount('Session', accountId);
      const kept = all.find((s) => (s.payload as SessionPayload).uid === keepSessionUid);
      const keptGrants = new Set(Object.values((kept?.payload as SessionPayload | undefined)?.authorizations ?? {}).map((a) => a.grantId));
      const ended = await Promise.all(all.filter((s) => s !== kept).map((s) => endOne(s.id, s.payload)));
      let { grants, refreshTokens } = { grants: 0, refreshTokens: 0 };
      for (const grant of await deps.oidcModels.listByAccount('Grant', accountId)) {
        if (keptGrants.has(grant.id)) continue;
        const revoked = await revokeFamily(grant.id);
        grants += revoked.grants;
        refreshTokens += revoked.refreshTokens;
      }
      const notices = ended.flatMap((e) => e.notices);
      return {
        sessions: ended.length,
        grants: ended.reduce((sum, e) => sum + e.grants, grants),
        refresh_tokens: ended.reduce((sum, e) => sum + e.refreshTokens, refreshTokens),
        backchannel_notified: notices.filter((ok) => ok === true).length,
        backchannel_failed: notices.filter((ok) => ok === false).length,
      };
    },
    async endEverything(accountId) {
      // Sessions first: their logout tokens name the session (sid) they end.
      const sessions = await endSessionsOf(accountId);
      const removed = await deps.oidcModels.deleteByAccount(USER_MODELS, accountId);
      return { ...sessions, grants: sessions.grants + (removed.Grant ?? 0), refresh_tokens: sessions.refresh_tokens + (removed.RefreshToken ?? 0) };
    },
  };
}
