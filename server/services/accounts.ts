// Accounts: creation with a hashed password, listing, and the password check
// behind the login form.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AccountFilter, AccountRepository, SignInAccount, StoredAccount } from '../repositories/account-repository.ts';
import type { AccountTokenRepository } from '../repositories/account-token-repository.ts';
import { NotFoundError } from '../errors.ts';
import { hashPassword, verifyPassword, PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH } from './passwords.ts';

export const ROLES = ['admin'] as const;
export type Role = (typeof ROLES)[number];

const password = z.string()
  .min(PASSWORD_MIN_LENGTH, `must be at least ${PASSWORD_MIN_LENGTH} characters`)
  .max(PASSWORD_MAX_LENGTH, `must be at most ${PASSWORD_MAX_LENGTH} characters`);
const name = z.string().trim().min(1).max(200).regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');
const roles = z.array(z.enum(ROLES, { error: `must be one of: ${ROLES.join(', ')}` }));
/** The organisation (tenant) the person belongs to, carried in access tokens as `org`. */
const organisation = z.string().trim().regex(/^[A-Za-z0-9._:-]{1,100}$/, 'must be 1-100 characters of A-Z a-z 0-9 . _ : -');

export const newAccountInput = z.strictObject({
  email: z.string().trim().toLowerCase().pipe(z.email({ error: 'must be an e-mail address' })),
  password,
  name: name.optional(),
  roles: roles.default([]),
  organisation: organisation.optional(),
});

/** A change to an account; `null` clears an optional field. The e-mail is the sign-in name and stays. */
export const accountPatch = z.strictObject({
  name: name.nullable(),
  roles,
  organisation: organisation.nullable(),
  disabled: z.boolean(),
  /** An operator vouches for the address (or withdraws that): as a verification link would. */
  email_verified: z.boolean(),
}).partial();
export type AccountPatch = z.input<typeof accountPatch>;

export const passwordReset = z.strictObject({ password });
export type NewAccountInput = z.input<typeof newAccountInput>;

/** What may leave the service: never the password hash. */
export interface AccountView {
  id: string;
  email: string;
  email_verified: boolean;
  name: string | null;
  roles: string[];
  organisation: string | null;
  disabled: boolean;
  /** False for an account made by a social sign-in whose owner has set no password. */
  has_password: boolean;
  created_at: string;
}

export function toAccountView(a: StoredAccount): AccountView {
  return {
    id: a.id, email: a.email, email_verified: a.emailVerified, name: a.name, roles: a.roles, organisation: a.organisation, disabled: a.disabled,
    has_password: a.passwordHash !== null, created_at: a.createdAt.toISOString(),
  };
}

/** An account made by a first social sign-in (issue 15): no password; the address verified only if the upstream vouched for it. */
export const newFederatedAccountInput = z.strictObject({
  email: z.string().trim().toLowerCase().pipe(z.email({ error: 'must be an e-mail address' })),
  name: z.string().trim().max(200).transform((n) => n.replace(/\p{Cc}/gu, '') || undefined).optional(),
  emailVerified: z.boolean(),
});

export interface AccountService {
  /** Throws ZodError for bad input, ConflictError for a taken e-mail. */
  create(input: NewAccountInput): Promise<AccountView>;
  /** An account without a password (a first social sign-in). Throws ZodError, or ConflictError for a taken e-mail. */
  createWithoutPassword(input: z.input<typeof newFederatedAccountInput>): Promise<AccountView>;
  list(filter?: AccountFilter): Promise<AccountView[]>;
  /** Throws NotFoundError. */
  get(id: string): Promise<AccountView>;
  /** Returns the account before and after (for the audit trail). Throws NotFoundError. */
  update(id: string, patch: AccountPatch): Promise<{ before: AccountView; after: AccountView }>;
  /**
   * Sets a new password (argon2id) and revokes the account's unused e-mailed
   * links (a reset, an address change): whoever set it (an operator, the
   * person) means the old state to end. Throws NotFoundError.
   */
  setPassword(id: string, password: string): Promise<void>;
  findActive(id: string): Promise<StoredAccount | undefined>;
  /** An account that may sign in, with whether it has a second factor (one statement). */
  findActiveForSignIn(id: string): Promise<SignInAccount | undefined>;
  /** The id of the account with this e-mail, if any (for the audit trail). */
  idForEmail(email: string): Promise<string | undefined>;
  /**
   * Checks a password, reading the account once. A failure (unknown e-mail,
   * wrong password, disabled account) costs the same argon2id work whatever
   * the reason, and names the account the e-mail belongs to, if any, for the
   * audit trail only: never for the person at the form.
   */
  authenticate(email: string, password: string): Promise<Authentication>;
}

