// Configuration: the environment, read once into one frozen, typed object.
//
// Every option is declared once, below, with its validation, its default,
// what it means and why the default is what it is; the README's
// configuration table is generated from these declarations (`npm run
// docs:config`, checked by test/unit/config-docs.test.ts), as oidc-provider
// generates its documentation from lib/helpers/defaults.js. A bad value
// stops the process with one line per bad variable, naming it and what is
// wrong, all of them at once.
import { statSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** MFA_POLICY: who must sign in with a second factor (server/mfa/policy.ts). */
export const MFA_POLICIES = ['optional', 'admins', 'everyone'] as const;
export type MfaPolicy = (typeof MFA_POLICIES)[number];

const integer = (min: number, max: number) =>
  z.coerce.number({ error: 'must be a number' }).int('must be a whole number').min(min, `must be at least ${min}`).max(max, `must be at most ${max}`);

const boolean = z.enum(['true', 'false', '1', '0', 'yes', 'no'], { error: 'must be true or false' })
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const absoluteUrl = (protocols: readonly string[]) => z.string().trim().refine((value) => {
  try {
    return protocols.includes(new URL(value).protocol);
  } catch {
    return false;
  }
}, `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`);

/** A cluster seed node as a URL: `host:port` means `redis://host:port`. */
function clusterNodeUrl(node: string): URL | undefined {
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(node) ? node : `redis://${node}`);
    // A cluster has one database (0): a path would select another, which the cluster refuses.
    const plain = url.hostname !== '' && (url.pathname === '' || url.pathname === '/') && !url.search && !url.hash;
    return ['redis:', 'rediss:'].includes(url.protocol) && plain ? url : undefined;
  } catch {
    return undefined;
  }
}

/** One environment variable: its validation (with its default, if any) and its documentation. */
export interface ConfigOption {
  /** Validates the raw string; `.default(v)` gives the default, `.optional()` marks one that may stay unset. */
  readonly schema: z.ZodType;
  /** What it does (the README's "Meaning"). */
  readonly meaning: string;
  /** Why the default is what it is. */
  readonly why?: string;
  /** The README's "Default" when it is not simply the schema's default value (unset, or derived from another option). */
  readonly shown?: string;
  /** Seconds: a default of whole days also shows as days. */
  readonly seconds?: true;
}

