// /admin/v1/providers: the upstream identity providers people sign in with
// (issue 15; server/federation/). Operators only. A provider's client secret
// is write-only: taken at creation and by PATCH (rotation at the upstream),
// never answered, never in the audit trail.
import { z } from 'zod';
import type { Audit } from '../../services/audit.ts';
import type { ProviderService, ProviderView } from '../../federation/providers.ts';
import { PROVIDER_TYPES } from '../../federation/presets.ts';
import { recordChange, requireOperator } from './caller.ts';
import { route, type AdminRoute } from './route.ts';
import { fieldNames } from './field-names.ts';

const providerCreation = z.strictObject({
  id: z.string().describe('1 to 40 lower-case letters, digits or dashes; part of the redirect URI'),
  type: z.enum(PROVIDER_TYPES).describe('oidc: any OpenID Connect issuer; google, kakao (OpenID Connect) and github, naver (OAuth 2.0) are presets'),
  name: z.string().optional().describe("the button's label; default: the preset's name, or the id"),
  issuer: z.string().optional().describe("required for oidc; google and kakao have their preset's; github and naver have none"),
  client_id: z.string(),
  client_secret: z.string().describe('stored encrypted; never answered'),
  scope: z.string().optional().describe("default: the preset's"),
  auto_create: z.boolean().optional().describe('an unknown identity whose e-mail matches no account creates one (default true)'),
  enabled: z.boolean().optional(),
  authorization_endpoint: z.string().optional(),
  token_endpoint: z.string().optional(),
  userinfo_endpoint: z.string().optional(),
  jwks_uri: z.string().optional(),
});

const providerChange = z.strictObject({
  name: z.string().optional(),
  scope: z.string().optional(),
  enabled: z.boolean().optional().describe('false: no sign-in through it, linked identities kept'),
  auto_create: z.boolean().optional(),
  client_secret: z.string().optional().describe('a new secret, after rotating it at the upstream'),
});

const removal = z.strictObject({
  unlink_identities: z.enum(['true', 'false']).optional()
    .describe('true: remove it even though identities are linked to it, unlinking them (people who signed in only through it then need a password reset)'),
});

/** The service's field names → the API's. */
const { toService, withApiNames } = fieldNames({
  clientId: 'client_id', clientSecret: 'client_secret', autoCreate: 'auto_create', authorizationEndpoint: 'authorization_endpoint',
  tokenEndpoint: 'token_endpoint', userinfoEndpoint: 'userinfo_endpoint', jwksUri: 'jwks_uri',
});

const url = { type: 'string', format: 'uri' };
const nullableUrl = { anyOf: [url, { type: 'null' }] };
const PROVIDER_SCHEMA = {
  type: 'object',
  description: 'An upstream identity provider. Never its client secret.',
  required: ['id', 'type', 'protocol', 'name', 'issuer', 'client_id', 'scope', 'auto_create', 'enabled', 'redirect_uri', 'created_at', 'updated_at'],
  properties: {
    id: { type: 'string' },
    type: { enum: [...PROVIDER_TYPES] },
    protocol: { enum: ['oidc', 'oauth2'] },
    name: { type: 'string' },
    issuer: nullableUrl,
    client_id: { type: 'string' },
    scope: { type: 'string' },
    authorization_endpoint: { ...nullableUrl, description: 'null: from the issuer\'s discovery document' },
    token_endpoint: nullableUrl,
    userinfo_endpoint: nullableUrl,
    jwks_uri: nullableUrl,
    auto_create: { type: 'boolean' },
    enabled: { type: 'boolean' },
    redirect_uri: { ...url, description: 'Register this at the upstream as the redirect (callback) URI.' },
    created_at: { type: 'string', format: 'date-time' },
    updated_at: { type: 'string', format: 'date-time' },
  },
};

/** The audit record's view of a provider: what an operator can see anyway. */
const audited = (provider: ProviderView) => ({ ...provider });

export function providerRoutes(deps: { providers: ProviderService; audit: Audit }): AdminRoute[] {
  return [
    route({
      method: 'get', path: '/providers', tag: 'providers', summary: 'List upstream identity providers',
      responses: { 200: { description: 'Every provider, by id', schema: { type: 'object', required: ['items'], properties: { items: { type: 'array', items: PROVIDER_SCHEMA } } } } },
      async handle(ctx) {
        requireOperator(ctx);
        ctx.body = { items: await deps.providers.list() };
      },
    }),
    route({
      method: 'post', path: '/providers', tag: 'providers', summary: 'Add an upstream identity provider; the answer names the redirect URI to register there',
      body: providerCreation,
      responses: {
        201: { description: 'Added', schema: PROVIDER_SCHEMA },
        409: { description: 'The id is taken', schema: 'Error' },
      },
      async handle(ctx, { body }) {
        requireOperator(ctx);
        const created = await withApiNames(() => deps.providers.add(toService(body) as Parameters<ProviderService['add']>[0]));
        await recordChange(deps.audit, ctx, 'admin.provider.created', { details: { provider_id: created.id, after: audited(created) } });
        ctx.status = 201;
        // The request's own path: ctx.path is relative to the admin API's mount point (app.ts).
        ctx.set('Location', `${ctx.originalUrl.split('?')[0]}/${encodeURIComponent(created.id)}`);
        ctx.body = created;
      },
    }),
    route({
      method: 'get', path: '/providers/:id', tag: 'providers', summary: 'Read a provider',
      responses: { 200: { description: 'The provider', schema: PROVIDER_SCHEMA } },
      async handle(ctx) {
        requireOperator(ctx);
        ctx.body = await deps.providers.get(ctx.params.id!);
      },
    }),
    route({
      method: 'patch', path: '/providers/:id', tag: 'providers', summary: 'Rename, change scopes, enable or disable, switch account creation, or set a new client secret',
      body: providerChange,
      responses: { 200: { description: 'Changed', schema: PROVIDER_SCHEMA } },
      async handle(ctx, { body }) {
        requireOperator(ctx);
        const { before, after, secretChanged } = await withApiNames(() => deps.providers.update(ctx.params.id!, toService(body)));
        await recordChange(deps.audit, ctx, 'admin.provider.updated', {
          details: { provider_id: after.id, before: audited(before), after: audited(after), ...(secretChanged ? { client_secret_changed: true } : {}) },
        });
        ctx.body = after;
      },
    }),
    route({
      method: 'delete', path: '/providers/:id', tag: 'providers', summary: 'Remove a provider; refused while identities are linked to it unless unlink_identities=true',
      query: removal,
      responses: {
        204: { description: 'Removed' },
        409: { description: 'Identities are linked to it: disable it (PATCH enabled=false), or remove it with unlink_identities=true', schema: 'Error' },
      },
      async handle(ctx, { query }) {
        requireOperator(ctx);
        const { removed, unlinked } = await deps.providers.remove(ctx.params.id!, { unlinkIdentities: query.unlink_identities === 'true' });
        await recordChange(deps.audit, ctx, 'admin.provider.deleted', { details: { provider_id: removed.id, before: audited(removed), unlinked_identities: unlinked } });
        ctx.status = 204;
      },
    }),
  ];
}
