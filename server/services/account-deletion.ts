// Deleting an account (issue 14, point 4): from the account page, the admin
// API (DELETE /admin/v1/users/{id}) and the CLI (`users delete`), the same
// steps in the same order.
//
// What happens to each place that holds the account's id or address:
//   account             the row goes; account_token rows go with it (ON DELETE CASCADE)
//   linked_identity     the account's identities at upstream providers go with it (ON DELETE CASCADE)
//   oidc_model          sessions, grants, codes and tokens end first (sessions.endEverything:
//                       back-channel logout to every client that asked for it, refresh
//                       tokens revoked), then the rest of the account's rows go
//   session_device      deleted
//   login_throttle      the counters keyed by the address (sign-in, reset requests) are deleted (IP counters name no one)
//   audit_event         kept, keyed by the account id only: the `email` and `name`
//                       fields that admin changes recorded in before/after are removed;
//                       ip and user agent stay for AUDIT_RETENTION_DAYS, as for every event
//   revoked_token, client  hold neither
// The account is disabled first, so that no sign-in or refresh can slip in
// between the steps; a failure half-way leaves a disabled account, which the
// operator deletes again.
import type { Locale } from '../i18n.ts';
import type { Mailer } from '../mail/mailer.ts';
import type { AccountRepository } from '../repositories/account-repository.ts';
import type { AuditRepository } from '../repositories/audit-repository.ts';
import type { LoginThrottleRepository } from '../repositories/login-throttle-repository.ts';
import type { OidcModelRepository } from '../repositories/oidc-model-repository.ts';
import type { SessionDeviceRepository } from '../repositories/session-device-repository.ts';
import type { Audit } from './audit.ts';
import { accountThrottleKey } from './login-throttle.ts';
import { resetThrottleKey } from './password-reset.ts';
import type { ForcedLogout, SessionService } from './sessions.ts';

/** Every oidc-provider model that may carry an account id (the column `account_id`). */
const ACCOUNT_MODELS = [
  'Session', 'Grant', 'RefreshToken', 'AuthorizationCode', 'AccessToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
  'Interaction', 'PushedAuthorizationRequest', 'ReplayDetection', 'ClientCredentials', 'InitialAccessToken', 'RegistrationAccessToken',
] as const;

/** Fields of audit details that hold personal data (AccountView's). */
const PERSONAL_AUDIT_FIELDS = ['email', 'name'] as const;

export interface DeletionRequest {
  /** Who asked, for the audit trail: the admin token's `sub`, `cli`, or none (the person themself). */
  actor?: string;
  /** Where it was asked: `account page`, `admin api`, `cli`. */
  by: string;
  ip?: string;
  userAgent?: string;
  /** The language of the goodbye message. */
  locale: Locale;
}

export interface DeletionReport extends ForcedLogout {
  account: string;
  deleted: true;
}

export interface AccountDeletion {
  /** Deletes the account (see above); undefined when there is none. */
  delete(accountId: string, request: DeletionRequest): Promise<DeletionReport | undefined>;
}

export function createAccountDeletion(deps: {
  accounts: AccountRepository;
  sessions: SessionService;
  oidcModels: OidcModelRepository;
  sessionDevices: SessionDeviceRepository;
  loginThrottle: LoginThrottleRepository;
  auditEvents: AuditRepository;
  audit: Audit;
  mailer: Mailer;
}): AccountDeletion {
  return {
    async delete(accountId, request) {
      const account = await deps.accounts.findById(accountId);
      if (!account) return undefined;
      await deps.accounts.update(account.id, { disabled: true });
      const ended = await deps.sessions.endEverything(account.id);
      await deps.oidcModels.deleteByAccount(ACCOUNT_MODELS, account.id);
      await deps.sessionDevices.deleteByAccount(account.id);
      // The counters keyed by the address (sign-in, reset requests); IP counters name no one.
      for (const key of [accountThrottleKey(account.email), resetThrottleKey(account.email)]) await deps.loginThrottle.reset(key);
      // The trail stays under the account id only: no address, name, IP or browser of theirs.
      await deps.auditEvents.redactDetails(account.id, PERSONAL_AUDIT_FIELDS);
      await deps.auditEvents.forgetOrigins(account.id);
      if (!(await deps.accounts.delete(account.id))) return undefined;
      deps.mailer.send({ kind: 'account_deleted', to: account.email, locale: request.locale, data: {}, accountId: account.id });
      // Deleted by the person: where from is theirs, and is not kept; by an operator: the operator's, kept.
      const origin = request.actor ? { ip: request.ip, userAgent: request.userAgent } : {};
      await deps.audit.record('user.deleted', { accountId: account.id, actor: request.actor, ...origin, details: { ...ended, by: request.by } });
      return { account: account.id, deleted: true, ...ended };
    },
  };
}
