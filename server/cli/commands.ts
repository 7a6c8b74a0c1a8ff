// The tollgate commands, declared once: their options (for parsing and each
// command's --help), how the options become an input, how that input is
// checked, and what the command does with the services. The same
// declaration runs in the CLI's own process (direct access) and in a running
// server that answers the CLI over its control socket (socket-server.ts), so
// a command behaves the same either way: the admin API's services, the
// admin API's audit events (actor "cli"), never SQL of its own.
//
// Heavy modules (services, argon2, oidc-provider) are imported inside the
// functions below: `keys list` must not load the database to print a file.
import { readFileSync } from 'node:fs';
import type { Config } from '../config.ts';
import { ConflictError, MailUnavailableError, NotFoundError } from '../errors.ts';
import type { AccountPatch, AccountService, AccountView } from '../services/accounts.ts';
import type { Audit, AuditType } from '../services/audit.ts';
import type { ClientService, NewClientInput } from '../services/clients.ts';
import type { SessionService } from '../services/sessions.ts';
import type { PasswordReset } from '../services/password-reset.ts';
import type { EmailVerification } from '../services/email-verification.ts';
import type { AccountDeletion } from '../services/account-deletion.ts';
import type { NewProviderInput, ProviderService } from '../federation/providers.ts';
import type { MfaService } from '../mfa/mfa.ts';
import type { Passkeys } from '../mfa/passkeys.ts';
import type { ApiService } from '../services/apis.ts';

/** Bad arguments found before anything is opened: exit 2, with the command's usage. */
export class UsageError extends Error {}

/** What the database commands need: the database (migrated), accounts, the audit trail, reading clients. */
export interface StoreServices {
  /** Migrations applied by this opening (none when a running server answers). */
  readonly migrated: string[];
  readonly accounts: AccountService;
  readonly audit: Audit;
  readonly clients: Pick<ClientService, 'list' | 'get'>;
}

/** What the other commands need besides: oidc-provider (metadata validation, back-channel logout) and Redis when configured. */
export interface ServerServices extends StoreServices {
  readonly clients: ClientService;
  readonly sessions: SessionService;
  /** Forgotten password: the e-mailed reset link (services/password-reset.ts). */
  readonly passwordReset: PasswordReset;
  /** The server's mailer behind it: a link sent through a running server is delivered (and retried) by that server. */
  readonly emailVerification: EmailVerification;
  readonly accountDeletion: AccountDeletion;
  /** Upstream identity providers (server/federation/). */
  readonly providers: ProviderService;
  /** Second factors and passkeys (`users reset-mfa`). */
  readonly mfa: MfaService;
  readonly passkeys: Passkeys;
  /** APIs (resource servers) registered as data (services/apis.ts). */
  readonly apis: ApiService;
}

export interface OptionSpec {
  /** Commander's syntax: `--email <address>`, `--public`. */
  readonly flags: string;
  readonly description: string;
  /** May be given more than once; the values are collected in order. */
  readonly repeatable?: true;
}

export interface CommandIo {
  /** Standard input, whole, less one trailing newline (`--password-stdin`). */
  readStdin(): Promise<string>;
}

interface Common<I> {
  readonly summary: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** The options as parsed (camelCase keys) → the raw input; throws UsageError. Runs in the CLI only. */
  collect(values: Record<string, unknown>, io: CommandIo): Promise<unknown>;
  /** Validates the raw input; throws ZodError or ValidationError. Runs in the CLI before anything is opened, and again in the server that receives it. */
  check(raw: unknown, context: { production: boolean }): Promise<I>;
}

export type Command<I = unknown> = Common<I> & (
  // Needs no database (the key commands): runs in the CLI's process, even while a server runs.
  | { readonly needs: 'keys'; run(config: Config, input: I): Promise<unknown> }
  // Needs the database only, migrated as at start-up.
  | { readonly needs: 'store'; run(services: StoreServices, input: I): Promise<unknown> }
  // Needs the whole Tollgate, as the server builds it.
  | { readonly needs: 'server'; run(services: ServerServices, input: I): Promise<unknown> }
);

/** Keeps each command's input typed by its own check; the table holds them erased. */
const command = <I>(c: Command<I>): Command => c as unknown as Command;

const noOptions = {
  options: {},
  collect: async () => ({}),
  check: async () => ({}),
};

/** The audit events an operator's change writes: the admin API's own, with the CLI as the actor. */
function recordByCli(audit: Audit, type: AuditType, event: { accountId?: string; clientId?: string; details?: Record<string, unknown> }): Promise<void> {
  return audit.record(type, { ...event, actor: 'cli' });
}

const emailOption = { email: { flags: '--email <address>', description: "the user's e-mail address (their sign-in name)" } } as const;
const clientIdOption = { id: { flags: '--id <client-id>', description: 'the client id' } } as const;
const providerIdOption = { id: { flags: '--id <provider-id>', description: 'the provider id' } } as const;

const upstreamSecretOptions = {
  clientSecretStdin: { flags: '--client-secret-stdin', description: "read the upstream's client secret from standard input (recommended: it stays out of shell history and the process list)" },
  clientSecret: { flags: '--client-secret <secret>', description: "the upstream's client secret on the command line (visible in shell history and to other local users)" },
} as const;

/** The upstream's client secret: `--client-secret-stdin` or `--client-secret`, exactly one. */
async function upstreamSecretFrom(values: Record<string, unknown>, io: CommandIo): Promise<string> {
  if (values.clientSecret !== undefined && values.clientSecretStdin) throw new UsageError('give either --client-secret or --client-secret-stdin, not both');
  if (values.clientSecretStdin) return io.readStdin();
  if (typeof values.clientSecret === 'string') return values.clientSecret;
  throw new UsageError('missing --client-secret-stdin (or --client-secret)');
}