export const CONFIG_OPTIONS = {
  NODE_ENV: {
    schema: z.enum(['development', 'production', 'test'], { error: 'must be development, production or test' }).default('development'),
    meaning: '`production` requires an `https` `ISSUER` and explicit `COOKIE_SECRETS`.',
    why: 'Development needs no setup; `production` turns on the strict checks (https issuer, explicit secrets, Secure cookies).',
  },
  PORT: {
    schema: integer(0, 65535).default(3000),
    meaning: 'Listening port.',
    why: 'The conventional port of a Node development server. 0 picks a free port (tests).',
  },
  HOST: {
    schema: z.string().trim().min(1, 'must not be empty').optional(),
    shown: '*(all interfaces)*',
    meaning: 'Listening address; unset listens on every IPv6 and IPv4 address.',
    why: "Node's own default (IPv6 and IPv4 where the host has both), so it works in a container too.",
  },
  ISSUER: {
    schema: absoluteUrl(['http:', 'https:']).optional(),
    shown: '`http://localhost:$PORT`',
    meaning: 'Public URL of Tollgate; the `iss` of every token. No query or fragment. A path is allowed (all endpoints move under it).',
    why: 'Development on this machine; production requires an https URL.',
  },
  DATABASE_URL: {
    schema: absoluteUrl(['postgres:', 'postgresql:']).optional(),
    shown: '*(unset: embedded)*',
    meaning: 'PostgreSQL URL (`postgres://` or `postgresql://`). Unset: embedded PGlite under `DATA_DIR`.',
    why: 'Nothing to install to start; several instances need PostgreSQL.',
  },
  DATABASE_POOL_SIZE: {
    schema: integer(1, 1000).default(10),
    meaning: 'PostgreSQL connections per instance.',
    why: "pg's default, which keeps N instances well under PostgreSQL's `max_connections` (100).",
  },
  DATA_DIR: {
    schema: z.string().trim().min(1, 'must not be empty').default('./data'),
    meaning: 'Embedded database directory (~40 MB).',
  },
  KEYS_DIR: {
    schema: z.string().trim().min(1, 'must not be empty').default('./keys'),
    meaning: 'Private signing and encryption keys (`signing-keys.json`, mode 0600) and development cookie secrets. Never commit; back up; share between instances.',
  },
  REDIS_URL: {
    schema: absoluteUrl(['redis:', 'rediss:']).optional(),
    shown: '*(unset)*',
    meaning: '`redis://…` or `rediss://…`: sessions, interactions, authorization codes and the other short-lived models, login throttling counters and cache invalidation move to Redis (see [Running several instances](#running-several-instances)).',
    why: 'One instance needs no Redis; several share short-lived state through it.',
  },
  REDIS_CLUSTER_NODES: {
    schema: z.string().optional()
      .transform((v) => v?.split(',').map((s) => s.trim()).filter(Boolean))
      .transform((nodes, ctx) => {
        if (!nodes) return undefined;
        const urls = nodes.map(clusterNodeUrl);
        if (!urls.length || urls.some((u) => u === undefined)) {
          ctx.addIssue({ code: 'custom', message: 'must be comma-separated host:port pairs or redis:// / rediss:// URLs' });
          return z.NEVER;
        }
        // Credentials and TLS apply to every node the client discovers, not only to the seeds: one set for all.
        if (new Set(urls.map((u) => `${u!.protocol}${u!.username}:${u!.password}`)).size > 1) {
          ctx.addIssue({ code: 'custom', message: 'every node must use the same scheme and credentials' });
          return z.NEVER;
        }
        return urls.map((u) => u!.href);
      }),
    shown: '*(unset)*',
    meaning: 'A Redis Cluster instead of one server (`REDIS_URL`): comma-separated seed nodes, `host:port` or `redis://…`/`rediss://…` URLs (credentials and TLS from the URLs apply to every node). Same use as `REDIS_URL`; see [docs/redis.md](docs/redis.md).',
    why: 'A few seeds are enough: the client discovers the rest of the cluster and follows its changes.',
  },
  LOG_LEVEL: {
    schema: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
    meaning: `pino level: \`${LOG_LEVELS.join(' ')}\`. \`info\` logs one line per request.`,
  },
  LOG_FORMAT: {
    schema: z.enum(['json', 'pretty'], { error: 'must be json or pretty' }).default('json'),
    meaning: '`json`: one JSON object per line (pino). `pretty`: coloured human lines for development (pino-pretty). See [docs/observability.md](docs/observability.md).',
    why: 'Log collectors read JSON; people at a terminal read `pretty`.',
  },
  METRICS_PORT: {
    schema: integer(0, 65535).optional(),
    shown: '*(unset: off)*',
    meaning: 'Serve Prometheus metrics at `/metrics` on this port (bound to `HOST`, like the public port, which never serves them). See [docs/observability.md](docs/observability.md).',
    why: 'Off until asked for; a port of its own, so the metrics stay on the network the operator scrapes from.',
  },
  COOKIE_SECRETS: {
    schema: z.string().optional()
      .transform((v) => v?.split(',').map((s) => s.trim()).filter(Boolean))
      .refine((v) => v === undefined || (v.length > 0 && v.every((s) => s.length >= 32)), 'must be comma-separated secrets of at least 32 characters each'),
    shown: 'generated in dev',
    meaning: 'Comma-separated cookie-signing keys, newest first, ≥ 32 characters each. Required in production.',
    why: 'Older keys still verify, which is how they rotate. Generated and kept in `KEYS_DIR` in development only.',
  },
  API_AUDIENCE: {
    schema: absoluteUrl(['http:', 'https:', 'urn:']).optional(),
    shown: '`$ISSUER/api`',
    meaning: 'Resource indicator (RFC 8707) and `aud` of access tokens when a client names none.',
  },
  ACCESS_TOKEN_TTL: {
    schema: integer(60, 86_400).default(900),
    seconds: true,
    meaning: 'Access token lifetime, seconds (60–86400); a client may register its own (`--access-token-ttl`).',
    why: '15 minutes: short enough that a stolen token is soon useless (RFC 9700 §2.2.2), long enough to spare refreshes.',
  },
  ID_TOKEN_TTL: {
    schema: integer(60, 86_400).default(3600),
    seconds: true,
    meaning: 'ID token lifetime, seconds.',
    why: 'One hour, as Keycloak and Auth0 default.',
  },
  REFRESH_TOKEN_TTL: {
    schema: integer(1, 366 * 86_400).default(30 * 86_400),
    seconds: true,
    meaning: 'Absolute lifetime of a refresh token family, from the sign-in.',
    why: "Auth0's default.",
  },
  REFRESH_TOKEN_IDLE_TTL: {
    schema: integer(1, 366 * 86_400).default(7 * 86_400),
    seconds: true,
    meaning: 'A refresh token unused this long expires; every rotation starts it again.',
  },
  SESSION_TTL: {
    schema: integer(1, 366 * 86_400).default(30 * 86_400),
    seconds: true,
    meaning: 'Absolute lifetime of a login session, from the sign-in.',
  },
  SESSION_IDLE_TTL: {
    schema: integer(1, 366 * 86_400).default(3 * 86_400),
    seconds: true,
    meaning: 'A login session unused this long ends; every use starts it again.',
    why: "Auth0's default.",
  },
  ACCESS_TOKEN_SIGNING_ALG: {
    schema: z.enum(['ES256', 'RS256'], { error: 'must be ES256 or RS256' }).default('ES256'),
    meaning: '`ES256` or `RS256`.',
    why: 'ES256 signs ~20× faster than RS256 here and makes tokens ~3× shorter.',
  },
  AUDIT_RETENTION_DAYS: {
    schema: integer(1, 36_500).default(365),
    meaning: 'Days the audit trail keeps an event; the janitor removes older ones.',
    why: 'A year covers most compliance regimes.',
  },
  REMEMBER_ME_DEFAULT: {
    schema: boolean.default(false),
    meaning: 'Whether the login page\'s "Keep me signed in" box starts checked. Checked: the session cookie lasts up to `SESSION_TTL`; unchecked: it ends when the browser closes (and ID tokens say `remember_me: false`).',
    why: 'Off, as Keycloak and Auth0 have it: on a shared computer, closing the browser should end the sign-in unless the person asked otherwise.',
  },
  CONCURRENT_LOGINS: {
    schema: z.enum(['allow', 'single'], { error: 'must be allow or single' }).default('allow'),
    meaning: "`single`: a new sign-in ends the user's other sessions (and the refresh tokens bound to them, with back-channel logout).",
    why: 'People sign in on several devices.',
  },
  SIGNUP_ENABLED: {
    schema: boolean.default(false),
    meaning: 'Offer "Create an account" on the login page. Off: accounts come from operators.',
    why: 'Accounts come from operators (CLI, admin API) unless you choose otherwise.',
  },
  ALLOW_PRIVATE_NETWORK_FETCH: {
    schema: boolean.default(false),
    meaning: "Let outbound requests (back-channel logout, clients' `jwks_uri`) reach loopback and private addresses. Off: oidc-provider's SSRF guard refuses them.",
    why: 'Turn on only when such receivers live on your own network.',
  },
  THEME_DIR: {
    schema: z.string().trim().min(1, 'must not be empty').optional()
      .refine((dir) => dir === undefined || isDirectory(path.resolve(dir)), {
        error: (issue) => `must be an existing directory (${path.resolve(String(issue.input))} is not one)`,
      }),
    shown: '*(unset: built-in look)*',
    meaning: 'A theme: templates, stylesheet, logo and strings over the built-in ones, file by file and key by key ([docs/theming.md](docs/theming.md)). Read once at start.',
    why: 'Branding without a fork; a theme that cannot be served stops the start.',
  },
  TRUST_PROXY: {
    schema: boolean.default(false),
    meaning: 'Believe the client address (`X-Forwarded-For`, the last entry) and scheme (`X-Forwarded-Proto`) the proxy sets. Never the host: every URL Tollgate emits comes from `ISSUER`.',
    why: 'Without a proxy that sets them, anyone could write them.',
  },
  TOLLGATE_ADMIN_EMAIL: {
    schema: z.string().trim().toLowerCase().pipe(z.email({ error: 'must be an e-mail address' })).optional(),
    shown: '*(unset)*',
    meaning: 'Bootstrap administrator: at start, when no account has the `admin` role, one is created with this e-mail (see [docs/deploying.md](docs/deploying.md#the-first-start)).',
    why: 'As Keycloak\'s bootstrap admin: a fresh installation gets an administrator without a second command.',
  },
  TOLLGATE_ADMIN_PASSWORD: {
    // services/passwords.ts's bounds (NIST SP 800-63B), repeated: importing it here would load argon2 into every CLI command.
    schema: z.string().min(8, 'must be at least 8 characters').max(1024, 'must be at most 1024 characters').optional(),
    shown: '*(generated)*',
    meaning: "The bootstrap administrator's password (with `TOLLGATE_ADMIN_EMAIL`). Unset: one is generated and printed once on standard error.",
    why: 'A generated password is never weak, and is shown once, outside the JSON log.',
  },
  SMTP_URL: {
    schema: absoluteUrl(['smtp:', 'smtps:']).refine((value) => URL.canParse(value) && new URL(value).hostname !== '', 'must name a host').optional(),
    shown: '*(unset: no mail)*',
    meaning: 'Outgoing mail: `smtp://[user:password@]host[:port]` (STARTTLS when the server offers it; `?requireTLS=true` refuses to send without it) or `smtps://…` (TLS from the start). Unset: e-mail verification and password reset are off and their pages say so. See [docs/email.md](docs/email.md).',
    why: 'No mail server is needed to start; the password in the URL is never logged.',
  },
  MAIL_FROM: {
    schema: z.string().trim().refine(isMailbox, 'must be an e-mail address, alone or as `Name <address>`').optional(),
    shown: '*(unset)*',
    meaning: 'The From of every message: `address` or `Name <address>`. Required with `SMTP_URL`.',
    why: 'Mail servers judge a sender by its domain (SPF, DKIM): only the operator knows which one to use.',
  },
  MAIL_LOG: {
    schema: boolean.default(false),
    meaning: 'Development only: write each message (links included) to the log instead of sending it. Refused with `NODE_ENV=production`.',
    why: 'Try the mail flows without a mail server; never in production, where the log would hold usable links.',
  },
  REQUIRE_VERIFIED_EMAIL: {
    schema: boolean.default(false),
    meaning: 'A sign-in completes only once the account\'s e-mail address is verified.',
    why: 'Accounts made by operators often have no verified address yet; turn on once mail is set up.',
  },
  RP_ID: {
    // A host name: lower case, labels of letters, digits and hyphens (no port, scheme or path).
    schema: z.string().trim().toLowerCase().regex(/^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/, 'must be a host name (no scheme, port or path)').optional(),
    shown: "*(the `ISSUER`'s host)*",
    meaning: "The WebAuthn relying party ID passkeys are bound to (WebAuthn §5.1.4.1): the `ISSUER`'s host or a registrable suffix of it (`example.com` for `https://login.example.com`). Refused otherwise. See [docs/passkeys.md](docs/passkeys.md).",
    why: 'A passkey works only on its RP ID and the hosts under it, and cannot be moved to another: the issuer\'s own host keeps them to Tollgate; a parent domain lets other sites of yours use them too, so choose it before the first passkey is made.',
  },
  RP_NAME: {
    schema: z.string().trim().min(1, 'must not be empty').max(64, 'must be at most 64 characters').optional(),
    shown: '*(the brand)*',
    meaning: 'The name an authenticator shows for passkeys made here (WebAuthn `rp.name`).',
    why: "The brand people see on the pages (the theme's `brand` string).",
  },
  MFA_POLICY: {
    schema: z.enum(MFA_POLICIES, { error: `must be one of ${MFA_POLICIES.join(', ')}` }).default('optional'),
    meaning: 'Who must sign in with a second factor: `optional` (whoever enrolled one), `admins` (accounts with the `admin` role), `everyone`. A client may demand one for its own sign-ins (`--require-mfa`). Someone who must and has none enrols during the sign-in. See [docs/mfa.md](docs/mfa.md).',
    why: 'Accounts made before second factors existed keep signing in; turn it up once people have had the chance to enrol.',
  },
  REQUIRE_PAR: {
    schema: boolean.default(false),
    meaning: 'Every client must push its authorization request first (PAR, RFC 9126): a plain request to `/auth` is refused, and discovery says `require_pushed_authorization_requests: true`. A client may demand it for itself (`--require-par`). See [docs/par-dpop.md](docs/par-dpop.md).',
    why: 'Clients written before PAR send their parameters in the browser\'s URL; turn on once they push them.',
  },
  DPOP_REQUIRE_NONCE: {
    schema: boolean.default(false),
    meaning: 'Every DPoP proof at the token and PAR endpoints must carry a nonce Tollgate issued (`DPoP-Nonce`, RFC 9449 §8); a proof without one gets `use_dpop_nonce` and the nonce to retry with. Nonces are derived from the cookie secrets, so every instance accepts every other\'s. See [docs/par-dpop.md](docs/par-dpop.md).',
    why: 'A nonce bounds a proof made in advance by whoever held the key for a moment; it costs clients one extra round trip, and not every client library retries.',
  },
} as const satisfies Record<string, ConfigOption>;

