// The back-channel logout receiver (OpenID Connect Back-Channel Logout 1.0):
// the authorization server POSTs a signed logout token when a login session
// ends there (sign-out, forced logout, an account disabled), and the BFF
// ends its own session at once, not at the next refresh. The BFF is
// stateless, so "ending" means listing the ended `sid` (or `sub`) in the
// store, which every request that reads the session checks.
//
// §2.5: the request is application/x-www-form-urlencoded, `logout_token=…`.
// §2.6: the token is verified as an ID token is (signature with the
//       issuer's keys, iss, aud, iat), and besides: `events` holds the
//       back-channel logout event, `sid` and/or `sub` is present, `nonce` is
//       absent (so an ID token can never pass for one), and a `jti` already
//       received is refused.
// §2.7: the session named by `sid`, or every session of `sub`, ends.
// §2.8: 200 on success; 400 when the token is not valid or the logout
//       failed; no-store (RFC 9111) either way.
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';
import type * as oidc from 'openid-client';
import { endedSessionKey, endedSubjectKey, usedLogoutTokenKey, type BffStore } from './store.ts';
import { sendError } from './respond.ts';

const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/** A logout token is small (a signed JWT of a few claims): a larger body is refused unread. */
const MAX_BODY_BYTES = 16 * 1024;

/** How old a logout token may be (its iat), in seconds: it is sent the moment the session ends, and retried briefly at most. */
export const LOGOUT_TOKEN_MAX_AGE = 300;
/** Clock skew allowed between the authorization server and the BFF, seconds. */
const CLOCK_TOLERANCE = 30;

/** Why a logout request is refused: answered 400 invalid_request with this description. */
class InvalidLogoutRequest extends Error {}

export interface BackchannelLogoutSettings {
  clientId: string;
  store: BffStore | undefined;
  /** How long a BFF session can live (seconds): the deny-list entry must outlive it. */
  sessionLifetime: number;
  server: () => Promise<oidc.Configuration>;
  now: () => number;
  onError: (error: unknown) => void;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') throw new InvalidLogoutRequest('the request must be application/x-www-form-urlencoded');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new InvalidLogoutRequest('the request is too large');
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

export function backchannelLogoutReceiver(settings: BackchannelLogoutSettings) {
  // The issuer's keys, fetched from its jwks_uri on first use and cached
  // (refetched when a token names a key id not seen yet: key rotation).
  let keys: { uri: string; set: ReturnType<typeof createRemoteJWKSet> } | undefined;
  const keySet = (uri: string) => {
    if (keys?.uri !== uri) keys = { uri, set: createRemoteJWKSet(new URL(uri)) };
    return keys.set;
  };

  async function verify(token: string): Promise<JWTPayload> {
    const config = await settings.server();
    const metadata = config.serverMetadata();
    if (!metadata.jwks_uri) throw new InvalidLogoutRequest('the authorization server publishes no keys');
    // Asymmetric algorithms only: the client's secret must not be able to sign logouts.
    const algorithms = (metadata.id_token_signing_alg_values_supported ?? ['RS256']).filter((alg) => alg !== 'none' && !alg.startsWith('HS'));
    let verified: Awaited<ReturnType<typeof jwtVerify>>;
    try {
      verified = await jwtVerify(token, keySet(metadata.jwks_uri), {
        issuer: metadata.issuer,
        audience: settings.clientId,
        algorithms,
        // Back-Channel Logout 1.0 §2.4: iss, aud, iat, exp, jti and events are REQUIRED.
        requiredClaims: ['iat', 'exp', 'jti', 'events'],
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE,
        clockTolerance: CLOCK_TOLERANCE,
        currentDate: new Date(settings.now()),
      });
    } catch (err) {
      // Network failures fetching the keys included: the logout did not happen, 400 (§2.8); reported for the app's log.
      if (!(err instanceof errors.JOSEError) || err instanceof errors.JWKSTimeout) settings.onError(err);
      throw new InvalidLogoutRequest('the logout token is not valid');
    }
    const { payload, protectedHeader } = verified;
    // §2.4 explicit typing: when a typ is given, it is the logout token's.
    if (protectedHeader.typ !== undefined && !/^(application\/)?logout\+jwt$/i.test(protectedHeader.typ)) throw new InvalidLogoutRequest('the token is not a logout token (typ)');
    const events = payload.events as Record<string, unknown> | undefined;
    const event = events && typeof events === 'object' ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined;
    if (!event || typeof event !== 'object' || Array.isArray(event)) throw new InvalidLogoutRequest('the token holds no back-channel logout event');
    if (payload.nonce !== undefined) throw new InvalidLogoutRequest('a logout token never carries a nonce');
    const sid = payload.sid;
    const sub = payload.sub;
    if (sid !== undefined && (typeof sid !== 'string' || sid === '')) throw new InvalidLogoutRequest('sid must be a string');
    if (sid === undefined && (typeof sub !== 'string' || sub === '')) throw new InvalidLogoutRequest('the token names neither a session (sid) nor a subject (sub)');
    if (typeof payload.jti !== 'string' || payload.jti === '' || payload.jti.length > 256) throw new InvalidLogoutRequest('jti must be a string');
    return payload;
  }

  return async function receive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const store = settings.store;
    try {
      if (!store) throw new InvalidLogoutRequest('this BFF keeps no store, and cannot end sessions from the server');
      const token = (await readForm(req)).get('logout_token');
      if (!token) throw new InvalidLogoutRequest('logout_token is required');
      const claims = await verify(token);
      const now = settings.now();
      // §2.6 step 6: a jti seen before is a replay. Kept until the token could no longer be accepted anyway.
      const jtiKey = usedLogoutTokenKey(createHash('sha256').update(`${claims.iss}\n${claims.jti}`).digest('base64url'));
      const acceptedUntil = Math.max((claims.iat! + LOGOUT_TOKEN_MAX_AGE) * 1000, (claims.exp ?? 0) * 1000) + CLOCK_TOLERANCE * 1000;
      let firstUse: boolean;
      try {
        firstUse = await store.add(jtiKey, '1', Math.max(1, (acceptedUntil - now) / 1000));
      } catch (err) {
        settings.onError(err);
        throw new InvalidLogoutRequest('the session store is unavailable');
      }
      if (!firstUse) throw new InvalidLogoutRequest('this logout token was received before');
      try {
        // §2.7: the session named, else every session of the subject begun until now;
        // listed for as long as any of them could still be presented.
        if (typeof claims.sid === 'string') await store.set(endedSessionKey(claims.sid), '1', settings.sessionLifetime);
        else await store.set(endedSubjectKey(claims.sub!), String(now), settings.sessionLifetime);
      } catch (err) {
        settings.onError(err);
        // Not ended: the authorization server may retry with the same token.
        await store.delete(jtiKey).catch(() => {});
        throw new InvalidLogoutRequest('the session store is unavailable');
      }
      res.statusCode = 200;
      res.setHeader('cache-control', 'no-store');
      res.setHeader('content-length', 0);
      res.end();
    } catch (err) {
      if (!(err instanceof InvalidLogoutRequest)) settings.onError(err);
      // Never a 500 (§2.8: 400 when the logout failed), and the body never echoes the token.
      const description = err instanceof InvalidLogoutRequest ? err.message : 'the logout could not be processed';
      if (!res.headersSent) sendError(res, 400, 'invalid_request', description);
      else res.destroy();
    }
  };
}
