// The Koa application, in the order a request meets it (its URLs pinned to
// the issuer's origin first: middleware/issuer-origin.ts):
//   request log → no-store's Pragma → errors → security headers → document capture
//   → <issuer path>/assets       the stylesheet and the theme's assets
//   → /healthz, /readyz          liveness and readiness
//   → /interaction               form body → login, sign-up, consent (routes/interaction/)
//   → /account/{forgot,reset}-password  forgotten password (routes/password-reset.ts)
//   → /account/verify-email      form body → the verification link's pages (routes/email-verification.ts)
//   → /account                   form body → profile forms, account deletion (routes/account-profile.ts)
//   → /account                   form body → second factors and passkeys (routes/account-mfa.ts)
//   → /account                   form body → the account page (routes/account.ts)
//   → POST /auth                 an authorization request by POST → 303 to the same by GET
//   → /me                        form body (POST) → userinfo for our API's tokens (routes/userinfo.ts)
//   → /admin/v1                  the admin API (its own guard and JSON body: routes/admin/)
//   → oidc-provider              everything else, with its own body parsing.
// Each part is a sub-app mounted at its path (koa-mount), entered only below
// it, with ctx.path relative to it; koa-mount runs it on this app's context
// (keys, proxy setting, state). The token endpoint, the hottest route, meets
// nothing but prefix checks on its way to the provider. (JWKS and discovery, once held, never reach
// this app: see http-handler.ts.)
import Koa from 'koa';
import mount from 'koa-mount';
import compose from 'koa-compose';
import { bodyParser } from '@koa/bodyparser';
import type Provider from 'oidc-provider';
import type { FindAccount } from 'oidc-provider';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import type { Metrics } from './metrics.ts';
import { koaErrorHandler } from './middleware/koa-error-handler.ts';
import { koaRequestLog } from './middleware/koa-request-log.ts';
import { koaSecurityHeaders } from './middleware/koa-security-headers.ts';
import { koaAuthorizationPost } from './middleware/koa-authorization-post.ts';
import { koaNoCachePragma } from './middleware/koa-no-cache-pragma.ts';
import { pinRequestOrigin } from './middleware/issuer-origin.ts';
import { readableBody } from './middleware/koa-readable-body.ts';
import type { PrecomputedDocuments } from './precomputed-documents.ts';
import { healthRoutes, type ReadinessChecks } from './routes/health.ts';
import { interactionRoutes } from './routes/interaction/index.ts';
import type { FederationDependencies } from './routes/interaction/federated.ts';
import type { SecondFactorDependencies } from './routes/interaction/second-factor.ts';
import { userinfoRoutes } from './routes/userinfo.ts';
import { userinfoJwt } from './oidc/userinfo-response.ts';
import type { ReplayCache } from './resource-server/dpop.ts';
import { accountRoutes } from './routes/account.ts';
import { accountIdentityRoutes } from './routes/account-identities.ts';
import { passwordResetRoutes } from './routes/password-reset.ts';
import type { PasswordReset } from './services/password-reset.ts';
import { EMAIL_VERIFICATION_PATH, emailVerificationRoutes } from './routes/email-verification.ts';
import { accountProfileRoutes } from './routes/account-profile.ts';
import { accountMfaRoutes } from './routes/account-mfa.ts';
import type { AdminApi } from './routes/admin/index.ts';
import { ADMIN_API_PATH } from './routes/admin/openapi.ts';
import { basePath } from './oidc/configuration.ts';
import type { SessionDevices } from './services/devices.ts';
import type { AccessTokenVerifier } from './services/access-tokens.ts';
import type { AccountService } from './services/accounts.ts';
import type { Audit } from './services/audit.ts';
import type { Csrf } from './services/csrf.ts';
import type { EmailVerification } from './services/email-verification.ts';
import type { LoginThrottle } from './services/login-throttle.ts';
import type { SessionService } from './services/sessions.ts';
import type { Profile } from './services/profile.ts';
import type { AccountDeletion } from './services/account-deletion.ts';
import type { Pages } from './views/pages.ts';
import type { Views } from './views/views.ts';

