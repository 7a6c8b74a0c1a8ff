// The account page's linked identities (issue 15, point 4): the upstream
// accounts a person signs in with, a "link" button per provider not yet
// linked (a round trip to it from a signed-in session, completed by the
// social sign-in's callback: routes/interaction/federated.ts), and "unlink",
// refused when it would leave the account with no way to sign in.
//   POST /identities/:provider/link     → the upstream, and back to /account
//   POST /identities/:provider/unlink   → /account?identities=<outcome>
import Router from '@koa/router';
import type { Context } from 'koa';
import { LastSignInMethodError, type Identities } from '../federation/identities.ts';
import { providerLabel } from '../federation/presets.ts';
import { UpstreamSignInError } from '../federation/upstream-sign-in.ts';
import type { Locale } from '../i18n.ts';
import type { Pages } from '../views/pages.ts';
import { accountSession, type AccountSessionDependencies, type SignedIn } from './account-session.ts';
import { startRoundTrip, type FederationDependencies } from './interaction/federated.ts';

/** What `?identities=` may say: each has a string `identities.outcome.<key>`. */
const OUTCOMES = ['unlinked', 'last_method', 'unavailable', 'upstream_unreachable', 'verify_first'] as const;
type Outcome = (typeof OUTCOMES)[number];
const ERRORS: ReadonlySet<string> = new Set<Outcome>(['last_method', 'unavailable', 'upstream_unreachable', 'verify_first']);

interface Dependencies extends AccountSessionDependencies {
  federation: FederationDependencies;
}

/** The section's data for views/account.eta. */
export async function identitiesSection(ctx: Context, who: SignedIn, deps: { federation: FederationDependencies; pages: Pages; prefix: string }, locale: Locale, when: (d: Date | undefined) => string | undefined) {
  const base = `${deps.prefix}/account`;
  const [linked, providers] = await Promise.all([deps.federation.identities.list(who.account.id), deps.federation.providers.list()]);
  const byId = new Map(providers.map((p) => [p.id, p]));
  const t = deps.pages.translator(locale);
  const outcome = typeof ctx.query.identities === 'string' && (OUTCOMES as readonly string[]).includes(ctx.query.identities) ? ctx.query.identities : undefined;
  // The last way in stays: no password and one identity.
  const canUnlink = who.account.passwordHash !== null || linked.length > 1;
  return {
    linked: linked.map((i) => {
      const provider = byId.get(i.providerId);
      return {
        provider: i.providerId,
        label: provider ? providerLabel(provider, locale) : i.providerId,
        email: i.email,
        linkedAt: when(i.linkedAt),
        lastUsed: when(i.lastUsedAt ?? undefined),
        unlinkAction: `${base}/identities/${i.providerId}/unlink`,
        canUnlink,
      };
    }),
    available: providers.filter((p) => p.enabled && !linked.some((i) => i.providerId === p.id)).map((p) => ({
      provider: p.id, label: providerLabel(p, locale), action: `${base}/identities/${p.id}/link`,
    })),
    ...(outcome ? { [ERRORS.has(outcome) ? 'error' : 'message']: t(`identities.outcome.${outcome}`) } : {}),
  };
}

export function accountIdentityRoutes(deps: Dependencies): Router {
  const base = `${deps.prefix}/account`;
  const router = new Router();
  const { authorised } = accountSession(deps);
  const backWith = (ctx: Context, outcome: Outcome) => {
    ctx.status = 303;
    ctx.redirect(`${base}?identities=${outcome}#identities`);
  };

  router.post('/identities/:provider/link', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    // Until someone has proven the address, the account may not be its owner's (a sign-up with another's
    // address): it links nothing that would outlive the owner's password reset (pre-account takeover).
    if (!who.account.emailVerified) return backWith(ctx, 'verify_first');
    const provider = await deps.federation.providers.resolve(ctx.params.provider!).catch(() => undefined);
    if (!provider?.enabled) return backWith(ctx, 'unavailable');
    try {
      await startRoundTrip(ctx, { ...deps.federation, prefix: deps.prefix }, provider, {
        intent: { kind: 'link', accountId: who.account.id, sessionUid: String(who.session.uid) },
        locale: deps.pages.localeOf(ctx),
      });
    } catch (err) {
      if (!(err instanceof UpstreamSignInError)) throw err;
      deps.federation.logger.warn({ provider: provider.id, reason: err.reason, err: { message: err.message } }, 'linking could not start');
      backWith(ctx, 'upstream_unreachable');
    }
  });

  router.post('/identities/:provider/unlink', async (ctx) => {
    const who = await authorised(ctx);
    if (!who) return;
    try {
      const done = await deps.federation.identities.unlink(who.account.id, ctx.params.provider!, { ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined });
      if (!done) return deps.pages.error(ctx, 'not_found', 404);
    } catch (err) {
      if (err instanceof LastSignInMethodError) return backWith(ctx, 'last_method');
      throw err;
    }
    backWith(ctx, 'unlinked');
  });

  return router;
}
