// The consent step: what the client asks for, in plain words; "Allow"
// records a grant (remembered for this user and client), "Deny" answers the
// client access_denied. `admin` is never granted to an account without the role.
//   loadSignedInAccount  the active account of the interaction's session (else "login expired")
//   grantFirstParty      a first-party client's request is granted without a page
//   showConsent          the consent page
//   grantConsent         records the grant (audited as consent.granted), back to the provider
//   denyRequest          access_denied back to the provider
import type { Next } from 'koa';
import { applyConsent, grantableScopes } from '../../services/consent.ts';
import { finish, type InteractionContext, type InteractionDependencies } from './steps.ts';

interface MissingGrant {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}

export function consentSteps(deps: InteractionDependencies) {
  async function loadSignedInAccount(ctx: InteractionContext, next: Next): Promise<void> {
    const accountId = ctx.state.interaction.session?.accountId;
    const account = accountId ? await deps.accounts.findActive(accountId) : undefined;
    if (!account) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);
    ctx.state.account = account;
    await next();
  }

  function showConsent(ctx: InteractionContext): void {
    const { interaction, account, base } = ctx.state;
    // Everything the client asks for, not only what is new: with prompt=consent
    // nothing may be missing, and the user still decides on the whole request.
    const missing = interaction.prompt.details as MissingGrant;
    const requested = String(interaction.params.scope ?? '').split(' ').filter(Boolean);
    const scopes = new Set([...requested, ...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()]);
    deps.pages.render(ctx, 'consent', ctx.state.locale, {
      action: `${base}/confirm`,
      abortAction: `${base}/abort`,
      clientName: ctx.state.clientName,
      email: account.email,
      csrf: ctx.state.csrf,
      scopes: grantableScopes(account, scopes).allowed,
    });
  }

  /**
   * A first-party client (`first_party`) is granted what it asks, within its
   * registration and the account's roles, with no page: also under
   * prompt=consent, which oidc-provider requires before it grants
   * offline_access (OpenID Connect Core §11) and which a first-party app such
   * as a tollgate/bff therefore sends on every sign-in. §11 lets "other
   * conditions" permit offline access; being our own application is one, as
   * Logto and Auth0 treat their first-party applications.
   */
  async function grantFirstParty(ctx: InteractionContext, next: Next): Promise<void> {
    if (!ctx.state.firstParty) return next();
    const saved = await saveGrant(ctx);
    if (!saved) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);
    await finish(ctx, deps.provider, { consent: { grantId: saved.grantId } }, true);
  }

  /** The interaction's grant (or a new one) with what the request asks that the account may have; undefined when it is gone. */
  async function saveGrant(ctx: InteractionContext) {
    const { interaction, account } = ctx.state;
    const clientId = String(interaction.params.client_id);
    const grant = interaction.grantId
      ? await deps.provider.Grant.find(interaction.grantId)
      : new deps.provider.Grant({ accountId: account.id, clientId });
    if (!grant) return undefined;
    applyConsent(grant, account, interaction.prompt.details as MissingGrant);
    return { grant, grantId: await grant.save() };
  }

  async function grantConsent(ctx: InteractionContext): Promise<void> {
    const { interaction, account } = ctx.state;
    const clientId = String(interaction.params.client_id);
    const saved = await saveGrant(ctx);
    if (!saved) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);
    const { grant, grantId } = saved;
    const scopes = [grant.getOIDCScope(), ...Object.values(grant.resources ?? {})].join(' ').split(' ').filter(Boolean);
    await deps.audit.record('consent.granted', {
      accountId: account.id, clientId, ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined,
      details: { grant_id: grantId, scopes: [...new Set(scopes)] },
    });
    await finish(ctx, deps.provider, { consent: { grantId } }, true);
  }

  async function denyRequest(ctx: InteractionContext): Promise<void> {
    await finish(ctx, deps.provider, { error: 'access_denied', error_description: 'the user denied the request' }, false);
  }

  return { loadSignedInAccount, grantFirstParty, showConsent, grantConsent, denyRequest };
}