export interface AppDependencies {
  config: Config;
  /** Used DPoP proofs, shared with the admin API (and through Redis with other instances, when configured). */
  dpopReplayCache: ReplayCache;
  logger: Logger;
  provider: Provider;
  cookieSecrets: string[];
  views: Views;
  accounts: AccountService;
  /** /readyz's check of each dependency. */
  readiness: ReadinessChecks;
  /** Counts every request by route and status. */
  metrics?: Metrics;
  documents: PrecomputedDocuments;
  pages: Pages;
  csrf: Csrf;
  throttle: LoginThrottle;
  verifier: AccessTokenVerifier;
  findAccount: FindAccount;
  sessions: SessionService;
  devices: SessionDevices;
  audit: Audit;
  /** The admin API's handler, mounted at /admin/v1. */
  admin: AdminApi;
  /** Forgotten password (routes/password-reset.ts). */
  passwordReset: PasswordReset;
  /** Verification links: sent at sign-up and on demand, confirmed at /account/verify-email. */
  emailVerification: EmailVerification;
  /** The account page's profile forms and account deletion (routes/account-profile.ts). */
  profile: Profile;
  accountDeletion: AccountDeletion;
  /** Social login: providers, the upstream round trip, linked identities (routes/interaction/federated.ts). */
  federation: FederationDependencies;
  /** Second factors and passkeys: the sign-in's step (routes/interaction/second-factor.ts), the account page's section (routes/account-mfa.ts). */
  secondFactor: SecondFactorDependencies;
}

