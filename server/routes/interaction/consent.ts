// The consent step: what the client asks for, in plain words; "Allow"
// records a grant (remembered for this user and client), "Deny" answers the
// client access_denied. `admin` is never granted to an account without the role.
import type { Context } from 'koa';
import { checkCsrf, finish, loadInteraction, type InteractionDependencies, type Loaded } from './context.ts';
import type { StoredAccount } from '../../repositories/account-repository.ts';
import { applyConsent, grantableScopes } from '../../services/consent.ts';

interface MissingGrant {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}


export function showConsent(ctx: Context, deps: InteractionDependencies, loaded: Loaded, account: StoredAccount): void {
  // Everything the client asks for, not only what is new: with prompt=consent
  // nothing may be missing, and the user still decides on the whole request.
  const missing = loaded.interaction.prompt.details as MissingGrant;
  const requested = String(loaded.interaction.params.scope ?? '').split(' ').filter(Boolean);
  const scopes = new Set([...requested, ...(missing.missingOIDCScope ?? []), ...Object.values(missing.missingResourceScopes ?? {}).flat()]);
  deps.pages.render(ctx, 'consent', loaded.locale, {
    action: `${loaded.base}/confirm`,
    abortAction: `${loaded.base}/abort`,
    clientName: loaded.clientName,
    email: account.email,
    csrf: loaded.csrf,
    scopes: grantableScopes(account, scopes).allowed,
  });
}

export async function postConfirm(ctx: Context, deps: InteractionDependencies): Promise<void> {
  const loaded = await loadInteraction(ctx, deps);
  if (!loaded || !checkCsrf(ctx, deps, loaded)) return;
  const { interaction } = loaded;
  const accountId = interaction.session?.accountId;
  const account = accountId ? await deps.accounts.findActive(accountId) : undefined;
  if (interaction.prompt.name !== 'consent' || !account) return deps.pages.error(ctx, 'login_expired', 400, loaded.locale);

  const grant = interaction.grantId
    ? await deps.provider.Grant.find(interaction.grantId)
    : new deps.provider.Grant({ accountId: account.id, clientId: String(interaction.params.client_id) });
  if (!grant) return deps.pages.error(ctx, 'login_expired', 400, loaded.locale);

  applyConsent(grant, account, interaction.prompt.details as MissingGrant);
  const grantId = await grant.save();
  const scopes = [grant.getOIDCScope(), ...Object.values(grant.resources ?? {})].join(' ').split(' ').filter(Boolean);
  await deps.audit.record('consent.granted', {
    accountId: account.id, clientId: String(interaction.params.client_id), ip: ctx.ip, userAgent: ctx.get('user-agent') || undefined,
    details: { grant_id: grantId, scopes: [...new Set(scopes)] },
  });
  await finish(ctx, deps, { consent: { grantId } }, true);
}

export async function postAbort(ctx: Context, deps: InteractionDependencies): Promise<void> {
  const loaded = await loadInteraction(ctx, deps);
  if (!loaded || !checkCsrf(ctx, deps, loaded)) return;
  await finish(ctx, deps, { error: 'access_denied', error_description: 'the user denied the request' }, false);
}