type Options = typeof CONFIG_OPTIONS;
const env = z.object(Object.fromEntries(Object.entries(CONFIG_OPTIONS).map(([name, option]) => [name, option.schema])) as { [K in keyof Options]: Options[K]['schema'] });

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host?: string;
  readonly issuer: string;
  readonly database: { readonly url?: string; readonly poolSize: number; readonly dataDir: string };
  readonly keysDir: string;
  readonly redisUrl?: string;
  /** Seed nodes of a Redis Cluster (URLs); set instead of redisUrl. */
  readonly redisClusterNodes?: readonly string[];
  readonly logLevel: (typeof LOG_LEVELS)[number];
  readonly logFormat: 'json' | 'pretty';
  /** Port of the Prometheus /metrics server; undefined: off. */
  readonly metricsPort?: number;
  readonly cookieSecrets?: readonly string[];
  readonly apiAudience: string;
  readonly ttl: {
    readonly accessToken: number;
    readonly idToken: number;
    readonly refreshToken: number;
    readonly refreshTokenIdle: number;
    readonly session: number;
    readonly sessionIdle: number;
  };
  readonly accessTokenSigningAlg: 'ES256' | 'RS256';
  readonly trustProxy: boolean;
  readonly signupEnabled: boolean;
  readonly concurrentLogins: 'allow' | 'single';
  /** REMEMBER_ME_DEFAULT: the login page's "Keep me signed in" starts checked. */
  readonly rememberMeDefault: boolean;
  readonly auditRetentionDays: number;
  readonly allowPrivateNetworkFetch: boolean;
  /** THEME_DIR, absolute: a directory that existed at start. */
  readonly themeDir?: string;
  /** Created at start when no account has the admin role (server/bootstrap.ts); no password: one is generated. */
  readonly bootstrapAdmin?: { readonly email: string; readonly password?: string };
  /** Outgoing mail (server/mail/): SMTP, the log (MAIL_LOG, development), or undefined: off. `url` may hold a password: never log it. */
  readonly mail?: { readonly kind: 'smtp'; readonly url: string; readonly from: string } | { readonly kind: 'log'; readonly from: string };
  /** REQUIRE_VERIFIED_EMAIL: sign-in waits for a verified address. */
  readonly requireVerifiedEmail: boolean;
  /** Passkeys (server/mfa/passkeys.ts): the RP ID (RP_ID, default the issuer's host) and RP_NAME (undefined: the brand). */
  readonly webauthn: { readonly rpId: string; readonly rpName?: string };
  /** MFA_POLICY: who must use a second factor (server/mfa/policy.ts decides it for one sign-in). */
  readonly mfa: { readonly policy: MfaPolicy };
  /** REQUIRE_PAR: every authorization request must be pushed first (RFC 9126 §5). */
  readonly requirePar: boolean;
  /** DPOP_REQUIRE_NONCE: DPoP proofs must carry a server-provided nonce (RFC 9449 §8). */
  readonly dpopRequireNonce: boolean;
}

