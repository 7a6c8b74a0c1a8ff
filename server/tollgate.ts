// Wires Tollgate together at start-up: configuration → database (migrated)
// → repositories → services → keys → oidc-provider → Koa app. Everything is
// passed in; nothing is a module-level singleton, so tests build as many
// instances as they like, on any backend.
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import {
  applyMigrations, createRepositories, localInvalidation, openDatabase, openRedis, redisInvalidation, redisTargetOf,
  type CacheInvalidation, type Database, type Redis, type Repositories,
} from './repositories/index.ts';
import { createAccountService, type AccountService } from './services/accounts.ts';
import { createClientService, type ClientService } from './services/clients.ts';
import { loadOrCreateSigningKeys, SIGNING_KEYS_FILE, type SigningKeys } from './keys/key-store.ts';
import { resolveCookieSecrets } from './keys/secrets.ts';
import { replaceProviderKeys, watchSigningKeys } from './keys/key-reload.ts';
import { createAdapterFactory } from './oidc/adapter.ts';
import { createFindAccount } from './oidc/find-account.ts';
import { createProvider } from './oidc/configuration.ts';
import { createLoadExistingGrant } from './oidc/load-existing-grant.ts';
import { structuredTokenEndpoints } from './oidc/structured-tokens.ts';
import { settleCodeRedemptions } from './oidc/code-redemption.ts';
import { createRedisReplayCache } from './resource-server/redis-replay-cache.ts';
import { createMemoryReplayCache } from './resource-server/dpop.ts';
import { createPages } from './views/pages.ts';
import { createCsrf } from './services/csrf.ts';
import { createClientAuthThrottle, createLoginThrottle } from './services/login-throttle.ts';
import { koaClientAuthThrottle } from './middleware/koa-client-auth-throttle.ts';
import { createAccessTokenVerifier, type AccessTokenVerifier } from './services/access-tokens.ts';
import { createAudienceVerifier, verifierPerAudience } from './services/audience-verifier.ts';
import { createApp } from './app.ts';
import { createViews } from './views/views.ts';
import { createSessionService, type SessionService } from './services/sessions.ts';
import { createAudit, type Audit } from './services/audit.ts';
import { JANITOR_DEFAULTS, startJanitor, type Janitor, type JanitorOptions } from './services/janitor.ts';
import { precomputedDocuments } from './precomputed-documents.ts';
import { createHttpHandler } from './http-handler.ts';
import { answerStorageFaults } from './oidc/storage-faults.ts';
import { listenToProvider } from './oidc/events.ts';
import { adminApi, type AdminApi } from './routes/admin/index.ts';
import { adminApiAudience, basePath, PROVIDER_SCOPES } from './oidc/configuration.ts';
import { clientScopeProblem, splitClientScope } from './oidc/api-scopes.ts';
import { errors } from 'oidc-provider';
import type { RequestListener } from 'node:http';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { createMailer, type Mailer, type MailerOptions } from './mail/mailer.ts';
import { createAccountLinks, type AccountLinks } from './services/account-links.ts';
import { createPasswordReset, type PasswordReset } from './services/password-reset.ts';
import { createEmailVerification, type EmailVerification } from './services/email-verification.ts';
import { createAccountDeletion, type AccountDeletion } from './services/account-deletion.ts';
import { createProfile } from './services/profile.ts';
import { createProviderService, type ProviderService } from './federation/providers.ts';
import { createSecretBox } from './federation/secret-box.ts';
import { createIdentities } from './federation/identities.ts';
import { createUpstreamSignIn } from './federation/upstream-sign-in.ts';
import { recordSignInMethod } from './oidc/sign-in-method.ts';
import { createMfaService, type MfaService } from './mfa/mfa.ts';
import { createPasskeys, type Passkeys } from './mfa/passkeys.ts';
import { API_SIGNING_ALGS, createApiService, type ApiService } from './services/apis.ts';