const apiOptions = {
  identifier: { flags: '--identifier <uri>', description: "the API's resource indicator (RFC 8707) and its tokens' aud: an absolute https URI" },
  name: { flags: '--name <name>', description: 'a name for people' },
  scopes: { flags: '--scopes <scopes>', description: 'its scopes, space-separated: "notes:read notes:write"' },
  accessTokenTtl: { flags: '--access-token-ttl <seconds>', description: 'its access tokens\' lifetime, 60 to 86400 (default ACCESS_TOKEN_TTL)' },
  signingAlg: { flags: '--signing-alg <alg>', description: 'ES256 (default), RS256 or EdDSA' },
  requireDpop: { flags: '--require-dpop', description: 'only DPoP-bound tokens (RFC 9449) for it' },
  encrypt: { flags: '--encrypt', description: 'encrypt its access tokens to its public key (--jwks-uri or --jwks-file)' },
  jwksUri: { flags: '--jwks-uri <url>', description: 'where its public encryption keys are published' },
  jwksFile: { flags: '--jwks-file <file>', description: 'a file holding its public encryption keys (a JWK Set)' },
} as const;

/** The API options as the service's input; a JWK Set file is read here, in the CLI. */
function apiInputFrom(v: Record<string, unknown>): Record<string, unknown> {
  if (v.jwksUri !== undefined && v.jwksFile !== undefined) throw new UsageError('give either --jwks-uri or --jwks-file, not both');
  let jwks: unknown;
  if (typeof v.jwksFile === 'string') {
    try {
      jwks = JSON.parse(readFileSync(v.jwksFile, 'utf8'));
    } catch (err) {
      throw new UsageError(`--jwks-file: cannot read a JSON Web Key Set from ${v.jwksFile}: ${(err as Error).message}`);
    }
  }
  const ttl = v.accessTokenTtl === undefined ? undefined : Number(v.accessTokenTtl);
  if (ttl !== undefined && !Number.isFinite(ttl)) throw new UsageError('--access-token-ttl must be a number of seconds');
  return {
    identifier: v.identifier, name: v.name,
    scopes: typeof v.scopes === 'string' ? v.scopes.split(' ').filter(Boolean) : undefined,
    accessTokenTtl: ttl, signingAlg: v.signingAlg,
    requireDpop: v.requireDpop === undefined ? undefined : Boolean(v.requireDpop),
    encrypt: v.encrypt === undefined ? undefined : Boolean(v.encrypt),
    jwks, jwksUri: v.jwksUri,
  };
}

async function providerIdInput(raw: unknown): Promise<{ id: string }> {
  const { z } = await import('zod');
  const { PROVIDER_ID } = await import('../federation/providers.ts');
  return z.strictObject({ id: z.string().regex(PROVIDER_ID, 'must be 1 to 40 lower-case letters, digits or dashes') }).parse(raw);
}

async function emailInput(raw: unknown): Promise<{ email: string }> {
  const { z } = await import('zod');
  return z.strictObject({ email: z.string().trim().toLowerCase().min(1, 'is required').max(320) }).parse(raw);
}

async function clientIdInput(raw: unknown): Promise<{ id: string }> {
  const { z } = await import('zod');
  return z.strictObject({ id: z.string().min(1, 'is required').max(200) }).parse(raw);
}

/** The options of `clients add` and `clients update` for encrypted responses (docs/encryption.md). */
const clientEncryptionOptions = {
  idTokenEncryption: { flags: '--id-token-encryption <alg[,enc]>', description: 'encrypt ID tokens to the client: RSA-OAEP-256, ECDH-ES or ECDH-ES+A256KW, enc A256GCM (default) or A128GCM; `none` (update) stops' },
  userinfoEncryption: { flags: '--userinfo-encryption <alg[,enc]>', description: 'encrypt userinfo responses to the client (a signed, then encrypted JWT); `none` (update) stops' },
  jwksFile: { flags: '--jwks-file <file>', description: "a JSON file with the client's public keys ({\"keys\": [...]}) to encrypt to" },
  jwksUri: { flags: '--jwks-uri <url>', description: "where the client publishes its public keys (instead of --jwks-file)" },
} as const;

/**
 * Those options as RFC 7591 metadata: `ALG[,ENC]` split in two, `none`
 * as null (removes it), the key file read here, on the operator's machine.
 */