export function createApp(deps: AppDependencies): Koa {
  const { config, logger, provider, pages } = deps;
  const prefix = basePath(config);
  // Behind a proxy, only the address it appended counts: the left of
  // X-Forwarded-For is whatever the client wrote (throttling keys on ctx.ip).
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
  // koa-mount runs oidc-provider (and every sub-app) on this app's context, so its signed cookies use these keys.
  app.keys = deps.cookieSecrets;
  // Koa would print errors to stderr itself; ours are logged once, by koa-error-handler.
  app.silent = true;
  // Every URL we or oidc-provider build names ISSUER, whatever host the request named.
  pinRequestOrigin(app.request, config.issuer);

  app.use(koaRequestLog(logger, deps.metrics));
  // Outside the error handler: it sees the final headers, error pages' included.
  app.use(koaNoCachePragma());
  app.use(koaErrorHandler(logger, (ctx, err) => pages.error(ctx, err.error, err.status)));
  app.use(koaSecurityHeaders({ https: config.issuer.startsWith('https:') }));
  if (config.issuer.startsWith('https:')) {
    // The public URL is https, so browsers reach us over TLS whatever the
    // last hop is: every cookie is Secure, also behind a TLS-terminating
    // proxy that TRUST_PROXY does not (yet) describe.
    app.use((ctx, next) => {
      ctx.cookies.secure = true;
      return next();
    });
  }
  app.use(deps.documents.capture);

  app.use(mount(`${prefix}/assets`, serveAssets(deps.views)));

  // Two exact paths: every other request skips the router's matching.
  app.use(onlyAt([`${prefix}/healthz`, `${prefix}/readyz`], healthRoutes({ checks: deps.readiness, prefix }).routes()));

  const interaction = interactionRoutes({
    provider, accounts: deps.accounts, throttle: deps.throttle, csrf: deps.csrf, pages, prefix, signupEnabled: config.signupEnabled, rememberMeDefault: config.rememberMeDefault, audit: deps.audit, sessions: deps.sessions,
    emailVerification: deps.emailVerification, requireVerifiedEmail: config.requireVerifiedEmail, federation: deps.federation,
    secondFactor: deps.secondFactor,
  });
  app.use(mount(`${prefix}/interaction`, compose([formBody(), interaction.routes(), interaction.allowedMethods()])));

  app.use(mount(`${prefix}/account`, passwordResetRoutes({ reset: deps.passwordReset, csrf: deps.csrf, pages, prefix, formBody: formBody() }).routes()));
  const emailVerification = emailVerificationRoutes({
    provider, accounts: deps.accounts, csrf: deps.csrf, pages, prefix, issuer: config.issuer, audit: deps.audit, emailVerification: deps.emailVerification,
  });
  app.use(mount(`${prefix}${EMAIL_VERIFICATION_PATH}`, compose([formBody(), emailVerification.routes(), emailVerification.allowedMethods()])));

  app.use(mount(`${prefix}/account`, compose([formBody(), accountProfileRoutes({ provider, accounts: deps.accounts, csrf: deps.csrf, pages, prefix, issuer: config.issuer, profile: deps.profile, deletion: deps.accountDeletion }).routes()])));
  const account = accountRoutes({
    provider, accounts: deps.accounts, sessions: deps.sessions, devices: deps.devices, csrf: deps.csrf, pages, prefix, issuer: config.issuer, audit: deps.audit, profile: deps.profile,
    emailVerificationAvailable: deps.emailVerification.available, federation: deps.federation, mfa: deps.secondFactor.mfa, passkeys: deps.secondFactor.passkeys,
  });
  app.use(mount(`${prefix}/account`, compose([formBody(), accountMfaRoutes({
    provider, accounts: deps.accounts, csrf: deps.csrf, pages, prefix, issuer: config.issuer, mfa: deps.secondFactor.mfa, passkeys: deps.secondFactor.passkeys, audit: deps.audit,
  }).routes()])));
  app.use(mount(`${prefix}/account`, compose([formBody(), accountIdentityRoutes({
    provider, accounts: deps.accounts, csrf: deps.csrf, pages, prefix, issuer: config.issuer, federation: deps.federation,
  }).routes()])));
  app.use(mount(`${prefix}/account`, compose([formBody(), account.routes(), account.allowedMethods()])));

  app.use(koaAuthorizationPost(`${prefix}/auth`, formBody()));

  const userinfo = userinfoRoutes({
    issuer: config.issuer, verifier: deps.verifier, findAccount: deps.findAccount, dpop: { replayCache: deps.dpopReplayCache }, userinfoJwt: userinfoJwt(provider),
  });
  app.use(mount(`${prefix}/me`, compose([postOnly(formBody()), userinfo.routes()])));

  app.use(mount(`${prefix}${ADMIN_API_PATH}`, deps.admin.middleware));

  app.use(mount(prefix || '/', provider as unknown as Koa));
  return app;
}

/** Enters `middleware` for these exact paths only. */
function onlyAt<State, Context>(paths: string[], middleware: Koa.Middleware<State, Context>): Koa.Middleware<State, Context> {
  const set = new Set(paths);
  return (ctx, next) => (set.has(ctx.path) ? middleware(ctx, next) : next());
}

/**
 * Our own form posts, parsed for the sub-app that takes them (oidc-provider
 * parses its own endpoints' bodies). 64 KiB is far above any honest form and
 * far below a denial of service.
 */
function formBody(): Koa.Middleware {
  return readableBody(bodyParser({ enableTypes: ['form'], formLimit: '64kb', encoding: 'utf-8' }));
}

function postOnly(middleware: Koa.Middleware): Koa.Middleware {
  return (ctx, next) => (ctx.method === 'POST' ? middleware(ctx, next) : next());
}

/** Mounted at <issuer path>/assets: files held in memory since start (views/theme.ts), by exact path. */
function serveAssets(views: Views): Koa.Middleware {
  return async (ctx, next) => {
    const asset = views.assets.get(ctx.path);
    if (!asset) return next();
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.set('ETag', asset.etag);
    ctx.type = asset.contentType;
    ctx.status = 200;
    if (ctx.fresh) ctx.status = 304;
    else ctx.body = asset.body;
  };
}
