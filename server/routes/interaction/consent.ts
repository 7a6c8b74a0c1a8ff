// The consent step: what the client asks for, in plain words; "Allow"
// records a grant (remembered for this user and client), "Deny" answers the
// client access_denied. `admin` is never granted to an account without the role.
//   loadSignedInAccount  the active account of the interaction's session (else "login expired")
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

  async function grantConsent(ctx: InteractionContext): Promise<void> {
    const { interaction, account } = ctx.state;
    const clientId = String(interaction.params.client_id);
    const grant = interaction.grantId
      ? await deps.provider.Grant.find(interaction.grantId)
      : new deps.provider.Grant({ accountId: account.id, clientId });
    if (!grant) return deps.pages.error(ctx, 'login_expired', 400, ctx.state.locale);

    applyConsent(grant, account, interaction.prompt.details as MissingGrant);
    const grantId = await grant.save();
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

  return { loadSignedInAccount, showConsent, grantConsent, denyRequest };
}
