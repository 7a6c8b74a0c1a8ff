// What a user can grant a client: everything it asks for within its
// registration, except `admin`, which only accounts with the admin role can
// grant. Shared by the consent page and by first-party clients' implicit
// consent (oidc/load-existing-grant.ts), so the rule lives in one place.
import type { Grant } from 'oidc-provider';
import type { StoredAccount } from '../repositories/account-repository.ts';

export function grantableScopes(account: Pick<StoredAccount, 'roles'>, requested: Iterable<string>): { allowed: string[]; refused: string[] } {
  const allowed: string[] = [];
  const refused: string[] = [];
  for (const scope of requested) (scope !== 'admin' || account.roles.includes('admin') ? allowed : refused).push(scope);
  return { allowed, refused };
}

/**
 * Adds what the account may grant to `grant`, and records the rest as
 * rejected so the user is not asked for it again (oidc-provider's Grant
 * keeps rejected scopes apart from missing ones).
 */
export function applyConsent(grant: Grant, account: Pick<StoredAccount, 'roles'>, missing: {
  missingOIDCScope?: string[];
  missingOIDCClaims?: string[];
  missingResourceScopes?: Record<string, string[]>;
}): void {
  if (missing.missingOIDCScope) {
    const { allowed, refused } = grantableScopes(account, missing.missingOIDCScope);
    if (allowed.length) grant.addOIDCScope(allowed.join(' '));
    if (refused.length) grant.rejectOIDCScope(refused.join(' '));
  }
  if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
    const { allowed, refused } = grantableScopes(account, scopes);
    if (allowed.length) grant.addResourceScope(indicator, allowed.join(' '));
    if (refused.length) grant.rejectResourceScope(indicator, refused.join(' '));
  }
}
