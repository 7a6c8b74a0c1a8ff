// oidc-provider's findAccount: the account behind a `sub`, with the claims
// each scope releases (OpenID Connect Core §5.4). The library filters the
// returned claims by the granted scopes and requested claims itself.
import type { Account, FindAccount } from 'oidc-provider';
import { activeAccount, type AccountService } from '../services/accounts.ts';
import type { StoredAccount } from '../repositories/account-repository.ts';
import { keepForRequest, takeFromRequest } from './request-scope.ts';
import { FEDERATED_AMR } from './sign-in-method.ts';
import { REMEMBER_ME_CLAIM, rememberChoiceOf } from './remember-me.ts';

const accountKey = (id: string) => `Account:${id}`;

/** An account this request has already read (with a refresh token: oidc/adapter.ts), for findAccount to use instead of reading it again. */
export function keepAccountForRequest(id: string, account: StoredAccount | undefined): void {
  keepForRequest(accountKey(id), account);
}

/** Our Account object: the library's, plus the roles the issuance path checks. */
export interface TollgateAccount extends Account {
  roles: readonly string[];
  organisation: string | null;
}

export interface FindAccountPolicy {
  /**
   * REQUIRE_VERIFIED_EMAIL: an unverified account is no account to the
   * provider. The login form stops such a sign-in (routes/interaction/login.ts);
   * this stops what does not pass through it: a session or refresh token from
   * before the option was turned on or the address was un-verified, silent
   * sign-in (prompt=none), code exchange and userinfo.
   */
  requireVerifiedEmail?: boolean;
  /** The upstream provider a session signed in with (oidc/sign-in-method.ts), for the `idp` claim. */
  idpOf?: (sessionUid: string, authTime: number) => Promise<string | undefined>;
}

export function createFindAccount(accounts: AccountService, policy: FindAccountPolicy = {}): FindAccount {
  return async (_ctx, sub, token) => {
    // A disabled or deleted account can no longer redeem codes or refresh tokens.
    const kept = takeFromRequest<StoredAccount>(accountKey(sub));
    const account = kept ? activeAccount(kept.value) : await accounts.findActive(sub);
    if (!account) return undefined;
    if (policy.requireVerifiedEmail && !account.emailVerified) return undefined;
    // A code or refresh token from a social sign-in carries amr "fed" and its session's uid: then, and only then, look up `idp`.
    const from = token as { amr?: unknown; sessionUid?: unknown; authTime?: unknown } | undefined;
    const idp = policy.idpOf && Array.isArray(from?.amr) && from.amr.includes(FEDERATED_AMR) && typeof from.sessionUid === 'string' && typeof from.authTime === 'number'
      ? await policy.idpOf(from.sessionUid, from.authTime)
      : undefined;
    // "Keep me signed in", as the code or refresh token carries it (oidc/remember-me.ts): no read.
    const remembered = rememberChoiceOf(token);
    const found: TollgateAccount = {
      accountId: account.id,
      roles: account.roles,
      organisation: account.organisation,
      async claims(use) {
        return {
          sub: account.id,
          email: account.email,
          email_verified: account.emailVerified,
          ...(account.name ? { name: account.name } : {}),
          ...(idp ? { idp } : {}),
          // A fact about the session, for the client that holds it (a backend-for-frontend picks its cookie's lifetime by it): the ID token only.
          ...(use === 'id_token' && remembered !== undefined ? { [REMEMBER_ME_CLAIM]: remembered } : {}),
          updated_at: Math.floor(account.updatedAt.getTime() / 1000),
        };
      },
    };
    return found;
  };
}

/** The organisation of an account object from findAccount, if any. */
export function organisationOf(account: unknown): string | undefined {
  const organisation = (account as Partial<TollgateAccount> | undefined)?.organisation;
  return typeof organisation === 'string' ? organisation : undefined;
}

export function rolesOf(account: unknown): readonly string[] {
  const roles = (account as Partial<TollgateAccount> | undefined)?.roles;
  return Array.isArray(roles) ? roles : [];
}