/**
 * Reads the configuration from an environment (process.env by default).
 * Throws one ConfigError listing every invalid variable, not only the first,
 * so an operator fixes them all in one go. A problem names the variable and
 * what is wrong with it, never the value (it may be a password or secret).
 */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most twelve-factor tooling.
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const problems = new Map<string, string>();
  const problem = (variable: string, message: string) => {
    if (!problems.has(variable)) problems.set(variable, `${variable}: ${message}`);
  };
  // Each variable on its own, so the rules across variables below can still
  // use every value that is valid when another one is not.
  const valid: Record<string, unknown> = {};
  for (const [name, option] of Object.entries(CONFIG_OPTIONS) as Array<[string, ConfigOption]>) {
    const parsed = option.schema.safeParse(present[name]);
    if (parsed.success) valid[name] = parsed.data;
    else problem(name, parsed.error.issues[0]?.message ?? 'is invalid');
  }
  const v = valid as Partial<z.output<typeof env>>;

  let issuer: string | undefined;
  if (v.PORT !== undefined && !problems.has('ISSUER')) {
    issuer = normaliseIssuer(v.ISSUER ?? `http://localhost:${v.PORT}`);
    if (issuer === undefined) problem('ISSUER', 'must not have a query or fragment (OpenID Connect Discovery §3)');
  }
  if (v.METRICS_PORT !== undefined && v.METRICS_PORT !== 0 && v.METRICS_PORT === v.PORT) problem('METRICS_PORT', 'must differ from PORT (metrics are never served on the public port)');
  if (v.REDIS_URL && v.REDIS_CLUSTER_NODES) problem('REDIS_CLUSTER_NODES', 'set either REDIS_URL (one server) or REDIS_CLUSTER_NODES (a cluster), not both');
  if (v.NODE_ENV === 'production') {
    // OpenID Connect Discovery §3 and RFC 8414 §2 require an https issuer.
    if (issuer !== undefined && !issuer.startsWith('https://')) problem('ISSUER', 'must be an https URL when NODE_ENV=production');
    if (!v.COOKIE_SECRETS && !problems.has('COOKIE_SECRETS')) problem('COOKIE_SECRETS', 'required when NODE_ENV=production (generated secrets are for development only)');
  }
  if (v.TOLLGATE_ADMIN_PASSWORD && !v.TOLLGATE_ADMIN_EMAIL && !problems.has('TOLLGATE_ADMIN_EMAIL')) problem('TOLLGATE_ADMIN_PASSWORD', 'set TOLLGATE_ADMIN_EMAIL too (the bootstrap administrator\'s e-mail)');
  if (v.SMTP_URL && !v.MAIL_FROM && !problems.has('MAIL_FROM')) problem('MAIL_FROM', 'required with SMTP_URL (the From address of every message)');
  if (v.SMTP_URL && v.MAIL_LOG) problem('MAIL_LOG', 'set either SMTP_URL (send) or MAIL_LOG (write to the log), not both');
  if (v.MAIL_LOG && v.NODE_ENV === 'production') problem('MAIL_LOG', 'refused when NODE_ENV=production (the log would hold usable links)');
  if (issuer !== undefined && v.RP_ID && !isRpIdFor(v.RP_ID, new URL(issuer).hostname)) {
    problem('RP_ID', "must be the ISSUER's host or a registrable suffix of it (WebAuthn §5.1.4.1: browsers refuse any other)");
  }
  if (problems.size > 0 || issuer === undefined) throw new ConfigError([...problems.values()]);
  const e = env.parse(present);

  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    issuer,
    database: Object.freeze({ url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, dataDir: path.resolve(e.DATA_DIR) }),
    keysDir: path.resolve(e.KEYS_DIR),
    redisUrl: e.REDIS_URL,
    redisClusterNodes: e.REDIS_CLUSTER_NODES ? Object.freeze([...e.REDIS_CLUSTER_NODES]) : undefined,
    logLevel: e.LOG_LEVEL,
    logFormat: e.LOG_FORMAT,
    metricsPort: e.METRICS_PORT,
    cookieSecrets: e.COOKIE_SECRETS ? Object.freeze([...e.COOKIE_SECRETS]) : undefined,
    apiAudience: e.API_AUDIENCE ?? `${issuer}/api`,
    ttl: Object.freeze({
      accessToken: e.ACCESS_TOKEN_TTL,
      idToken: e.ID_TOKEN_TTL,
      refreshToken: e.REFRESH_TOKEN_TTL,
      refreshTokenIdle: e.REFRESH_TOKEN_IDLE_TTL,
      session: e.SESSION_TTL,
      sessionIdle: e.SESSION_IDLE_TTL,
    }),
    accessTokenSigningAlg: e.ACCESS_TOKEN_SIGNING_ALG,
    trustProxy: e.TRUST_PROXY,
    signupEnabled: e.SIGNUP_ENABLED,
    concurrentLogins: e.CONCURRENT_LOGINS,
    rememberMeDefault: e.REMEMBER_ME_DEFAULT,
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    allowPrivateNetworkFetch: e.ALLOW_PRIVATE_NETWORK_FETCH,
    themeDir: e.THEME_DIR ? path.resolve(e.THEME_DIR) : undefined,
    bootstrapAdmin: e.TOLLGATE_ADMIN_EMAIL
      ? Object.freeze({ email: e.TOLLGATE_ADMIN_EMAIL, ...(e.TOLLGATE_ADMIN_PASSWORD ? { password: e.TOLLGATE_ADMIN_PASSWORD } : {}) })
      : undefined,
    mail: mailOf(e, issuer),
    requireVerifiedEmail: e.REQUIRE_VERIFIED_EMAIL,
    webauthn: Object.freeze({ rpId: e.RP_ID ?? new URL(issuer).hostname, ...(e.RP_NAME ? { rpName: e.RP_NAME } : {}) }),
    mfa: Object.freeze({ policy: e.MFA_POLICY }),
    requirePar: e.REQUIRE_PAR,
    dpopRequireNonce: e.DPOP_REQUIRE_NONCE,
  });
}