export type Authentication = { ok: true; account: SignInAccount } | { ok: false; accountId: string | undefined };

/** The account if it may still sign in and redeem tokens (it exists and is not disabled). */
export function activeAccount(account: StoredAccount | undefined): StoredAccount | undefined {
  return account && !account.disabled ? account : undefined;
}

/** What the service may also touch: the e-mailed links' tokens (absent where no link can exist, e.g. some tests). */
export interface AccountServiceOptions {
  linkTokens?: Pick<AccountTokenRepository, 'revokeUnused'>;
}

export function createAccountService(accounts: AccountRepository, options: AccountServiceOptions = {}): AccountService {
  // Verified against when the e-mail is unknown, so that an unknown e-mail
  // costs the same argon2id work as a wrong password (no account enumeration
  // by timing). Computed once, lazily.
  let decoyHash: Promise<string> | undefined;

  return {
    async create(input) {
      const data = newAccountInput.parse(input);
      const passwordHash = await hashPassword(data.password);
      const stored = await accounts.create({
        id: randomUUID(), email: data.email, name: data.name ?? null, passwordHash, roles: [...new Set(data.roles)], organisation: data.organisation ?? null,
      });
      return toAccountView(stored);
    },

    async createWithoutPassword(input) {
      const data = newFederatedAccountInput.parse(input);
      const stored = await accounts.create({
        id: randomUUID(), email: data.email, name: data.name ?? null, passwordHash: null, roles: [], organisation: null, emailVerified: data.emailVerified,
      });
      return toAccountView(stored);
    },

    async list(filter) {
      return (await accounts.list(filter)).map(toAccountView);
    },

    async get(id) {
      const account = await accounts.findById(id);
      if (!account) throw new NotFoundError(`no account with id "${id}"`);
      return toAccountView(account);
    },

    async update(id, input) {
      const patch = accountPatch.parse(input);
      const before = await accounts.findById(id);
      if (!before) throw new NotFoundError(`no account with id "${id}"`);
      const { email_verified: emailVerified, ...change } = patch;
      const after = await accounts.update(id, { ...change, ...(patch.roles ? { roles: [...new Set(patch.roles)] } : {}), ...(emailVerified !== undefined ? { emailVerified } : {}) });
      if (!after) throw new NotFoundError(`no account with id "${id}"`);
      return { before: toAccountView(before), after: toAccountView(after) };
    },

    async setPassword(id, input) {
      const { password: plain } = passwordReset.parse({ password: input });
      if (!(await accounts.findById(id))) throw new NotFoundError(`no account with id "${id}"`);
      await accounts.update(id, { passwordHash: await hashPassword(plain) });
      await options.linkTokens?.revokeUnused(id);
    },

    async findActive(id) {
      return activeAccount(await accounts.findById(id));
    },

    async findActiveForSignIn(id) {
      const account = await accounts.findForSignIn({ id });
      return account && !account.disabled ? account : undefined;
    },

    async idForEmail(email) {
      return (await accounts.findByEmail(email.trim().toLowerCase()))?.id;
    },

    async authenticate(email, password) {
      const account = await accounts.findForSignIn({ email: email.trim().toLowerCase() });
      // Longer than any password we set: refused before any argon2id work, known e-mail or not.
      if (password.length > PASSWORD_MAX_LENGTH) return { ok: false, accountId: account?.id };
      if (!account?.passwordHash) {
        // No account, or one that signs in only through an upstream provider: the same work, the same refusal.
        decoyHash ??= hashPassword(`decoy-${randomUUID()}`);
        await verifyPassword(await decoyHash, password);
        return { ok: false, accountId: account?.id };
      }
      const ok = await verifyPassword(account.passwordHash, password);
      return ok && !account.disabled ? { ok: true, account } : { ok: false, accountId: account.id };
    },
  };
}
