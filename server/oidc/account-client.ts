// The account page's own client: built in (like Keycloak's account console),
// public, first-party (no consent), redirecting only to /account. It never
// redeems its codes: the sign-in's session cookie is all the page needs, so
// its PKCE challenge can be fixed.
import { createHash, randomBytes } from 'node:crypto';
import type { ClientMetadata } from 'oidc-provider';
import type { Config } from '../config.ts';
import { ACCOUNT_CLIENT_ID } from '../services/reserved-clients.ts';

/** S256 of a verifier nobody keeps (PKCE is required of every public client; the code is never redeemed). */
export const ACCOUNT_CODE_CHALLENGE = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');

export function accountClient(config: Pick<Config, 'issuer'>): ClientMetadata {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    client_name: 'Tollgate account',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [`${config.issuer}/account`],
    scope: 'openid',
    first_party: true,
  } as ClientMetadata;
}