export interface Tollgate {
  readonly config: Config;
  readonly database: Database;
  readonly repositories: Repositories;
  readonly accounts: AccountService;
  readonly clients: ClientService;
  readonly sessions: SessionService;
  readonly audit: Audit;
  /** The signing keys in use (they change when KEYS_DIR's key file is rotated). */
  readonly keys: SigningKeys;
  readonly provider: Provider;
  /** The admin API: its route declarations, router and OpenAPI document. */
  readonly admin: AdminApi;
  readonly app: Koa;
  /** The Node request handler to serve: fast path for public documents, then the Koa app. */
  readonly handler: RequestListener;
  readonly janitor?: Janitor;
  /** Prometheus metrics; main.ts serves them on METRICS_PORT. */
  readonly metrics: Metrics;
  /** Migrations applied by this start. */
  readonly migrated: string[];
  /** Outgoing mail (SMTP, or the log with MAIL_LOG); `enabled` false when neither is configured. */
  readonly mailer: Mailer;
  /** Single-use tokens of the links in e-mails. */
  readonly accountLinks: AccountLinks;
  /** Forgotten password: request, e-mailed link, new password (issue 14). */
  readonly passwordReset: PasswordReset;
  /** E-mail verification: links sent, confirmed, throttled (services/email-verification.ts). */
  readonly emailVerification: EmailVerification;
  /** Deleting an account: the account page, the admin API and the CLI. */
  readonly accountDeletion: AccountDeletion;
  /** Upstream identity providers, their client secrets encrypted under a key in KEYS_DIR (server/federation/). */
  readonly providers: ProviderService;
  /** Second factors: TOTP and recovery codes (server/mfa/mfa.ts, docs/mfa.md). */
  readonly mfa: MfaService;
  /** Passkeys (WebAuthn): registration and authentication, second factor or password-less (server/mfa/passkeys.ts). */
  readonly passkeys: Passkeys;
  /** APIs (resource servers) registered as data (services/apis.ts, docs/apis.md). */
  readonly apis: ApiService;
  close(): Promise<void>;
}

export interface TollgateOptions {
  /** Purge expired rows periodically (the server does; one-shot CLI commands do not). */
  janitor?: Partial<JanitorOptions> | false;
  /** Pick up rotated signing keys from KEYS_DIR while running (the server does; one-shot CLI commands do not). */
  watchKeys?: boolean;
  /** Warn at start about stored clients that break the registration rules (the server does; one-shot CLI commands do not). */
  reportNonconformingClients?: boolean;
  /** The mail queue's retry schedule and bounds, and extra SMTP options (tests). */
  mailer?: Partial<MailerOptions>;
  /** Decrypt every upstream provider's secret at start, so a missing or wrong key file stops it (the server does; the CLI does not, so that it can still set secrets again). */
  checkUpstreamSecrets?: boolean;
}

/**
 * Clients registered before the registration rules (services/redirect-uris.ts)
 * keep working, as Keycloak keeps clients that a new client policy would
 * refuse; the operator hears of each at start, and its next update must fix
 * them. A failure to look is logged, never fatal.
 */
async function reportNonconformingClients(clients: ClientService, logger: Logger): Promise<void> {
  try {
    for (const client of await clients.nonconforming()) {
      logger.warn({ client_id: client.client_id, fields: client.fields }, 'client breaks the registration rules: it keeps working, but an update is refused until these URIs are fixed (docs/clients.md)');
    }
  } catch (err) {
    logger.warn({ err: { message: (err as Error).message } }, 'could not check stored clients against the registration rules');
  }
}

/** An absent or empty directory: where a first start creates the embedded database. */
async function isEmptyDirectory(dir: string): Promise<boolean> {
  return (await readdir(dir).catch(() => [])).length === 0;
}