function mailOf(e: z.output<typeof env>, issuer: string): Config['mail'] {
  if (e.SMTP_URL && e.MAIL_FROM) return Object.freeze({ kind: 'smtp', url: e.SMTP_URL, from: e.MAIL_FROM });
  // In development the log needs no sender of the operator's: one on the issuer's host will do.
  if (e.MAIL_LOG) return Object.freeze({ kind: 'log', from: e.MAIL_FROM ?? `Tollgate <no-reply@${new URL(issuer).hostname}>` });
  return undefined;
}

/** `address` or `Name <address>` (RFC 5322 §3.4, the forms people write); the address checked as zod checks e-mails. */
function isMailbox(value: string): boolean {
  const match = /^(?:[^<>]*<([^<>\s]+)>|([^<>\s]+))$/.exec(value);
  const address = match?.[1] ?? match?.[2];
  return address !== undefined && z.email().safeParse(address).success;
}

function isDirectory(dir: string): boolean {
  try {
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Whether `rpId` may be the RP ID of pages on `host` (WebAuthn §5.1.4.1,
 * HTML's "is a registrable domain suffix of or is equal to"): the host
 * itself, or a parent domain of it with at least two labels (never a bare
 * top-level domain; an IP address only as itself). Public suffixes such as
 * `co.uk` need the Public Suffix List to tell apart: browsers refuse them.
 */
export function isRpIdFor(rpId: string, host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, '');
  if (rpId === h) return true;
  const ip = /^[\d.]+$/.test(h) || h.includes(':');
  return !ip && rpId.includes('.') && h.endsWith(`.${rpId}`);
}

/** The canonical issuer, or undefined when it has a query or fragment. */
function normaliseIssuer(value: string): string | undefined {
  const url = new URL(value);
  if (url.search || url.hash) return undefined;
  // The issuer is compared as a string by clients: one canonical form, no trailing slash.
  return url.href.replace(/\/+$/, '');
}