async function clientEncryptionMetadata(v: Record<string, unknown>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const [option, prefix] of [['idTokenEncryption', 'id_token'], ['userinfoEncryption', 'userinfo']] as const) {
    const value = v[option];
    if (typeof value !== 'string') continue;
    if (value === 'none') {
      out[`${prefix}_encrypted_response_alg`] = null;
      continue;
    }
    const [alg, enc, ...rest] = value.split(',').map((part) => part.trim());
    if (!alg || rest.length) throw new UsageError(`--${kebab(option)} takes ALG or ALG,ENC (e.g. RSA-OAEP-256,A256GCM)`);
    out[`${prefix}_encrypted_response_alg`] = alg;
    if (enc) out[`${prefix}_encrypted_response_enc`] = enc;
  }
  if (typeof v.jwksFile === 'string') {
    if (v.jwksUri !== undefined) throw new UsageError('give --jwks-file or --jwks-uri, not both');
    const { readFile } = await import('node:fs/promises');
    let text: string;
    try {
      text = await readFile(v.jwksFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --jwks-file ${v.jwksFile}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
    try {
      out.jwks = JSON.parse(text);
    } catch {
      throw new UsageError(`--jwks-file ${v.jwksFile} is not JSON`);
    }
  }
  if (typeof v.jwksUri === 'string') out.jwks_uri = v.jwksUri;
  return out;
}

function need(values: Record<string, unknown>, ...names: string[]): void {
  const missing = names.filter((n) => values[n] === undefined);
  if (missing.length) throw new UsageError(`missing ${missing.map((n) => `--${kebab(n)}`).join(', ')}`);
}

export function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** A new password: `--password-stdin` (kept out of shell history and `ps`) or `--password`. */
async function passwordFrom(values: Record<string, unknown>, io: CommandIo): Promise<string> {
  if (values.password !== undefined && values.passwordStdin) throw new UsageError('give either --password or --password-stdin, not both');
  if (values.passwordStdin) return io.readStdin();
  if (typeof values.password === 'string') return values.password;
  throw new UsageError('missing --password-stdin (or --password)');
}

const passwordOptions = {
  passwordStdin: { flags: '--password-stdin', description: 'read the password from standard input (recommended: it stays out of shell history and the process list)' },
  password: { flags: '--password <password>', description: 'the password on the command line (visible in shell history and to other local users: prefer --password-stdin)' },
} as const;

async function accountByEmail(accounts: AccountService, email: string): Promise<AccountView> {
  const id = await accounts.idForEmail(email);
  if (!id) throw new NotFoundError(`no account with e-mail "${email}"`);
  return accounts.get(id);
}

/**
 * `users set-password` (and its earlier name, `users reset-password`): the
 * password comes from standard input unless `--password` is given, so it
 * stays out of shell history and the process list.
 */
const setPassword = command({
  summary: "set a user's password, read from standard input (or --password)",
  options: { ...emailOption, ...passwordOptions },
  async collect(v, io) {
    need(v, 'email');
    return { email: v.email, password: v.password === undefined && !v.passwordStdin ? await io.readStdin() : await passwordFrom(v, io) };
  },
  async check(raw) {
    const { z } = await import('zod');
    const { passwordReset } = await import('../services/accounts.ts');
    return passwordReset.extend({ email: z.string().trim().toLowerCase().min(1).max(320) }).parse(raw);
  },
  needs: 'store',
  async run({ accounts, audit }, { email, password }) {
    const account = await accountByEmail(accounts, email);
    await accounts.setPassword(account.id, password);
    await recordByCli(audit, 'admin.user.password_reset', { accountId: account.id });
    return { account: account.id, password_reset: true };
  },
});

/** A command that changes one thing of an account named by its e-mail, audited as the admin API's PATCH is. */
function accountPatchCommand(summary: string, patch: AccountPatch): Command {
  return command({
    summary,
    options: emailOption,
    async collect(v) {
      need(v, 'email');
      return { email: v.email };
    },
    check: emailInput,
    needs: 'store',
    async run({ accounts, audit }, { email }) {
      const account = await accountByEmail(accounts, email);
      const { before, after } = await accounts.update(account.id, patch);
      await recordByCli(audit, 'admin.user.updated', { accountId: after.id, details: { before, after } });
      return after;
    },
  });
}

/** The groups of commands, for `tollgate --help`. */
export const GROUPS: Record<string, string> = {
  users: 'people: create, list, disable, delete, set passwords, end sessions',
  clients: 'OAuth clients: register, list, change, rotate secrets, delete',
  keys: 'signing keys: list, rotate; the key of upstream providers\' secrets: rotate-secrets',
  providers: 'upstream identity providers people sign in with: add, list, remove, set a secret',
  apis: 'APIs (resource servers) clients ask tokens for: add, list, update, remove',
};

export const COMMANDS: Readonly<Record<string, Command>> = {
  migrate: command({
    summary: 'apply pending database migrations (the server applies them at start too)',
    ...noOptions,
    needs: 'store',
    run: async ({ migrated }) => ({ applied: migrated }),
  }),

  'users add': command({
    summary: 'create a user',
    options: {
      ...emailOption,
      ...passwordOptions,
      name: { flags: '--name <name>', description: 'display name' },
      role: { flags: '--role <role>', description: 'a role (admin); repeat for several', repeatable: true },
      org: { flags: '--org <organisation>', description: 'the organisation (tenant) they belong to' },
    },
    async collect(v, io) {
      need(v, 'email');
      return { email: v.email, password: await passwordFrom(v, io), name: v.name, roles: v.role, organisation: v.org };
    },
    check: async (raw) => (await import('../services/accounts.ts')).newAccountInput.parse(raw),
    needs: 'store',
    async run({ accounts, audit }, input) {
      const created = await accounts.create(input);
      await recordByCli(audit, 'admin.user.created', { accountId: created.id, details: { after: created } });
      return created;
    },
  }),

  'users list': command({
    summary: 'list users, oldest first',
    options: {
      email: { flags: '--email <address>', description: 'only this e-mail address' },
      org: { flags: '--org <organisation>', description: 'only this organisation' },
    },
    collect: async (v) => ({ email: v.email, organisation: v.org }),
    async check(raw) {
      const { z } = await import('zod');
      return z.strictObject({ email: z.string().trim().toLowerCase().max(320).optional(), organisation: z.string().max(100).optional() }).parse(raw);
    },
    needs: 'store',
    run: ({ accounts }, filter) => accounts.list(filter),
  }),

  'users show': command({
    summary: 'show one user',
    options: emailOption,
    async collect(v) {
      need(v, 'email');
      return { email: v.email };
    },
    check: emailInput,
    needs: 'store',
    run: ({ accounts }, { email }) => accountByEmail(accounts, email),
  }),

  'users disable': command({
    summary: 'disable a user: they can no longer sign in or refresh, and every session and grant of theirs ends',
    options: emailOption,
    async collect(v) {
      need(v, 'email');
      return { email: v.email };
    },
    check: emailInput,
    needs: 'server',
    async run({ accounts, sessions, audit }, { email }) {
      const account = await accountByEmail(accounts, email);
      const { before, after } = await accounts.update(account.id, { disabled: true });
      // As the admin API does (routes/admin/users.ts): a disabled account keeps nothing it signed in with.
      const ended = before.disabled ? undefined : await sessions.endEverything(after.id);
      await recordByCli(audit, 'admin.user.updated', { accountId: after.id, details: { before, after, ...(ended ? { ended } : {}) } });
      return { ...after, ...(ended ? { ended } : {}) };
    },
  }),

  'users enable': accountPatchCommand('enable a disabled user again', { disabled: false }),

  'users set-password': setPassword,
  // Its earlier name, kept for the scripts that use it.
  'users reset-password': { ...setPassword, summary: 'the same as `users set-password` (its earlier name)' },

  'users delete': command({
    summary: 'delete a user: every session and grant ends (back-channel logout), personal data goes, the audit trail stays under the id',
    options: emailOption,
    async collect(v) {
      need(v, 'email');
      return { email: v.email };
    },
    check: emailInput,
    // Not the store: sessions may live in Redis, and clients hear of the logout by back-channel.
    needs: 'server',
    async run({ accounts, accountDeletion }, { email }) {
      const account = await accountByEmail(accounts, email);
      const report = await accountDeletion.delete(account.id, { actor: 'cli', by: 'cli', locale: 'en' });
      if (!report) throw new NotFoundError(`no account with e-mail "${email}"`);
      return report;
    },
  }),

  // As PATCH /admin/v1/users/{id} with email_verified: true.
  'users verify-email': accountPatchCommand("mark a user's e-mail address verified (the operator vouches for it)", { email_verified: true }),

  'users send-verification': command({
    summary: 'e-mail a user a link that verifies their address (valid 24 hours; the previous link stops working)',
    options: {
      ...emailOption,
      locale: { flags: '--locale <en|ko>', description: 'the language of the message (default en)' },
    },
    async collect(v) {
      need(v, 'email');
      return { email: v.email, locale: v.locale };
    },
    async check(raw) {
      const { z } = await import('zod');
      const { LOCALES } = await import('../i18n.ts');
      return z.strictObject({ email: z.string().trim().toLowerCase().min(1, 'is required').max(320), locale: z.enum(LOCALES).default('en') }).parse(raw);
    },
    // The mailer lives in the server: run directly, the CLI waits for the first delivery attempt as it closes (up to 5 s).
    needs: 'server',
    async run({ accounts, audit, emailVerification }, { email, locale }) {
      const account = await accountByEmail(accounts, email);
      const outcome = await emailVerification.send({ id: account.id, email: account.email, name: account.name, emailVerified: account.email_verified }, locale, { throttle: false });
      if (!outcome.sent && outcome.reason === 'mail_off') throw new MailUnavailableError();
      if (!outcome.sent) throw new ConflictError(`the address "${email}" is already verified`);
      await recordByCli(audit, 'email.verification_sent', { accountId: account.id, details: { by: 'cli' } });
      return { account: account.id, queued: true, link_expires_at: outcome.expiresAt.toISOString() };
    },
  }),

  'users send-password-reset': command({
    summary: 'e-mail a user a password reset link (single use, 30 minutes; only the newest works)',
    options: { ...emailOption, locale: { flags: '--locale <locale>', description: 'the language of the message: en (default) or ko' } },
    async collect(v) {
      need(v, 'email');
      return { email: v.email, locale: v.locale };
    },
    async check(raw) {
      const { z } = await import('zod');
      const { LOCALES } = await import('../i18n.ts');
      return z.strictObject({
        email: z.string().trim().toLowerCase().min(1, 'is required').max(320),
        locale: z.enum(LOCALES, { error: `must be one of: ${LOCALES.join(', ')}` }).default('en'),
      }).parse(raw);
    },
    // The mailer and its queue live in the whole Tollgate; through the control socket, the running server's queue retries.
    needs: 'server',
    async run({ accounts, passwordReset }, { email, locale }) {
      const account = await accountByEmail(accounts, email);
      return { ...(await passwordReset.sendFor(account.id, locale, { actor: 'cli', via: 'cli' })), queued: true };
    },
  }),

  'users sessions': command({
    summary: "a user's sessions (with their devices) and grants, newest first",
    options: emailOption,
    async collect(v) {
      need(v, 'email');
      return { email: v.email };
    },
    check: emailInput,
    needs: 'server',
    async run({ accounts, sessions }, { email }) {
      const account = await accountByEmail(accounts, email);
      const { sessionsOverviewJson } = await import('../services/sessions.ts');
      // The admin API's shape (GET /admin/v1/users/{id}/sessions).
      return sessionsOverviewJson(await sessions.overview(account.id));
    },
  }),

  'users end-session': command({
    summary: 'end one session of a user (its uid from `users sessions`), with the refresh tokens issued in it',
    options: { ...emailOption, session: { flags: '--session <uid>', description: 'the session uid' } },
    async collect(v) {
      need(v, 'email', 'session');
      return { email: v.email, session: v.session };
    },
    async check(raw) {
      const { z } = await import('zod');
      return z.strictObject({ email: z.string().trim().toLowerCase().min(1).max(320), session: z.string().min(1).max(200) }).parse(raw);
    },
    needs: 'server',
    async run({ accounts, sessions, audit }, { email, session }) {
      const account = await accountByEmail(accounts, email);
      if (!(await sessions.endSession(account.id, session))) throw new NotFoundError(`no session "${session}" of this user`);
      await recordByCli(audit, 'admin.session.ended', { accountId: account.id, details: { session_uid: session } });
      return { account: account.id, ended: session };
    },
  }),

  'users revoke-grant': command({
    summary: "revoke a client's access (a grant id from `users sessions`) and every token issued from it",
    options: { ...emailOption, grant: { flags: '--grant <id>', description: 'the grant id' } },
    async collect(v) {
      need(v, 'email', 'grant');
      return { email: v.email, grant: v.grant };
    },
    async check(raw) {
      const { z } = await import('zod');
      return z.strictObject({ email: z.string().trim().toLowerCase().min(1).max(320), grant: z.string().min(1).max(200) }).parse(raw);
    },
    needs: 'server',
    async run({ accounts, sessions, audit }, { email, grant }) {
      const account = await accountByEmail(accounts, email);
      if (!(await sessions.revokeGrant(account.id, grant))) throw new NotFoundError(`no grant "${grant}" of this user`);
      await recordByCli(audit, 'admin.grant.revoked', { accountId: account.id, details: { grant_id: grant } });
      return { account: account.id, revoked: grant };
    },
  }),

  'users logout': command({
    summary: 'end every session and grant of a user, revoke their refresh tokens, send back-channel logout tokens',
    options: emailOption,
    async collect(v) {
      need(v, 'email');
      return { email: v.email };
    },
    check: emailInput,
    needs: 'server',
    async run({ accounts, sessions, audit }, { email }) {
      const account = await accountByEmail(accounts, email);
      const ended = await sessions.endEverything(account.id);
      await recordByCli(audit, 'user.forced_logout', { accountId: account.id, details: { ...ended, by: 'cli' } });
      return { account: account.id, ...ended };
    },
  }),

  'users reset-mfa': command({
    summary: "reset a user's second factors (a lost authenticator): TOTP, recovery codes and passkeys go, every session and grant ends",
    options: {
      email: { flags: '--email <address>', description: "the user's e-mail address (or --id)" },
      id: { flags: '--id <account-id>', description: "the user's account id (or --email)" },
    },
    async collect(v) {
      if ((v.email === undefined) === (v.id === undefined)) throw new UsageError('give either --email or --id');
      return v.email === undefined ? { id: v.id } : { email: v.email };
    },
    async check(raw) {
      const { z } = await import('zod');
      return z.union([
        z.strictObject({ email: z.string().trim().toLowerCase().min(1, 'is required').max(320) }),
        z.strictObject({ id: z.string().trim().min(1, 'is required').max(200) }),
      ]).parse(raw);
    },
    // Not the store: sessions may live in Redis, and clients hear of the logout by back-channel.
    needs: 'server',
    async run(services, input) {
      const account = 'email' in input ? await accountByEmail(services.accounts, input.email) : await services.accounts.get(input.id);
      const { resetAllFactors } = await import('../mfa/operator.ts');
      const reset = await resetAllFactors(services, account.id, { actor: 'cli', by: 'cli' });
      return { account: account.id, email: account.email, factors_reset: true, ...reset };
    },
  }),

  'clients add': command({
    summary: 'register a client; a confidential one gets a generated secret, shown once',
    options: {
      ...clientIdOption,
      secret: { flags: '--secret <secret>', description: 'a secret of your own (at least 32 characters) instead of a generated one' },
      public: { flags: '--public', description: 'a public client (browser or native app, with PKCE): no secret' },
      authMethod: { flags: '--auth-method <method>', description: 'client_secret_basic (default) or private_key_jwt (signs with its own key: give --jwks-file or --jwks-uri)' },
      profile: { flags: '--profile <profile>', description: 'fapi2: the FAPI 2.0 Security Profile (private_key_jwt, PAR and DPoP required, refresh tokens not rotated; docs/fapi.md)' },
      idTokenSigningAlg: { flags: '--id-token-signing-alg <alg>', description: 'RS256 (default), ES256 (default with --profile fapi2) or EdDSA' },
      name: { flags: '--name <name>', description: 'display name, shown on the consent page' },
      applicationType: { flags: '--application-type <type>', description: 'web (default) or native (RFC 8252: loopback and private-use redirect URIs)' },
      redirectUri: { flags: '--redirect-uri <uri>', description: 'a redirect URI; repeat for several', repeatable: true },
      postLogoutRedirectUri: { flags: '--post-logout-redirect-uri <uri>', description: 'a post-logout redirect URI; repeat for several', repeatable: true },
      grantTypes: { flags: '--grant-types <list>', description: 'comma-separated: authorization_code,refresh_token,client_credentials' },
      scope: { flags: '--scope <scopes>', description: 'space-separated scopes it may ask for, e.g. "openid profile email offline_access basic"' },
      firstParty: { flags: '--first-party', description: 'our own application: its users are not asked for consent' },
      requireMfa: { flags: '--require-mfa', description: 'every sign-in at this client needs a second factor, whatever MFA_POLICY says' },
      requirePar: { flags: '--require-par', description: 'its authorization requests must be pushed first (PAR, RFC 9126)' },
      requireDpop: { flags: '--require-dpop', description: 'its token requests must carry a DPoP proof (RFC 9449 dpop_bound_access_tokens)' },
      backchannelLogoutUri: { flags: '--backchannel-logout-uri <uri>', description: 'receives back-channel logout tokens' },
      refreshGrace: { flags: '--refresh-grace <seconds>', description: 'how long a rotated refresh token may be reused' },
      accessTokenTtl: { flags: '--access-token-ttl <seconds>', description: 'access token lifetime for this client' },
      introspects: { flags: '--introspects <audience>', description: 'a resource server, which may introspect the access tokens issued for this audience; repeat for several', repeatable: true },
      ...clientEncryptionOptions,
    },
    async collect(v) {
      need(v, 'id');
      const number = (value: unknown) => (value === undefined ? undefined : Number(value));
      if (v.idTokenEncryption === 'none' || v.userinfoEncryption === 'none') throw new UsageError('`none` is for clients update: leave the option out');
      const encryption = await clientEncryptionMetadata(v);
      return {
        id: v.id,
        secret: v.secret,
        public: Boolean(v.public),
        tokenEndpointAuthMethod: v.authMethod,
        securityProfile: v.profile,
        idTokenSignedResponseAlg: v.idTokenSigningAlg,
        name: v.name,
        applicationType: v.applicationType,
        redirectUris: v.redirectUri ?? [],
        postLogoutRedirectUris: v.postLogoutRedirectUri ?? [],
        grantTypes: typeof v.grantTypes === 'string' ? v.grantTypes.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
        scope: v.scope,
        firstParty: Boolean(v.firstParty),
        requireMfa: Boolean(v.requireMfa),
        requirePar: Boolean(v.requirePar),
        requireDpop: Boolean(v.requireDpop),
        backchannelLogoutUri: v.backchannelLogoutUri,
        refreshTokenReuseGrace: number(v.refreshGrace),
        accessTokenTtl: number(v.accessTokenTtl),
        introspectionAudiences: v.introspects,
        jwks: encryption.jwks,
        jwksUri: encryption.jwks_uri,
        idTokenEncryptedResponseAlg: encryption.id_token_encrypted_response_alg,
        idTokenEncryptedResponseEnc: encryption.id_token_encrypted_response_enc,
        userinfoEncryptedResponseAlg: encryption.userinfo_encrypted_response_alg,
        userinfoEncryptedResponseEnc: encryption.userinfo_encrypted_response_enc,
      };
    },
    async check(raw, { production }) {
      const { assertClientUris, newClientInput } = await import('../services/clients.ts');
      const input = newClientInput.parse(raw);
      // The URI rules need no database: a refused URI exits 2 even while the database is busy or unreachable.
      assertClientUris({
        application_type: input.applicationType, redirect_uris: input.redirectUris,
        post_logout_redirect_uris: input.postLogoutRedirectUris, backchannel_logout_uri: input.backchannelLogoutUri,
      }, { production });
      return input as NewClientInput;
    },
    needs: 'server',
    async run({ clients, audit }, input) {
      const created = await clients.register(input);
      await recordByCli(audit, 'admin.client.created', { clientId: created.client.client_id, details: { after: created.client } });
      return created;
    },
  }),

  'clients list': command({ summary: 'list clients (never their secrets)', ...noOptions, needs: 'store', run: ({ clients }) => clients.list() }),

  'clients show': command({
    summary: 'show one client',
    options: clientIdOption,
    async collect(v) {
      need(v, 'id');
      return { id: v.id };
    },
    check: clientIdInput,
    needs: 'store',
    run: ({ clients }, { id }) => clients.get(id),
  }),

  'clients update': command({
    summary: "change a client's second-factor, PAR and DPoP policies, its security profile or its encrypted responses (as PATCH /admin/v1/clients/{id})",
    options: {
      ...clientIdOption,
      profile: { flags: '--profile <profile>', description: 'fapi2 (the FAPI 2.0 Security Profile; the client must use private_key_jwt), or none to leave it' },
      idTokenSigningAlg: { flags: '--id-token-signing-alg <alg>', description: 'RS256, ES256 or EdDSA' },
      requireMfa: { flags: '--require-mfa', description: 'every sign-in at this client needs a second factor, whatever MFA_POLICY says' },
      // Commander gives --require-mfa and --no-require-mfa one value: true, false, or undefined when neither is given.
      noRequireMfa: { flags: '--no-require-mfa', description: 'sign-ins at this client follow MFA_POLICY alone' },
      requirePar: { flags: '--require-par', description: 'its authorization requests must be pushed first (PAR, RFC 9126)' },
      noRequirePar: { flags: '--no-require-par', description: 'plain authorization requests are accepted again (unless REQUIRE_PAR)' },
      requireDpop: { flags: '--require-dpop', description: 'its token requests must carry a DPoP proof (RFC 9449)' },
      noRequireDpop: { flags: '--no-require-dpop', description: 'its token requests may come without a DPoP proof' },
      ...clientEncryptionOptions,
    },
    async collect(v) {
      need(v, 'id');
      const encryption = await clientEncryptionMetadata(v);
      // RFC 7591 §2: jwks and jwks_uri MUST NOT both be present: the new one replaces the other.
      if (encryption.jwks !== undefined) encryption.jwks_uri = null;
      if (encryption.jwks_uri !== undefined) encryption.jwks = null;
      const patch = {
        ...(v.profile !== undefined ? { security_profile: v.profile === 'none' ? null : v.profile } : {}),
        ...(v.idTokenSigningAlg !== undefined ? { id_token_signed_response_alg: v.idTokenSigningAlg } : {}),
        ...(v.requireMfa !== undefined ? { require_mfa: v.requireMfa } : {}),
        ...(v.requirePar !== undefined ? { require_pushed_authorization_requests: v.requirePar } : {}),
        ...(v.requireDpop !== undefined ? { dpop_bound_access_tokens: v.requireDpop } : {}),
        ...encryption,
      };
      if (!Object.keys(patch).length) {
        throw new UsageError('nothing to change: give --profile, --id-token-signing-alg, --require-mfa or --no-require-mfa, --require-par or --no-require-par, --require-dpop or --no-require-dpop, --id-token-encryption, --userinfo-encryption, --jwks-file or --jwks-uri');
      }
      return { id: v.id, patch };
    },
    async check(raw) {
      const { z } = await import('zod');
      const { clientPatch } = await import('../services/clients.ts');
      return z.strictObject({ id: z.string().min(1, 'is required').max(200), patch: clientPatch }).parse(raw);
    },
    // Not the store: with Redis, every instance's client cache must hear of the change (repositories/invalidation.ts).
    needs: 'server',
    async run({ clients, audit }, { id, patch }) {
      const { before, after } = await clients.update(id, patch);
      await recordByCli(audit, 'admin.client.updated', { clientId: after.client_id, details: { before, after } });
      return after;
    },
  }),

  'clients rotate-secret': command({
    summary: 'a new generated secret, shown once; the old one stops working at once',
    options: clientIdOption,
    async collect(v) {
      need(v, 'id');
      return { id: v.id };
    },
    check: clientIdInput,
    // Not the store: with Redis, every instance's client cache must hear of the change (repositories/invalidation.ts).
    needs: 'server',
    async run({ clients, audit }, { id }) {
      const rotated = await clients.rotateSecret(id);
      await recordByCli(audit, 'admin.client.secret_rotated', { clientId: rotated.client.client_id });
      return rotated;
    },
  }),

  'clients delete': command({
    summary: 'delete a client with every grant, code and refresh token issued to it',
    options: clientIdOption,
    async collect(v) {
      need(v, 'id');
      return { id: v.id };
    },
    check: clientIdInput,
    // Not the store: what was issued to it may live in Redis, and caches must hear of it.
    needs: 'server',
    async run({ clients, audit }, { id }) {
      const removed = await clients.remove(id);
      await recordByCli(audit, 'admin.client.deleted', { clientId: removed.client_id, details: { before: removed } });
      return { deleted: removed.client_id };
    },
  }),

  'providers add': command({
    summary: 'add an upstream identity provider; prints the redirect URI to register at the upstream (never the secret)',
    options: {
      ...providerIdOption,
      type: { flags: '--type <type>', description: 'oidc (any OpenID Connect issuer), or a preset: google, kakao (OpenID Connect), github, naver (OAuth 2.0)' },
      issuer: { flags: '--issuer <url>', description: "the OpenID Connect issuer (required for oidc; google and kakao have their preset's)" },
      clientId: { flags: '--client-id <id>', description: 'the client id Tollgate has at the upstream' },
      ...upstreamSecretOptions,
      name: { flags: '--name <name>', description: "the sign-in button's label (default: the preset's name, or the id)" },
      scope: { flags: '--scope <scopes>', description: "space-separated scopes to ask for (default: the preset's)" },
      autoCreate: { flags: '--no-auto-create', description: 'never create an account for an unknown identity (only link existing ones)' },
      authorizationEndpoint: { flags: '--authorization-endpoint <url>', description: "overrides the preset's or the discovered one" },
      tokenEndpoint: { flags: '--token-endpoint <url>', description: "overrides the preset's or the discovered one" },
      userinfoEndpoint: { flags: '--userinfo-endpoint <url>', description: "overrides the preset's or the discovered one (GitHub: the user API; /emails beside it)" },
      jwksUri: { flags: '--jwks-uri <url>', description: 'overrides the discovered one' },
    },
    async collect(v, io) {
      need(v, 'id', 'type', 'clientId');
      return {
        id: v.id, type: v.type, issuer: v.issuer, clientId: v.clientId, clientSecret: await upstreamSecretFrom(v, io), name: v.name, scope: v.scope,
        autoCreate: v.autoCreate !== false, authorizationEndpoint: v.authorizationEndpoint, tokenEndpoint: v.tokenEndpoint,
        userinfoEndpoint: v.userinfoEndpoint, jwksUri: v.jwksUri,
      };
    },
    check: async (raw) => (await import('../federation/providers.ts')).newProviderInput.parse(raw) as NewProviderInput,
    needs: 'server',
    async run({ providers, audit }, input) {
      const created = await providers.add(input);
      await recordByCli(audit, 'admin.provider.created', { details: { provider_id: created.id, after: created } });
      return { ...created, next_step: `register ${created.redirect_uri} as the redirect URI of client "${created.client_id}" at the upstream` };
    },
  }),

  'providers list': command({
    summary: 'list upstream identity providers (never their secrets), with the redirect URI of each',
    ...noOptions,
    needs: 'server',
    run: ({ providers }) => providers.list(),
  }),

  'providers remove': command({
    summary: 'remove an upstream identity provider; refused while identities are linked to it, unless --unlink-identities',
    options: {
      ...providerIdOption,
      unlinkIdentities: { flags: '--unlink-identities', description: 'remove it even so, unlinking them (people who signed in only through it then need a password reset)' },
    },
    async collect(v) {
      need(v, 'id');
      return { id: v.id, unlinkIdentities: Boolean(v.unlinkIdentities) };
    },
    async check(raw) {
      const { z } = await import('zod');
      const { PROVIDER_ID } = await import('../federation/providers.ts');
      return z.strictObject({ id: z.string().regex(PROVIDER_ID, 'must be 1 to 40 lower-case letters, digits or dashes'), unlinkIdentities: z.boolean() }).parse(raw);
    },
    needs: 'server',
    async run({ providers, audit }, { id, unlinkIdentities }) {
      const { removed, unlinked } = await providers.remove(id, { unlinkIdentities });
      await recordByCli(audit, 'admin.provider.deleted', { details: { provider_id: removed.id, before: removed, unlinked_identities: unlinked } });
      return { removed: removed.id, unlinked_identities: unlinked };
    },
  }),

  'providers set-secret': command({
    summary: "store a new client secret for a provider (after rotating it at the upstream), read from standard input (or --client-secret)",
    options: { ...providerIdOption, ...upstreamSecretOptions },
    async collect(v, io) {
      need(v, 'id');
      return { id: v.id, clientSecret: v.clientSecret === undefined && !v.clientSecretStdin ? await io.readStdin() : await upstreamSecretFrom(v, io) };
    },
    async check(raw) {
      const { z } = await import('zod');
      const { PROVIDER_ID, providerPatch } = await import('../federation/providers.ts');
      return z.strictObject({
        id: z.string().regex(PROVIDER_ID, 'must be 1 to 40 lower-case letters, digits or dashes'),
        clientSecret: providerPatch.shape.clientSecret.unwrap(),
      }).parse(raw);
    },
    needs: 'server',
    async run({ providers, audit }, { id, clientSecret }) {
      const { before, after } = await providers.update(id, { clientSecret });
      await recordByCli(audit, 'admin.provider.updated', { details: { provider_id: id, before, after, client_secret_changed: true } });
      return { provider: id, client_secret_changed: true };
    },
  }),

  'providers re-encrypt': command({
    summary: 'encrypt every stored upstream secret with the newest key (after `keys rotate-secrets`)',
    ...noOptions,
    needs: 'server',
    run: ({ providers }) => providers.reencrypt(),
  }),

  'apis add': command({
    summary: 'register an API (resource server) that clients ask tokens for with `resource` (RFC 8707); docs/apis.md',
    options: apiOptions,
    async collect(v) {
      need(v, 'identifier', 'name', 'scopes');
      return apiInputFrom(v);
    },
    check: async (raw) => (await import('../services/apis.ts')).newApiInput.parse(raw),
    needs: 'server',
    async run({ apis, audit }, input) {
      const created = await apis.add(input);
      await recordByCli(audit, 'admin.api.created', { details: { api_id: created.id, after: created } });
      return { ...created, next_step: "let a client use it: list its scopes in the client's scope (clients add --scope, or PATCH /admin/v1/clients/{id} with scope)" };
    },
  }),

  'apis list': command({
    summary: 'list registered APIs',
    ...noOptions,
    needs: 'server',
    run: ({ apis }) => apis.list(),
  }),

  'apis update': command({
    summary: "change a registered API (found by --identifier; --new-identifier renames it)",
    options: {
      ...apiOptions,
      newIdentifier: { flags: '--new-identifier <uri>', description: 'a new resource indicator for it' },
      defaultAccessTokenTtl: { flags: '--default-access-token-ttl', description: 'use ACCESS_TOKEN_TTL again' },
      noRequireDpop: { flags: '--no-require-dpop', description: 'accept tokens that are not DPoP-bound again' },
      noEncrypt: { flags: '--no-encrypt', description: 'stop encrypting its access tokens' },
    },
    async collect(v) {
      need(v, 'identifier');
      const { identifier, ...patch } = apiInputFrom(v);
      return {
        ...patch, identifier, newIdentifier: v.newIdentifier,
        ...(v.defaultAccessTokenTtl ? { accessTokenTtl: null } : {}),
      };
    },
    async check(raw) {
      const { z } = await import('zod');
      const { apiPatch } = await import('../services/apis.ts');
      return apiPatch.omit({ identifier: true }).extend({ identifier: z.string().min(1).max(2000), newIdentifier: apiPatch.shape.identifier }).parse(raw);
    },
    needs: 'server',
    async run({ apis, audit }, { identifier, newIdentifier, ...patch }) {
      const current = await apis.getByIdentifier(identifier);
      const { before, after } = await apis.update(current.id, { ...patch, identifier: newIdentifier });
      await recordByCli(audit, 'admin.api.updated', { details: { api_id: after.id, before, after } });
      return after;
    },
  }),

  'apis remove': command({
    summary: 'remove a registered API: new tokens for it are refused (invalid_target); issued ones run until they expire',
    options: { identifier: apiOptions.identifier },
    async collect(v) {
      need(v, 'identifier');
      return { identifier: v.identifier };
    },
    async check(raw) {
      const { z } = await import('zod');
      return z.strictObject({ identifier: z.string().min(1).max(2000) }).parse(raw);
    },
    needs: 'server',
    async run({ apis, audit }, { identifier }) {
      const removed = await apis.remove((await apis.getByIdentifier(identifier)).id);
      await recordByCli(audit, 'admin.api.deleted', { details: { api_id: removed.id, before: removed } });
      return { removed: removed.identifier };
    },
  }),

  'keys list': command({
    summary: 'the signing and encryption keys (kid, alg, use, created; current: signs new tokens, or is the one to encrypt to)',
    ...noOptions,
    needs: 'keys',
    run: async (config) => (await import('../keys/key-store.ts')).listSigningKeys(config.keysDir),
  }),

  'keys rotate': command({
    summary: 'add new RS256, ES256, EdDSA signing and RSA-OAEP-256, ECDH-ES encryption keys in front, keep the previous ones published, drop older ones',
    ...noOptions,
    needs: 'keys',
    run: async (config) => ({
      ...(await (await import('../keys/key-store.ts')).rotateSigningKeys(config.keysDir)),
      // Running instances poll the key file (keys/key-reload.ts).
      note: 'instances sharing this KEYS_DIR sign with the new keys within a second, no restart; tokens signed by a retired key stop verifying, and requests encrypted to a retired key stop decrypting',
    }),
  }),

  'keys rotate-secrets': command({
    summary: "add a new key in front for upstream providers' client secrets; older keys stay, so stored secrets still decrypt",
    ...noOptions,
    needs: 'keys',
    run: async (config) => ({
      ...(await (await import('../keys/upstream-secret-keys.ts')).rotateSecretKeys(config.keysDir)),
      note: 'new secrets are encrypted with the new key at once; run `tollgate providers re-encrypt` to rewrite the stored ones under it (docs/federation.md)',
    }),
  }),
};
