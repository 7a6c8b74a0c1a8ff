// The account page (/account): where a signed-in person sees their sessions
// (device, address, when) and the applications they allowed, and ends one
// session, removes one application's access, or signs out everywhere.
//
// Who is signed in, and the CSRF check of its forms: account-session.ts.
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { AccountService } from '../services/accounts.ts';
import type { Csrf } from '../services/csrf.ts';
import type { SessionService } from '../services/sessions.ts';
import { describeDevice, type SessionDevices } from '../services/devices.ts';
import { accountSession } from './account-session.ts';
import { ACCOUNT_CLIENT_ID } from '../services/reserved-clients.ts';
import type { Pages } from '../views/pages.ts';
import type { Audit, AuditType } from '../services/audit.ts';
import { EMAIL_VERIFICATION_PATH } from './email-verification.ts';
import type { Profile } from '../services/profile.ts';
import { profileSection } from './account-profile.ts';
import { identitiesSection } from './account-identities.ts';
import type { FederationDependencies } from './interaction/federated.ts';
import { mfaSection } from './account-mfa.ts';
import type { MfaService } from '../mfa/mfa.ts';
import type { Passkeys } from '../mfa/passkeys.ts';

interface Dependencies {
  provider: Provider;
  accounts: AccountService;
  sessions: SessionService;
  devices: SessionDevices;
  csrf: Csrf;
  pages: Pages;
  prefix: string;
  issuer: string;
  audit: Audit;
  /** Mail is on: the page offers to send the verification link again. */
  emailVerificationAvailable: boolean;
  /** The profile forms' state (routes/account-profile.ts). */
  profile: Profile;
  /** Linked identities and the providers to link (routes/account-identities.ts). */
  federation: FederationDependencies;
  /** Second factors and passkeys (routes/account-mfa.ts). */
  mfa: MfaService;
  passkeys: Passkeys;
}

export function accountRoutes(deps: Dependencies): Router {
  const base = `${deps.prefix}/account`;
  // Mounted at `base` (app.ts): the routes below are relative to it.
  const router = new Router();

  const { current, signInFirst, authorised, csrfFor } = accountSession(deps);

  const back = (ctx: Context) => {
    ctx.status = 303;
    ctx.redirect(base);
  };

  router.get('/', async (ctx) => {
    // Back from the sign-in: the session cookie is what counts; drop the unused code from the address bar.
    if (ctx.query.code || ctx.query.state || ctx.query.iss) return back(ctx);
    const who = await current(ctx);
    if (!who) return signInFirst(ctx);
    const locale = deps.pages.localeOf(ctx);
    await deps.devices.touch(who.session.uid, who.account.id, ctx.get('user-agent') || undefined, ctx.ip);
    const { sessions, grants } = await deps.sessions.overview(who.account.id);
    const when = (d: Date | undefined) => (d ? `${d.toLocaleString(locale === 'ko' ? 'ko-KR' : 'en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' })} UTC` : undefined);
    deps.pages.render(ctx, 'account', locale, {
      base,
      email: who.account.email,
      csrf: csrfFor(who),
      // Not verified: a button that sends the link again (routes/email-verification.ts), or, with mail off, a note saying it cannot.
      emailVerified: who.account.emailVerified,
      verifyAction: deps.emailVerificationAvailable ? `${deps.prefix}${EMAIL_VERIFICATION_PATH}/send` : undefined,
      sessions: sessions.map((s) => ({
        // The uid, never the id: the id is the session cookie's value.
        id: s.uid,
        current: s.uid === who.session.uid,
        device: s.userAgent ? describeDevice(s.userAgent) : undefined,
        ip: s.ip,
        signedInAt: when(s.signedInAt),
        lastSeen: s.lastSeenAt ? when(s.lastSeenAt) : undefined,
        apps: s.clients.filter((_, i) => s.clientIds[i] !== ACCOUNT_CLIENT_ID).join(', '),
        // "Remembered" or "Ends when the browser closes" (issue 18).
        remembered: s.remembered,
      })),
      grants: oneRowPerClient(grants.filter((g) => g.clientId !== ACCOUNT_CLIENT_ID)).map((g) => ({ ...g, grantedAt: when(g.grantedAt) })),
      profile: profileSection(ctx, who, deps.profile, deps.pages, locale),
      identities: await identitiesSection(ctx, who, deps, locale, when),
      mfa: await mfaSection(ctx, who, deps, locale, when),
    });
  });

  /** A form action on the page: signed in, CSRF-checked, then done, audited, and back to the page. */
  const action = (path: string, run: (accountId: string, ctx: Context) => Promise<{ type: AuditType; details: Record<string, unknown> } | undefined>) => {
    router.post(path, async (ctx) => {
      const who = await authorised(ctx);
      if (!who) return;
      const done = await run(who.account.id, ctx);
      if (!done) return deps.pages.error(ctx, 'not_found', 404);
      await deps.audit.record(done.type, { accountId: who.account.id, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined, details: { ...done.details, by: 'account page' } });
      back(ctx);
    });
  };

  action('/sessions/:id/end', async (accountId, ctx) =>
    (await deps.sessions.endSession(accountId, ctx.params.id!)) ? { type: 'session.ended', details: { session: ctx.params.id } } : undefined);
  action('/grants/:id/revoke', async (accountId, ctx) =>
    (await deps.sessions.revokeGrant(accountId, ctx.params.id!)) ? { type: 'grant.revoked', details: { grant: ctx.params.id } } : undefined);
  action('/logout-everywhere', async (accountId) => ({ type: 'user.logged_out_everywhere', details: { ...(await deps.sessions.endEverything(accountId)) } }));

  return router;
}

/** Each sign-in has its own grant; the page shows one row per application (the newest). */
function oneRowPerClient<G extends { clientId: string }>(grants: G[]): G[] {
  const seen = new Set<string>();
  return grants.filter((g) => !seen.has(g.clientId) && seen.add(g.clientId));
}
