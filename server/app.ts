// The Koa application, composed in one visible order:
// request log → errors → security headers → document capture → our routes (pages, /me, /admin/v1) → oidc-provider.
// (JWKS and discovery, once held, never reach it: see http-handler.ts.)
import Koa from 'koa';
import mount from 'koa-mount';
import { bodyParser } from '@koa/bodyparser';
import type Provider from 'oidc-provider';
import type { Config } from './config.ts';
import type { Logger } from './logger.ts';
import { koaErrorHandler } from './middleware/koa-error-handler.ts';
import { koaRequestLog } from './middleware/koa-request-log.ts';
import { koaSecurityHeaders } from './middleware/koa-security-headers.ts';
import { koaAuthorizationPost } from './middleware/koa-authorization-post.ts';
import { readableBody } from './middleware/koa-readable-body.ts';
import type { PrecomputedDocuments } from './precomputed-documents.ts';
import { healthRoutes } from './routes/health.ts';
import { interactionRoutes } from './routes/interaction/index.ts';
import { userinfoRoutes } from './routes/userinfo.ts';
import type { Pages } from './routes/pages.ts';
import type { Csrf } from './services/csrf.ts';
import type { LoginThrottle } from './services/login-throttle.ts';
import type { AccessTokenVerifier } from './services/access-tokens.ts';
import type { FindAccount } from 'oidc-provider';
import type { SessionService } from './services/sessions.ts';
import type { Audit } from './services/audit.ts';
import type { SessionDeviceRepository } from './repositories/session-device-repository.ts';
import { accountRoutes } from './routes/account.ts';
import type { AdminApi } from './routes/admin/index.ts';
import { ADMIN_API_PATH } from './routes/admin/openapi.ts';
import { basePath } from './oidc/configuration.ts';
import type { AccountService } from './services/accounts.ts';
import type { Views } from './views.ts';

export interface AppDependencies {
  config: Config;
  logger: Logger;
  provider: Provider;
  cookieSecrets: string[];
  views: Views;
  accounts: AccountService;
  ping: () => Promise<void>;
  documents: PrecomputedDocuments;
  pages: Pages;
  csrf: Csrf;
  throttle: LoginThrottle;
  verifier: AccessTokenVerifier;
  findAccount: FindAccount;
  sessions: SessionService;
  devices: SessionDeviceRepository;
  audit: Audit;
  /** The admin API's handler, entered for paths below /admin/v1 only. */
  admin: AdminApi;
}

export function createApp(deps: AppDependencies): Koa {
  const { config, logger, provider, views } = deps;
  const prefix = basePath(config);
  // Behind a proxy, only the address it appended counts: the left of
  // X-Forwarded-For is whatever the client wrote (throttling keys on ctx.ip).
  const app = new Koa({ proxy: config.trustProxy, maxIpsCount: 1 });
  // koa-mount runs oidc-provider on this app's context, so its signed cookies use these keys.
  app.keys = deps.cookieSecrets;
  // Koa would print errors to stderr itself; ours are logged once, by koa-error-handler.
  app.silent = true;

  app.use(koaRequestLog(logger));
  app.use(koaErrorHandler(logger, (ctx, err) => deps.pages.error(ctx, err.error, err.status)));
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

  app.use(async (ctx, next) => {
    if (ctx.path !== `${prefix}/assets/tollgate.css`) return next();
    ctx.set('Cache-Control', 'public, max-age=86400');
    ctx.set('ETag', views.stylesheet.etag);
    ctx.type = 'text/css; charset=utf-8';
    ctx.status = 200;
    if (ctx.fresh) ctx.status = 304;
    else ctx.body = views.stylesheet.body;
  });

  // Routers are entered only for their own paths: the token endpoint, the
  // hottest route, should not pay for matching every route table first.
  const health = healthRoutes({ ping: deps.ping, prefix });
  app.use(onlyFor((path) => path === `${prefix}/healthz` || path === `${prefix}/readyz`, health.routes()));

  const interaction = interactionRoutes({
    provider, accounts: deps.accounts, throttle: deps.throttle, csrf: deps.csrf, pages: deps.pages, prefix, signupEnabled: config.signupEnabled, audit: deps.audit,
    sessions: deps.sessions,
  });
  // Only our form posts are parsed here; oidc-provider parses its own endpoints' bodies.
  // 64 KiB is far above any honest login form and far below a denial of service.
  const formParser = readableBody(bodyParser({ enableTypes: ['form'], formLimit: '64kb', encoding: 'utf-8' }));
  const underInteraction = (path: string) => path.startsWith(`${prefix}/interaction/`);
  const underAccount = (path: string) => path === `${prefix}/account` || path.startsWith(`${prefix}/account/`);
  app.use(onlyFor(underAccount, formParser));
  const account = accountRoutes({
    provider, accounts: deps.accounts, sessions: deps.sessions, devices: deps.devices, csrf: deps.csrf, pages: deps.pages, prefix, issuer: config.issuer, audit: deps.audit,
  });
  app.use(onlyFor(underAccount, account.routes()));
  app.use(onlyFor(underAccount, account.allowedMethods()));
  app.use(onlyFor(underInteraction, formParser));
  app.use(onlyFor((path) => path === `${prefix}/auth`, async (ctx, next) => (ctx.method === 'POST' ? formParser(ctx, next) : next())));
  app.use(koaAuthorizationPost(`${prefix}/auth`));
  app.use(onlyFor(underInteraction, interaction.routes()));
  app.use(onlyFor(underInteraction, interaction.allowedMethods()));
  app.use(onlyFor((path) => path === `${prefix}/me`, async (ctx, next) => (ctx.method === 'POST' ? formParser(ctx, next) : next())));
  app.use(onlyFor((path) => path === `${prefix}/me`, userinfoRoutes({ prefix, issuer: config.issuer, verifier: deps.verifier, findAccount: deps.findAccount }).routes()));

  const underAdmin = (path: string) => path === `${prefix}${ADMIN_API_PATH}` || path.startsWith(`${prefix}${ADMIN_API_PATH}/`);
  app.use(onlyFor(underAdmin, deps.admin.middleware));

  app.use(prefix ? mount(prefix, provider as unknown as Koa) : mount(provider as unknown as Koa));
  return app;
}

function onlyFor<State, Context>(matches: (path: string) => boolean, middleware: Koa.Middleware<State, Context>): Koa.Middleware<State, Context> {
  return (ctx, next) => (matches(ctx.path) ? middleware(ctx, next) : next());
}
