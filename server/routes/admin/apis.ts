// /admin/v1/apis: the APIs (resource servers) clients ask tokens for with
// `resource` (RFC 8707; issue 17, services/apis.ts, docs/apis.md). Operators only.
import { z } from 'zod';
import type { Audit } from '../../services/audit.ts';
import { API_SIGNING_ALGS, type ApiService } from '../../services/apis.ts';
import { recordChange, requireOperator } from './caller.ts';
import { route, type AdminRoute } from './route.ts';
import { fieldNames } from './field-names.ts';

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

/** The service's names → the API's. */
const { toService, withApiNames } = fieldNames({ accessTokenTtl: 'access_token_ttl', signingAlg: 'signing_alg', requireDpop: 'require_dpop', jwksUri: 'jwks_uri' });

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