export async function createTollgate(config: Config, logger: Logger, options: TollgateOptions = {}): Promise<Tollgate> {
  const prefix = basePath(config);
  // Before any database work: a theme that cannot be served stops the start at once (ConfigError).
  // Templates, assets and strings are read once: restart to see an edited view or theme.
  const views = createViews({ assetsPath: `${prefix}/assets`, themeDir: config.themeDir });
  // A first start does seconds of work before it can listen: say what, as it goes.
  const started = performance.now();
  const creating = !config.database.url && await isEmptyDirectory(config.database.dataDir);
  if (creating) logger.info({ data_dir: config.database.dataDir }, 'creating the embedded database (first start)');
  const database = await openDatabase(config);
  let redis: Redis | undefined;
  let invalidation: CacheInvalidation | undefined;
  try {
    const migrated = await applyMigrations(database);
    if (migrated.length) logger.info({ migrations: migrated, ms: Math.round(performance.now() - started) }, 'database migrated');

    const redisTarget = redisTargetOf(config);
    redis = redisTarget ? await openRedis(redisTarget, logger) : undefined;
    invalidation = redis ? await redisInvalidation(redis, logger) : localInvalidation();
    const repositories = createRepositories(database, { redis, invalidation });
    const redisClient = redis;
    const metrics = createMetrics({
      databasePool: database.poolStats,
      redisReady: redisClient && (() => redisClient.isReady),
      signingKeysFile: path.join(config.keysDir, SIGNING_KEYS_FILE),
    });
    const generatingKeys = !existsSync(path.join(config.keysDir, SIGNING_KEYS_FILE));
    if (generatingKeys) logger.info({ keys_dir: config.keysDir }, 'generating signing keys (first start)');
    const initialKeys = await loadOrCreateSigningKeys(config.keysDir);
    if (generatingKeys) logger.info({ kids: initialKeys.publicJwks.keys.map((k) => k.kid) }, 'signing keys ready');
    const cookieSecrets = await resolveCookieSecrets(config);
    // One key file seals upstream secrets at rest and the social sign-in's round-trip cookies.
    const secretBox = createSecretBox(config.keysDir);
    const providers = createProviderService({
      repository: repositories.upstreamProviders, secrets: secretBox, issuer: config.issuer, production: config.env === 'production',
    });
    if (options.checkUpstreamSecrets !== false) await providers.verifySecrets();
    const accounts = createAccountService(repositories.accounts, { linkTokens: repositories.accountTokens });

    let keys = initialKeys;
    const verifierFor = (publicJwks: SigningKeys['publicJwks'], audience: string | string[], algorithms: readonly string[] = [config.accessTokenSigningAlg]) => createAccessTokenVerifier({
      issuer: config.issuer,
      audience,
      jwks: publicJwks as Parameters<typeof createAccessTokenVerifier>[0]['jwks'],
      algorithms: [...algorithms],
      isRevoked: (jti) => repositories.revokedTokens.isRevoked(jti),
      grantExists: async (grantId) => (await repositories.oidcModels.find('Grant', grantId)) !== undefined,
    });
    // One verifier object for everyone who holds it; the keys behind it change with a rotation (key-reload.ts).
    // Per audience: userinfo takes the API's tokens; introspection, revocation
    // and the admin API either (the admin API then requires its own audience
    // after the scope check: routes/admin/index.ts).
    const audiences = { api: config.apiAudience, admin: adminApiAudience(config), any: [config.apiAudience, adminApiAudience(config)] };
    const verifiersFor = (publicJwks: SigningKeys['publicJwks']) => ({
      api: verifierFor(publicJwks, audiences.api),
      any: verifierFor(publicJwks, audiences.any),
      // A registered API's tokens (introspection and revocation only): any algorithm an API may choose, since its
      // choice may have changed since the token was signed; each of our keys has one alg, so only our signatures pass.
      registeredApi: verifierPerAudience((identifier) => verifierFor(publicJwks, identifier, API_SIGNING_ALGS)),
    });
    let currentVerifiers = verifiersFor(keys.publicJwks);
    const verifier: AccessTokenVerifier = { verify: (token, options) => currentVerifiers.api.verify(token, options) };
    const anyVerifier: AccessTokenVerifier = { verify: (token, options) => currentVerifiers.any.verify(token, options) };
    const pages = createPages(views, config.issuer);
    const findAccount = createFindAccount(accounts, {
      requireVerifiedEmail: config.requireVerifiedEmail, idpOf: (sessionUid, authTime) => repositories.sessionDevices.idpOf(sessionUid, authTime),
    });
    const apis = createApiService(repositories.apiResources, {
      production: config.env === 'production', reservedIdentifiers: [config.apiAudience, adminApiAudience(config)],
    });
    // Their scopes are known before the first client is validated against them.
    await apis.list();
    const provider = createProvider({
      config,
      keys,
      cookieSecrets,
      adapter: createAdapterFactory(repositories),
      findAccount,
      loadExistingGrant: createLoadExistingGrant({ oidcModels: repositories.oidcModels }),
      pages: pages.provider,
      mfaPolicy: config.mfa.policy,
      apis,
    });
    const audit = createAudit(repositories.audit, logger, metrics);
    listenToProvider(provider, { audit, devices: repositories.sessionDevices, logger, metrics });
    // Provider middleware goes in before the app mounts the provider: koa-mount composes it once.
    provider.use(answerStorageFaults(pages.provider));
    provider.use(recordSignInMethod(repositories.sessionDevices));
    provider.use(settleCodeRedemptions({ oidcModels: repositories.oidcModels, logger }));
    // Introspection and revocation also know registered APIs' tokens (docs/apis.md); our own audiences look nothing up.
    const introspectionVerifier = createAudienceVerifier({
      own: anyVerifier,
      ownAudiences: audiences.any,
      registeredApi: async (identifier) => ((await apis.resourceServer(identifier)) ? currentVerifiers.registeredApi(identifier) : undefined),
    });
    provider.use(structuredTokenEndpoints({ verifier: introspectionVerifier, revokedTokens: repositories.revokedTokens }));
    provider.use(koaClientAuthThrottle(provider, createClientAuthThrottle(repositories.loginThrottle), logger, metrics));
    const sessions = createSessionService({
      provider, oidcModels: repositories.oidcModels, sessionDevices: repositories.sessionDevices, logger, audit, concurrentLogins: config.concurrentLogins, metrics,
    });
    const clients = createClientService(
      repositories.clients,
      // A registered API's scopes may be listed in `scope`; any other unknown scope is the library's to refuse (oidc/api-scopes.ts).
      (metadata) => {
        const isOwn = (s: string) => PROVIDER_SCOPES.includes(s);
        const isApi = (s: string) => repositories.apiResources.cachedScopes().has(s);
        const problem = clientScopeProblem(metadata as Record<string, unknown>, isOwn, isApi);
        if (problem) throw new errors.InvalidClientMetadata(problem);
        return provider.Client.validate(splitClientScope(metadata as Record<string, unknown>, isOwn, isApi) as Parameters<Provider['Client']['validate']>[0]);
      },
      (models, clientId) => repositories.oidcModels.deleteByClient(models, clientId),
      { production: config.env === 'production' },
    );
    if (options.reportNonconformingClients !== false) await reportNonconformingClients(clients, logger);

    const documents = precomputedDocuments({
      issuer: config.issuer,
      jwksPath: `${prefix}/jwks`,
      discoveryPath: `${prefix}/.well-known/openid-configuration`,
      publicJwks: keys.publicJwks,
    });
    // Used DPoP proofs: in Redis when there is one, so that every instance refuses a replay.
    const dpopReplayCache = redis ? createRedisReplayCache(redis) : createMemoryReplayCache();
    const mailer = createMailer({ config, logger, metrics, translate: views.translator, options: options.mailer });
    const accountLinks = createAccountLinks(repositories.accountTokens);
    const identities = createIdentities({ identities: repositories.linkedIdentities, accounts, removeAccount: (id) => repositories.accounts.delete(id), audit });
    const passwordReset = createPasswordReset({
      issuer: config.issuer, accounts, links: accountLinks, mailer, sessions, audit, throttleStore: repositories.loginThrottle, logger, identities,
    });
    const emailVerification = createEmailVerification({
      mailer, links: accountLinks, accounts: repositories.accounts, counters: repositories.loginThrottle, issuer: config.issuer,
    });
    const accountDeletion = createAccountDeletion({
      accounts: repositories.accounts, sessions, oidcModels: repositories.oidcModels, sessionDevices: repositories.sessionDevices,
      loginThrottle: repositories.loginThrottle, auditEvents: repositories.audit, audit, mailer,
    });
    const profile = createProfile({
      issuer: config.issuer, accounts, accountRepository: repositories.accounts, sessions, links: accountLinks, mailer, audit,
      throttle: createLoginThrottle(repositories.loginThrottle, undefined, metrics), counters: repositories.loginThrottle,
    });
    const mfa = createMfaService({
      totpFactors: repositories.totpFactors, recoveryCodes: repositories.recoveryCodes, secrets: secretBox, audit, issuerName: new URL(config.issuer).host,
    });
    // The origin is ISSUER's, never the request's Host; RP_NAME defaults to the brand people see on the pages.
    const passkeys = createPasskeys({
      repository: repositories.webauthnCredentials, issuer: config.issuer, rpId: config.webauthn.rpId,
      rpName: config.webauthn.rpName ?? views.translator('en')('brand'), audit,
    });
    const admin = adminApi({
      issuer: config.issuer, verifier: anyVerifier, adminAudience: audiences.admin, accounts, clients, sessions, audit, dpopReplayCache,
      passwordReset, emailVerification, accountDeletion, providers, identities, mfa, passkeys, apis,
    });
    const federation = {
      providers, identities, sealer: secretBox, logger,
      upstream: createUpstreamSignIn({ allowPrivateNetworkFetch: config.allowPrivateNetworkFetch }),
    };
    const app = createApp({
      config, logger, provider, cookieSecrets, views, accounts, documents, pages, findAccount, verifier, sessions, dpopReplayCache,
      devices: repositories.sessionDevices,
      audit,
      admin,
      emailVerification, profile, accountDeletion,
      readiness: repositories.readiness,
      metrics,
      csrf: createCsrf(cookieSecrets),
      throttle: createLoginThrottle(repositories.loginThrottle, undefined, metrics),
      passwordReset,
      federation,
      secondFactor: { mfa, passkeys, policy: config.mfa.policy, idpOf: (sessionUid, authTime) => repositories.sessionDevices.idpOf(sessionUid, authTime) },
    });
    const handler = createHttpHandler({ app, documents, logger, https: config.issuer.startsWith('https:'), metrics });

    const keyWatcher = options.watchKeys === false ? undefined : watchSigningKeys(config.keysDir, keys, (next) => {
      replaceProviderKeys(provider, next.privateJwks);
      documents.replaceJwks(next.publicJwks);
      currentVerifiers = verifiersFor(next.publicJwks);
      keys = next;
    }, logger);
    const janitor = options.janitor === false ? undefined : startJanitor(repositories, logger, {
      ...JANITOR_DEFAULTS,
      auditRetentionDays: config.auditRetentionDays,
      // Sessions in Redis cannot be joined against: device records go when no session can still be using them.
      ...(redis ? { deviceRetentionSeconds: config.ttl.session } : {}),
      ...options.janitor,
    }, metrics);
    return {
      config, database, repositories, accounts, clients, sessions, audit, provider, admin, app, handler, migrated, janitor, metrics,
      mailer, accountLinks, passwordReset, emailVerification, accountDeletion, providers, mfa, passkeys, apis,
      get keys() {
        return keys;
      },
      async close() {
        keyWatcher?.stop();
        await janitor?.stop();
        await passwordReset.idle();
        await mailer.close();
        await invalidation?.close();
        await redis?.close().catch(() => {});
        await database.close();
      },
    };
  } catch (err) {
    await invalidation?.close();
    await redis?.close().catch(() => {});
    await database.close().catch(() => {});
    throw err;
  }
}
