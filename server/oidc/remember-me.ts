// "Keep me signed in" (issue 18): what the choice of one sign-in does
// inside oidc-provider, and how it reaches the ID tokens of that session.
//
// The session cookie: the login result's `remember: false` makes the
// library's session `transient` (lib/actions/authorization/resume.js), and a
// transient session's cookie gets no `expires` (lib/shared/session.js): it
// ends when the browser closes. Checked, the cookie lasts as the session does
// (SESSION_TTL), as before.
//
// The ID token's `remember_me` claim, from the code exchange and on every
// refresh, without reading the session at the token endpoint (no statement
// more there: test/flows/statements.test.ts). The library copies a fixed set
// of fields from the code to the refresh token and from each refresh token to
// the next (lib/helpers/grant_common.js, lib/actions/grants/refresh_token.js):
// accountId, acr, amr, authTime, claims, expiresWithSession, grantId, nonce,
// resource, scope, sessionUid, sid, rar. `acr`, `amr` and `authTime` are
// released as they are in every ID token, so they cannot hold a value of
// ours; `claims` (the claims parameter, OpenID Connect Core §5.5, as the
// authorization request left it) is read only by its `id_token` and
// `userinfo` members (lib/helpers/filter_claims.js), so a member of our own
// beside them rides along to every token of the family, stored with it. It is
// written when the code is made: the library hands each new code to the
// `expiresWithSession` option before saving it (lib/helpers/
// process_response_types.js), with the session (and its `transient` flag) at
// hand. findAccount (oidc/find-account.ts) reads it from the code or refresh
// token being exchanged, which the library passes it. A client cannot set it:
// whatever the claims parameter held under that name is overwritten with the
// session's own state.
import type { KoaContextWithOIDC } from 'oidc-provider';

/** The ID token claim: true for a remembered sign-in, false for one that ends with the browser. */
export const REMEMBER_ME_CLAIM = 'remember_me';

/** Our member of a code's or refresh token's `claims` (a URN: no claims-parameter member can mean anything else by it). */
const CARRIER = 'urn:tollgate:remember_me';

interface CarriesClaims { claims?: Record<string, unknown> }

/**
 * For the `expiresWithSession` option: notes on a new code whether its
 * session is remembered. The session is the authorization request's, signed
 * in by now (a sign-in just finished, or an existing session's silent one).
 */
export function carryRememberChoice(ctx: KoaContextWithOIDC, code: unknown): void {
  const session = ctx.oidc.session as { accountId?: string; transient?: boolean } | undefined;
  if (!session?.accountId) return;
  const token = code as CarriesClaims;
  // A fresh object: the code's `claims` is the request's own (ctx.oidc.claims).
  token.claims = { ...token.claims, [CARRIER]: session.transient !== true };
}

/** The choice a code or refresh token carries; undefined for one issued before it was carried. */
export function rememberChoiceOf(token: unknown): boolean | undefined {
  const carried = (token as CarriesClaims | undefined)?.claims?.[CARRIER];
  return typeof carried === 'boolean' ? carried : undefined;
}

/**
 * The library only ever sets `transient` on a session (Session#loginAccount
 * assigns it when true, never clears it), so a browser whose earlier sign-in
 * was not remembered would stay transient after signing in again with the box
 * checked. Called where the session is about to be saved (the `ttl.Session`
 * option, before the cookie is written): a login result that says
 * `remember: true` in so many words makes it a remembered session again. A
 * step-up (second factor on an existing session) says nothing and keeps the
 * session's choice.
 */
export function applyRememberChoice(ctx: KoaContextWithOIDC | undefined, session: unknown): void {
  const result = (ctx?.oidc as { result?: { login?: { remember?: unknown } } } | undefined)?.result;
  if (result?.login?.remember === true) delete (session as { transient?: boolean }).transient;
}
