// The admin API (/admin/v1), JSON in and out, protected by Tollgate's own
// access tokens with the resource-server toolkit, as any API of our users is:
//   guard (401 invalid_token) → requireScope('admin') (403 insufficient_scope)
//   → errors as JSON → body → router.
// Every path below /admin/v1 passes the guard first, so an unknown route
// answers 401 to a stranger, not 404: the route table is not public. Only
// the OpenAPI document is.
import type { ReplayCache } from '../../resource-server/dpop.ts';
import Router from '@koa/router';
import compose from 'koa-compose';
import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';
import { ZodError } from 'zod';
import { errorBody, NotFoundError, TollgateError, ValidationError } from '../../errors.ts';
import { authOf, BearerError, requireAccessToken, requireScope, type AccessTokenVerifier } from '../../resource-server/index.ts';
import type { AccountService } from '../../services/accounts.ts';
import type { Audit } from '../../services/audit.ts';
import type { ClientService } from '../../services/clients.ts';
import type { SessionService } from '../../services/sessions.ts';
import type { PasswordReset } from '../../services/password-reset.ts';
import type { EmailVerification } from '../../services/email-verification.ts';
import type { AccountDeletion } from '../../services/account-deletion.ts';
import { auditRoutes } from './audit.ts';
import { providerRoutes } from './providers.ts';
import { apiRoutes } from './apis.ts';
import type { ApiService } from '../../services/apis.ts';
import type { ProviderService } from '../../federation/providers.ts';
import type { Identities } from '../../federation/identities.ts';
import type { MfaService } from '../../mfa/mfa.ts';
import type { Passkeys } from '../../mfa/passkeys.ts';
import { clientRoutes } from './clients.ts';
import { openApiDocument } from './openapi.ts';
import type { AdminContext, AdminRoute, AdminState } from './route.ts';
import { userRoutes } from './users.ts';
import { readableBody } from '../../middleware/koa-readable-body.ts';

export interface AdminApiDependencies {
  issuer: string;
  /** Used DPoP proofs (shared with userinfo, and through Redis with other instances). */
  dpopReplayCache?: ReplayCache;
  /** Verifies tokens of any of Tollgate's audiences; the chain then requires `adminAudience`. */
  verifier: AccessTokenVerifier;
  /** The admin API's own resource indicator: its tokens are good here only. */
  adminAudience: string;
  accounts: AccountService;
  clients: ClientService;
  sessions: SessionService;
  audit: Audit;
  passwordReset: PasswordReset;
  /** Sends verification links (POST /users/{id}/verification-email). */
  emailVerification: EmailVerification;
  accountDeletion: AccountDeletion;
  /** Upstream identity providers (server/federation/). */
  providers: ProviderService;
  /** People's linked identities at those providers (GET/DELETE /users/{id}/identities). */
  identities: Pick<Identities, 'list' | 'unlink'>;
  /** Second factors and passkeys (GET/DELETE /users/{id}/mfa: the operator's view and reset). */
  mfa: Pick<MfaService, 'factorsOf' | 'resetFactors'>;
  passkeys: Pick<Passkeys, 'list' | 'removeAll'>;
  /** APIs (resource servers) registered as data. */
  apis: ApiService;
}

export interface AdminApi {
  /** Handles every request below /admin/v1: mount it there (paths relative to it). */
  middleware: Middleware;
  routes: AdminRoute[];
  router: Router;
  document: Record<string, unknown>;
}

