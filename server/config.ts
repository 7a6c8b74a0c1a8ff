// Configuration: the environment, read once into one frozen, typed object.
//
// Every option is declared here with its default and the reason for it; the
// README's configuration table mirrors this file. A bad value stops the
// process with one line naming the variable and what is wrong with it.
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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

const env = z.object({
  /** `production` turns on the strict checks below (https issuer, explicit secrets, Secure cookies). */
  NODE_ENV: z.enum(['development', 'production', 'test'], { error: 'must be development, production or test' }).default('development'),
  /** 3000: the conventional port of a Node development server. 0 picks a free port (tests). */
  PORT: integer(0, 65535).default(3000),
  /** Unset: every interface, IPv6 and IPv4 where the host has both (Node's own default), so it works in a container too. */
  HOST: z.string().trim().min(1, 'must not be empty').optional(),
  /** The public URL clients see; every token's `iss`. Defaults to http://localhost:$PORT for development. */
  ISSUER: absoluteUrl(['http:', 'https:']).optional(),
  /** PostgreSQL connection URL. Absent: the embedded database under DATA_DIR. */
  DATABASE_URL: absoluteUrl(['postgres:', 'postgresql:']).optional(),
  /** Connections per instance. pg's default (10) keeps N instances well under PostgreSQL's max_connections (100). */
  DATABASE_POOL_SIZE: integer(1, 1000).default(10),
  /** Where the embedded database lives when DATABASE_URL is absent. */
  DATA_DIR: z.string().trim().min(1, 'must not be empty').default('./data'),
  /** Private signing keys and generated development secrets (never committed). */
  KEYS_DIR: z.string().trim().min(1, 'must not be empty').default('./keys'),
  /** Redis for short-lived state across instances (see README, "Running several instances"). */
  REDIS_URL: absoluteUrl(['redis:', 'rediss:']).optional(),
  /** pino level; `info` logs one line per request. */
  LOG_LEVEL: z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  /**
   * Comma-separated keys that sign cookies, newest first (older ones still verify,
   * which is how they rotate). Generated and kept in KEYS_DIR in development;
   * required in production.
   */
  COOKIE_SECRETS: z.string().optional()
    .transform((v) => v?.split(',').map((s) => s.trim()).filter(Boolean))
    .refine((v) => v === undefined || (v.length > 0 && v.every((s) => s.length >= 32)), 'must be comma-separated secrets of at least 32 characters each'),
  /** The resource indicator (RFC 8707) and `aud` of access tokens when a client names none. Defaults to $ISSUER/api. */
  API_AUDIENCE: absoluteUrl(['http:', 'https:', 'urn:']).optional(),
  /** Seconds. 15 minutes: short enough that a stolen token is soon useless (RFC 9700 §2.2.2), long enough to spare refreshes. */
  ACCESS_TOKEN_TTL: integer(60, 86_400).default(900),
  /** Seconds. One hour, as Keycloak and Auth0 default. */
  ID_TOKEN_TTL: integer(60, 86_400).default(3600),
  /** Seconds. A refresh token family's absolute lifetime, from the first sign-in: 30 days (Auth0's default). */
  REFRESH_TOKEN_TTL: integer(1, 366 * 86_400).default(30 * 86_400),
  /** Seconds. A refresh token unused this long expires (sliding: every rotation starts it again): 7 days. */
  REFRESH_TOKEN_IDLE_TTL: integer(1, 366 * 86_400).default(7 * 86_400),
  /** Seconds. A login session's absolute lifetime, from the sign-in: 30 days. */
  SESSION_TTL: integer(1, 366 * 86_400).default(30 * 86_400),
  /** Seconds. A login session unused this long ends (sliding: every use starts it again): 3 days (Auth0's default). */
  SESSION_IDLE_TTL: integer(1, 366 * 86_400).default(3 * 86_400),
  /** ES256 signs ~20× faster than RS256 here and makes tokens ~3× shorter. */
  ACCESS_TOKEN_SIGNING_ALG: z.enum(['ES256', 'RS256'], { error: 'must be ES256 or RS256' }).default('ES256'),
  /** Days the audit trail keeps an event (the janitor removes older ones). A year covers most compliance regimes. */
  AUDIT_RETENTION_DAYS: integer(1, 36_500).default(365),
  /** `single`: a new sign-in ends the user's other sessions (on every device). `allow`: sessions coexist. */
  CONCURRENT_LOGINS: z.enum(['allow', 'single'], { error: 'must be allow or single' }).default('allow'),
  /** Let people create their own account on the login page. Off: accounts come from operators (CLI, admin API). */
  SIGNUP_ENABLED: boolean.default(false),
  /**
   * Let Tollgate's outbound requests (back-channel logout, clients' jwks_uri)
   * reach loopback and private addresses. Off, oidc-provider's SSRF guard
   * refuses them; turn on only when such receivers live on your own network.
   */
  ALLOW_PRIVATE_NETWORK_FETCH: boolean.default(false),
  /** Honour X-Forwarded-* from a reverse proxy. Only behind one that sets them. */
  TRUST_PROXY: boolean.default(false),
});

export type Env = z.input<typeof env>;

export interface Config {
  readonly env: 'development' | 'production' | 'test';
  readonly port: number;
  readonly host?: string;
  readonly issuer: string;
  readonly database: { readonly url?: string; readonly poolSize: number; readonly dataDir: string };
  readonly keysDir: string;
  readonly redisUrl?: string;
  readonly logLevel: (typeof LOG_LEVELS)[number];
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
  readonly auditRetentionDays: number;
  readonly allowPrivateNetworkFetch: boolean;
}

/** Reads the configuration from an environment (process.env by default). Throws ConfigError. */
export function loadConfig(source: Record<string, string | undefined> = process.env): Config {
  // An empty variable means "not set", as in most twelve-factor tooling.
  const present = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = env.safeParse(present);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${String(issue.path[0] ?? 'environment')}: ${issue.message}`);
  }
  const e = parsed.data;

  const issuer = normaliseIssuer(e.ISSUER ?? `http://localhost:${e.PORT}`);
  if (e.NODE_ENV === 'production') {
    // OpenID Connect Discovery §3 and RFC 8414 §2 require an https issuer.
    if (!issuer.startsWith('https://')) throw new ConfigError('ISSUER: must be an https URL when NODE_ENV=production');
    if (!e.COOKIE_SECRETS) throw new ConfigError('COOKIE_SECRETS: required when NODE_ENV=production (generated secrets are for development only)');
  }

  return Object.freeze({
    env: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    issuer,
    database: Object.freeze({ url: e.DATABASE_URL, poolSize: e.DATABASE_POOL_SIZE, dataDir: path.resolve(e.DATA_DIR) }),
    keysDir: path.resolve(e.KEYS_DIR),
    redisUrl: e.REDIS_URL,
    logLevel: e.LOG_LEVEL,
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
    auditRetentionDays: e.AUDIT_RETENTION_DAYS,
    allowPrivateNetworkFetch: e.ALLOW_PRIVATE_NETWORK_FETCH,
  });
}

function normaliseIssuer(value: string): string {
  const url = new URL(value);
  if (url.search || url.hash) throw new ConfigError('ISSUER: must not have a query or fragment (OpenID Connect Discovery §3)');
  // The issuer is compared as a string by clients: one canonical form, no trailing slash.
  return url.href.replace(/\/+$/, '');
}
