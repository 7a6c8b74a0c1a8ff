// Accounts and their identities at upstream providers (issue 15, point 3):
// who an upstream identity signs in, when one is created, and when a link is
// made or refused. The rule that matters most: an unknown identity whose
// e-mail belongs to an existing account is NEVER linked on the strength of
// that e-mail (Keycloak#53041: whoever controls an upstream account with
// your address, or an upstream that does not verify addresses, would own
// your account). The person must first prove the account is theirs (its
// password, or an upstream already linked to it); only then `link` runs.
import { ZodError } from 'zod';
import { ConflictError, TollgateError } from '../errors.ts';
import type { LinkedIdentity, LinkedIdentityRepository } from '../repositories/linked-identity-repository.ts';
import type { AccountService } from '../services/accounts.ts';
import type { Audit } from '../services/audit.ts';
import type { UpstreamIdentity } from './upstream-sign-in.ts';

/** Where an upstream identity leads. */
export type SignInOutcome =
  | { kind: 'signed_in'; accountId: string; created: boolean }
  /** An account has this e-mail: the person signs in to it first, then the identity is linked. */
  | { kind: 'link_required'; accountId: string; email: string }
  | { kind: 'refused'; reason: 'no_email' | 'unusable_email' | 'no_auto_create' | 'account_disabled' };

/** Unlinking would leave the account with no way to sign in (no password, no other identity). */
export class LastSignInMethodError extends TollgateError {
  constructor() {
    super('last_sign_in_method', 'this is the only way to sign in to the account', 409);
  }
}

/** The identity is linked to another account already. */
export class IdentityTakenError extends TollgateError {
  constructor(providerId: string) {
    super('identity_taken', `this identity at "${providerId}" is already linked to another account`, 409);
  }
}

/** Who did it and from where, for the audit trail. */
export interface Seen { ip?: string; userAgent?: string; clientId?: string }

export interface Identities {
  /** The outcome of a completed round trip. Creates the account (just in time) when the rules allow. */
  signIn(provider: { id: string; autoCreate: boolean }, identity: UpstreamIdentity, seen: Seen): Promise<SignInOutcome>;
  /** Links the identity to an account whose owner has just proven it is theirs. IdentityTakenError, ConflictError (one per provider). */
  link(accountId: string, providerId: string, identity: UpstreamIdentity, seen: Seen & { via: 'sign_in' | 'account_page' }): Promise<LinkedIdentity>;
  /** Records that a link was refused (audit only). */
  refused(accountId: string | undefined, providerId: string, reason: string, seen: Seen): Promise<void>;
  /** LastSignInMethodError when it would leave no way to sign in; false when there was no such link. */
  unlink(accountId: string, providerId: string, seen: Seen & { actor?: string }): Promise<boolean>;
  list(accountId: string): Promise<LinkedIdentity[]>;
  /**
   * Removes every identity of an account whose address nobody had proven when
   * they were linked, once its owner proves it (a password reset): whoever
   * linked them may not have been the owner (pre-account takeover). Audited.
   */
  unlinkAllUnproven(accountId: string, seen: Seen): Promise<number>;
}