export function adminApi(deps: AdminApiDependencies): AdminApi {
  const routes = [
    ...clientRoutes({ clients: deps.clients, audit: deps.audit }),
    ...userRoutes({ accounts: deps.accounts, sessions: deps.sessions, audit: deps.audit, passwordReset: deps.passwordReset, emailVerification: deps.emailVerification, accountDeletion: deps.accountDeletion, identities: deps.identities, mfa: deps.mfa, passkeys: deps.passkeys }),
    ...auditRoutes({ audit: deps.audit }),
    ...providerRoutes({ providers: deps.providers, audit: deps.audit }),
    ...apiRoutes({ apis: deps.apis, audit: deps.audit }),
  ];
  const document = openApiDocument({ issuer: deps.issuer, routes });
  const documentBody = JSON.stringify(document);

  // Mounted at <issuer path>/admin/v1 (app.ts): paths here are relative to it.
  const router = new Router();
  for (const r of routes) {
    router[r.method](r.path, async (ctx) => {
      const c = ctx as unknown as AdminContext;
      if (r.body && ctx.request.type && !ctx.is('application/json')) {
        throw new TollgateError('unsupported_media_type', 'the request body must be application/json', 415);
      }
      const query = r.query ? parseIn('query', r.query, ctx.query) : undefined;
      const body = r.body ? parseIn('body', r.body, ctx.request.body ?? {}) : undefined;
      await r.handle(c, { query, body });
    });
  }

  const chain = compose([
    // DPoP proofs name the issuer's origin (htu), never the request's Host header.
    requireAccessToken({ verifier: deps.verifier, realm: deps.issuer, dpop: { origin: new URL(deps.issuer).origin, replayCache: deps.dpopReplayCache } }) as Middleware,
    requireScope('admin') as Middleware,
    requireAudience(deps.adminAudience),
    stillAdministrator(deps.accounts, deps.clients),
    apiErrors,
    jsonBody,
    router.routes() as Middleware,
    router.allowedMethods() as Middleware,
    // The end of the line: nothing below /admin/v1 reaches oidc-provider.
    async () => {},
  ]);

  return {
    routes,
    router,
    document,
    middleware: async (ctx, next) => {
      ctx.set('Cache-Control', 'no-store');
      if (ctx.path === '/openapi.json' && (ctx.method === 'GET' || ctx.method === 'HEAD')) {
        ctx.type = 'application/json';
        ctx.body = documentBody;
        return;
      }
      await chain(ctx, next);
      if (ctx.status === 404 && ctx.body === undefined) {
        // Not redundant: Koa's 404 is only a default until named, and a body set without naming it answers 200.
        ctx.status = 404;
        ctx.body = errorBody(new NotFoundError('no such admin API route'));
      } else if (ctx.status === 405) {
        // allowedMethods has set Allow; the body says it as JSON, like every other answer here.
        ctx.body = { error: 'method_not_allowed', error_description: `${ctx.method} is not allowed here; see the Allow header` };
      }
    },
  };
}

/** Parses one part of the request; a failure remembers which part, for errors that name no field (an unknown query key). */
function parseIn<T>(where: 'query' | 'body', schema: { parse(value: unknown): T }, value: unknown): T {
  try {
    return schema.parse(value);
  } catch (err) {
    if (err instanceof ZodError) Object.assign(err, { where });
    throw err;
  }
}


/**
 * The admin API is a resource of its own (RFC 8707): a token issued for
 * another API, even one carrying `admin` (an organisation's API may use that
 * scope), is not accepted here, so that API cannot replay what it receives.
 * Checked after the scope, so a token without `admin` still gets 403.
 */
function requireAudience(audience: string): Middleware {
  return async (ctx, next) => {
    const { aud } = authOf(ctx as unknown as AdminContext).claims;
    if (!(Array.isArray(aud) ? aud : [aud]).includes(audience)) {
      throw new BearerError('invalid_token', `this token is for another API; ask for one with resource=${audience}`);
    }
    await next();
  };
}

/**
 * A token says what was true when it was issued; the admin API checks the
 * caller as it is now, so that a change takes effect at once, not when the
 * token expires: a person must still be an active administrator (and their
 * organisation is the one they belong to now, not the one in the token); a
 * machine's client must still exist, be confidential and be registered for
 * the admin scope.
 */
function stillAdministrator(accounts: AccountService, clients: ClientService): Middleware {
  return async (ctx, next) => {
    const { claims } = authOf(ctx as unknown as AdminContext);
    if (claims.roles !== undefined) {
      const account = await accounts.findActive(claims.sub);
      if (!account) throw new BearerError('invalid_token', 'the account behind this token is no longer active');
      if (!account.roles.includes('admin')) throw new BearerError('insufficient_scope', 'the account behind this token is no longer an administrator');
      (ctx.state as AdminState).organisation = account.organisation ?? undefined;
    } else {
      // Only "no such client" means the token is done; a database outage must stay a 503, not become a 401.
      const client = await clients.get(claims.client_id).catch((err: unknown) => {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      });
      const registered = new Set(String(client?.scope ?? '').split(' '));
      if (!client || client.token_endpoint_auth_method === 'none' || !registered.has('admin')) {
        throw new BearerError('invalid_token', 'the client behind this token is no longer an administrator');
      }
    }
    await next();
  };
}

/** Validation errors name each bad field; our error types keep their status; everything else is the general handler's (500). */
const apiErrors: Middleware = async (ctx, next) => {
  try {
    await next();
  } catch (err) {
    if (err instanceof ZodError) {
      const fields = Object.fromEntries(err.issues.map((i) => [i.path.length ? i.path.join('.') : `(${(err as ZodError & { where?: string }).where ?? 'body'})`, i.message]));
      const [first] = Object.entries(fields);
      err = new ValidationError(first ? `${first[0]}: ${first[1]}` : 'invalid input', fields);
    }
    if (!(err instanceof TollgateError) || !err.expose) throw err;
    ctx.status = err.status;
    ctx.body = { ...errorBody(err), ...(err instanceof ValidationError && err.fields ? { fields: err.fields } : {}) };
  }
};

/** JSON bodies up to 64 KiB; a body that is not JSON is a 400, not a 500. */
const jsonBody = readableBody(bodyParser({ enableTypes: ['json'], jsonLimit: '64kb', encoding: 'utf-8' }));
