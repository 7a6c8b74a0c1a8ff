// oidc-provider's loadExistingGrant: which grant answers an authorization
// request without asking the user again.
//  1. The grant this session already holds for the client (the library's default).
//  2. For a first-party client (metadata `first_party: true`), a grant of
//     everything it asks within its registration: such apps are ours, and
//     asking users to consent to them only teaches them to click "Allow".
//  3. What the account granted the client in an earlier session, copied into
//     a new grant: consent is remembered per user and client, as Keycloak and
//     Auth0 remember it, while each sign-in stays its own token family.
// `admin` is granted only to accounts with the admin role, whatever the path.
import type { KoaContextWithOIDC, Grant } from 'oidc-provider';
import type { OidcModelRepository } from '../repositories/oidc-model-repository.ts';
import { applyConsent } from '../services/consent.ts';
import { rolesOf } from './find-account.ts';

export function createLoadExistingGrant(deps: { oidcModels: OidcModelRepository }) {
  return async function loadExistingGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
    const { provider, client, session } = ctx.oidc;
    if (!client || !session) return undefined;
    const clientId = client.clientId;
    const accountId = session.accountId;

    const sessionGrantId = ctx.oidc.result?.consent?.grantId || session.grantIdFor(clientId);
    const sessionGrant = sessionGrantId ? await provider.Grant.find(sessionGrantId) : undefined;
    const firstParty = (client as unknown as { first_party?: boolean }).first_party === true;
    if (sessionGrant && !firstParty) return sessionGrant;
    if (!accountId) return sessionGrant;

    if (firstParty) {
      // The library calls this only with the session's account found and
      // active (lib/actions/authorization/session.js, loadAccount/loadGrant).
      const account = ctx.oidc.account;
      if (!account) return undefined;
      // Whatever it asks now is granted, also on top of what this session granted it before.
      const grant = sessionGrant ?? new provider.Grant({ accountId, clientId });
      const requested = String(ctx.oidc.params?.scope ?? '').split(' ').filter(Boolean);
      const claims = ctx.oidc.claims as { id_token?: Record<string, unknown>; userinfo?: Record<string, unknown> } | undefined;
      applyConsent(grant, { roles: [...rolesOf(account)] }, {
        missingOIDCScope: requested,
        missingOIDCClaims: [...Object.keys(claims?.id_token ?? {}), ...Object.keys(claims?.userinfo ?? {})],
        missingResourceScopes: Object.fromEntries(Object.keys(ctx.oidc.resourceServers ?? {}).map((r) => [r, requested])),
      });
      await grant.save();
      return grant;
    }
    // A remembered consent is copied into a new grant for this sign-in, not
    // shared: each sign-in is its own token family, so detecting theft on one
    // device, ending one session or a grant's fixed expiry never reaches
    // another device's tokens.
    const remembered = await deps.oidcModels.findLatestForClient('Grant', accountId, clientId);
    if (remembered) {
      const { openid, resources, rejected } = remembered.payload as Pick<Grant, 'openid' | 'resources' | 'rejected'>;
      const grant = new provider.Grant({ accountId, clientId, openid, resources, rejected } as ConstructorParameters<typeof provider.Grant>[0]);
      await grant.save();
      return grant;
    }

    return undefined;
  };
}