export function createIdentities(deps: {
  identities: LinkedIdentityRepository;
  accounts: AccountService;
  /** Removes an account this service created a moment ago and could not link (a race with another tab). */
  removeAccount: (id: string) => Promise<unknown>;
  audit: Audit;
}): Identities {
  const { identities, accounts, audit } = deps;
  const stated = (identity: UpstreamIdentity) => ({ email: identity.email, emailVerified: identity.emailVerified });

  async function refused(accountId: string | undefined, providerId: string, reason: string, seen: Seen): Promise<void> {
    await audit.record('identity.link_refused', { accountId, ...seen, details: { provider: providerId, reason } });
  }

  async function linkTo(accountId: string, providerId: string, identity: UpstreamIdentity, seen: Seen & { via: string; created?: boolean }): Promise<LinkedIdentity> {
    let linked: LinkedIdentity;
    try {
      linked = await identities.link({ providerId, upstreamSub: identity.sub, accountId, ...stated(identity) });
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const holder = await identities.find(providerId, identity.sub);
      if (holder && holder.accountId !== accountId) {
        await refused(accountId, providerId, 'linked_to_another_account', seen);
        throw new IdentityTakenError(providerId);
      }
      if (holder) return holder; // linked to this account already (a second tab, a double submit)
      await refused(accountId, providerId, 'account_has_one_at_provider', seen);
      throw err;
    }
    const { via, created, ...event } = seen;
    await audit.record('identity.linked', { accountId, ...event, details: { provider: providerId, via, ...(created ? { created: true } : {}), email_verified: identity.emailVerified } });
    return linked;
  }

  return {
    async signIn(provider, identity, seen) {
      const known = await identities.recordUse(provider.id, identity.sub, stated(identity));
      if (known) {
        const account = await accounts.findActive(known.accountId);
        return account ? { kind: 'signed_in', accountId: account.id, created: false } : { kind: 'refused', reason: 'account_disabled' };
      }
      if (!identity.email) return { kind: 'refused', reason: 'no_email' };
      const existing = await accounts.idForEmail(identity.email);
      if (existing) {
        await refused(existing, provider.id, 'email_belongs_to_an_account', seen);
        return { kind: 'link_required', accountId: existing, email: identity.email };
      }
      if (!provider.autoCreate) return { kind: 'refused', reason: 'no_auto_create' };
      let created: string;
      try {
        // Names as long as the upstream allows (GitHub: 255) are cut to ours, not refused.
        const name = identity.name?.trim().slice(0, 200) || undefined;
        created = (await accounts.createWithoutPassword({ email: identity.email, name, emailVerified: identity.emailVerified })).id;
      } catch (err) {
        if (err instanceof ZodError) return { kind: 'refused', reason: 'unusable_email' };
        if (!(err instanceof ConflictError)) throw err;
        // The same identity's first sign-in finished a moment ago in another tab: that account is this person's.
        const linked = await identities.find(provider.id, identity.sub);
        if (linked) return { kind: 'signed_in', accountId: linked.accountId, created: false };
        // Another request created an account with this e-mail a moment ago: the same rule as above.
        const holder = await accounts.idForEmail(identity.email);
        if (!holder) throw err;
        await refused(holder, provider.id, 'email_belongs_to_an_account', seen);
        return { kind: 'link_required', accountId: holder, email: identity.email };
      }
      try {
        await linkTo(created, provider.id, identity, { ...seen, via: 'sign_in', created: true });
      } catch (err) {
        // The same identity finished a first sign-in in another tab: keep one account, not two.
        await deps.removeAccount(created).catch(() => undefined);
        if (err instanceof IdentityTakenError) {
          const holder = await identities.find(provider.id, identity.sub);
          if (holder) return { kind: 'signed_in', accountId: holder.accountId, created: false };
        }
        throw err;
      }
      return { kind: 'signed_in', accountId: created, created: true };
    },
    link: (accountId, providerId, identity, seen) => linkTo(accountId, providerId, identity, seen),
    refused,
    async unlink(accountId, providerId, seen) {
      // Removed first, then checked, and put back if it left no way in: of two unlinks at once (two tabs, the
      // person and an operator) of an account's last two identities, at least one sees the other's result and
      // is undone, whatever the interleaving; a check before the delete would let both through.
      const removed = await identities.take(accountId, providerId);
      if (!removed) return false;
      const [account, remaining] = await Promise.all([accounts.get(accountId).catch(() => undefined), identities.listByAccount(accountId)]);
      if (!account?.has_password && remaining.length === 0) {
        await identities.restore(removed);
        throw new LastSignInMethodError();
      }
      const { actor, ...event } = seen;
      await audit.record('identity.unlinked', { accountId, ...event, ...(actor ? { actor } : {}), details: { provider: providerId } });
      return true;
    },
    list: (accountId) => identities.listByAccount(accountId),
    async unlinkAllUnproven(accountId, seen) {
      let removed = 0;
      for (const identity of await identities.listByAccount(accountId)) {
        if (!(await identities.unlink(accountId, identity.providerId))) continue;
        removed += 1;
        await audit.record('identity.unlinked', { accountId, ...seen, details: { provider: identity.providerId, reason: 'linked_before_the_address_was_proven' } });
      }
      return removed;
    },
  };
}
