// How each session signed in, for the ID token's `idp` claim (issue 15,
// point 5). oidc-provider keeps a login's `amr` on the session and copies it
// into the codes and refresh tokens it issues, but nothing else of the login
// result (lib/actions/authorization/resume.js: accountId, ts, amr, acr,
// remember). The social sign-in hands the provider id along in the result
// (`federation.provider`, routes/interaction/federated.ts), which the library
// stores with the interaction but does not read; this provider middleware
// writes it beside the session's device record once the login is resumed,
// before the response (and the code in it) leaves, with the login's time.
// findAccount reads it back only for tokens whose `amr` says `fed` (password
// sign-ins pay nothing), and only for the login of the token's `auth_time`:
// a refresh token from an earlier sign-in of the same session (before a
// prompt=login with another provider) gets no `idp` rather than a wrong one.
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Next } from 'koa';
import type { SessionDeviceRepository } from '../repositories/session-device-repository.ts';

/** The `amr` value of a sign-in through an upstream provider (not registered by RFC 8176, which has none for federation). */
export const FEDERATED_AMR = 'fed';

export function recordSignInMethod(devices: Pick<SessionDeviceRepository, 'recordSignIn'>) {
  return async function recordSignInMethodMiddleware(ctx: KoaContextWithOIDC, next: Next): Promise<void> {
    await next();
    const oidc = ctx.oidc as (KoaContextWithOIDC['oidc'] & { result?: { login?: unknown; federation?: { provider?: unknown } } }) | undefined;
    if (oidc?.route !== 'resume' || !oidc.result?.login) return;
    const session = oidc.session;
    if (!session?.uid || !session.accountId) return;
    const provider = oidc.result.federation?.provider;
    const idp = typeof provider === 'string' ? provider : null;
    // A session made by this very sign-in has no record to correct: a password sign-in then writes nothing.
    if (idp === null && (session as { new?: boolean }).new) return;
    await devices.recordSignIn(session.uid, session.accountId, idp, session.loginTs ?? 0);
  };
}
