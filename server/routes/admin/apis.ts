// /admin/v1/apis: the APIs (resource servers) clients ask tokens for with
// `resource` (RFC 8707; issue 17, services/apis.ts, docs/apis.md). Operators only.
import { z, ZodError } from 'zod';
import { ValidationError } from '../../errors.ts';
import type { Audit } from '../../services/audit.ts';
import { API_SIGNING_ALGS, type ApiService } from '../../services/apis.ts';
import { recordChange, requireOperator } from './caller.ts';
import { route, type AdminRoute } from './route.ts';

const jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())) }).loose();
const fields = {
  identifier: z.string().describe('the resource indicator (RFC 8707) and the tokens\' `aud`: an absolute https URI (http://localhost outside production)'),
  name: z.string(),
  scopes: z.array(z.string()).describe('RFC 6749 scope tokens; a client gets them only when its own `scope` lists them'),
  access_token_ttl: z.number().nullable().optional().describe('seconds, 60 to 86400; null: ACCESS_TOKEN_TTL'),
  signing_alg: z.enum(API_SIGNING_ALGS).optional().describe('default ES256'),
  require_dpop: z.boolean().optional(),
  encrypt: z.boolean().optional().describe('encrypt its access tokens to its public key (jwks or jwks_uri)'),
  jwks: jwks.nullable().optional().describe('its public encryption keys'),
  jwks_uri: z.string().nullable().optional(),
};
const apiCreation = z.strictObject(fields);
const apiChange = z.strictObject({ ...fields, identifier: fields.identifier.optional(), name: fields.name.optional(), scopes: fields.scopes.optional() });

/** The API's names → the service's. */
const SERVICE_NAME: Record<string, string> = {
  access_token_ttl: 'accessTokenTtl', signing_alg: 'signingAlg', require_dpop: 'requireDpop', jwks_uri: 'jwksUri',
};
const API_NAME = Object.fromEntries(Object.entries(SERVICE_NAME).map(([api, service]) => [service, api]));
const toService = (body: Record<string, unknown>) => Object.fromEntries(Object.entries(body).map(([key, value]) => [SERVICE_NAME[key] ?? key, value]));

/** Runs a service call, reporting each bad field by the name the caller sent. */
async function withApiNames<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const api = (field: string) => API_NAME[field] ?? field;
    if (err instanceof ZodError) throw new ZodError(err.issues.map((issue) => ({ ...issue, path: [api(String(issue.path[0])), ...issue.path.slice(1)] })));
    if (err instanceof ValidationError && err.fields) {
      const named = Object.fromEntries(Object.entries(err.fields).map(([field, problem]) => [api(field), problem]));
      const [first] = Object.entries(named);
      throw new ValidationError(first ? `${first[0]}: ${first[1]}` : err.message, named);
    }
    throw err;
  }
}

const API_SCHEMA = {
  type: 'object',
  description: 'An API (resource server) clients may ask tokens for with `resource`.',
  required: ['id', 'identifier', 'name', 'scopes', 'access_token_ttl', 'signing_alg', 'require_dpop', 'encrypt', 'jwks', 'jwks_uri', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string', format: 'uuid' },
    identifier: { type: 'string', format: 'uri' },
    name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    access_token_ttl: { anyOf: [{ type: 'integer' }, { type: 'null' }] },
    signing_alg: { enum: [...API_SIGNING_ALGS] },
    require_dpop: { type: 'boolean' },
    encrypt: { type: 'boolean' },
    jwks: { anyOf: [{ type: 'object' }, { type: 'null' }] },
    jwks_uri: { anyOf: [{ type: 'string', format: 'uri' }, { type: 'null' }] },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
};

export function apiRoutes(deps: { apis: ApiService; audit: Audit }): AdminRoute[] {
  return [
    route({
      method: 'get', path: '/apis', tag: 'apis', summary: 'List registered APIs',
      responses: { 200: { description: 'Every API, by identifier', schema: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: API_SCHEMA } } } } },
      async handle(ctx) {
        requireOperator(ctx);
        ctx.body = { items: await deps.apis.list() };
      },
    }),
    route({
      method: 'post', path: '/apis', tag: 'apis', summary: 'Register an API (resource server)',
      body: apiCreation,
      responses: {
        201: { description: 'Registered', schema: API_SCHEMA },
        409: { description: 'The identifier is taken', schema: 'Error' },
      },
      async handle(ctx, { body }) {
        requireOperator(ctx);
        const created = await withApiNames(() => deps.apis.add(toService(body) as Parameters<ApiService['add']>[0]));
        await recordChange(deps.audit, ctx, 'admin.api.created', { details: { api_id: created.id, after: created } });
        ctx.status = 201;
        ctx.set('Location', `${ctx.originalUrl.split('?')[0]}/${encodeURIComponent(created.id)}`);
        ctx.body = created;
      },
    }),
    route({
      method: 'get', path: '/apis/:id', tag: 'apis', summary: 'Read an API',
      responses: { 200: { description: 'The API', schema: API_SCHEMA } },
      async handle(ctx) {
        requireOperator(ctx);
        ctx.body = await deps.apis.get(ctx.params.id!);
      },
    }),
    route({
      method: 'patch', path: '/apis/:id', tag: 'apis', summary: 'Change an API: identifier, name, scopes, lifetime, algorithm, DPoP, encryption',
      body: apiChange,
      responses: { 200: { description: 'Changed', schema: API_SCHEMA }, 409: { description: 'The new identifier is taken', schema: 'Error' } },
      async handle(ctx, { body }) {
        requireOperator(ctx);
        const { before, after } = await withApiNames(() => deps.apis.update(ctx.params.id!, toService(body)));
        await recordChange(deps.audit, ctx, 'admin.api.updated', { details: { api_id: after.id, before, after } });
        ctx.body = after;
      },
    }),
    route({
      method: 'delete', path: '/apis/:id', tag: 'apis', summary: 'Remove an API: new tokens for it are refused (invalid_target); issued ones run until they expire',
      responses: { 204: { description: 'Removed' } },
      async handle(ctx) {
        requireOperator(ctx);
        const removed = await deps.apis.remove(ctx.params.id!);
        await recordChange(deps.audit, ctx, 'admin.api.deleted', { details: { api_id: removed.id, before: removed } });
        ctx.status = 204;
      },
    }),
  ];
}
