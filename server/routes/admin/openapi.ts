// The OpenAPI 3.1 document of the admin API, generated from the route
// declarations: paths and methods from the routes themselves, request bodies
// and query parameters from the zod schemas that validate them.
import { z } from 'zod';
import type { AdminRoute } from './route.ts';
import { COMPONENTS } from './schemas.ts';

/** Below the issuer. */
export const ADMIN_API_PATH = '/admin/v1';

/** `/users/:id/sessions/:uid` → `/users/{id}/sessions/{uid}`. */
export function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });

export function openApiDocument(options: { issuer: string; routes: AdminRoute[] }): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of options.routes) {
    const pathParams = [...r.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    const query = r.query ? (jsonSchema(r.query) as { properties?: Record<string, object & { description?: string }>; required?: string[] }) : undefined;
    const responses: Record<string, unknown> = {};
    for (const [status, { description, schema }] of Object.entries(r.responses)) {
      const body = typeof schema === 'string' ? { $ref: `#/components/schemas/${schema}` } : schema;
      responses[status] = body ? { description, content: { 'application/json': { schema: body } } } : { description };
    }
    if (r.body || r.query) responses['400'] ??= errorResponse('invalid_request: the input failed validation; `fields` names each bad field');
    responses['401'] = errorResponse('invalid_token: no access token, or not a valid one (WWW-Authenticate says which)');
    responses['403'] = errorResponse('insufficient_scope: the token lacks the admin scope, or the caller administers one organisation only');
    if (pathParams.length) responses['404'] ??= errorResponse('not_found: no such resource');

    (paths[openApiPath(r.path)] ??= {})[r.method] = {
      operationId: operationId(r),
      tags: [r.tag],
      summary: r.summary,
      parameters: [
        ...pathParams.map((name) => ({ name, in: 'path', required: true, schema: { type: 'string' } })),
        ...Object.entries(query?.properties ?? {}).map(([name, schema]) => ({
          name, in: 'query', required: query?.required?.includes(name) ?? false, schema, ...(schema.description ? { description: schema.description } : {}),
        })),
      ],
      ...(r.body ? { requestBody: { required: true, content: { 'application/json': { schema: jsonSchema(r.body) } } } } : {}),
      responses,
    };
  }

  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate admin API',
      version: '1',
      description: 'Manage clients, users, sessions, upstream identity providers, APIs and the audit trail. Every operation needs a Tollgate access token with the `admin` scope.',
    },
    servers: [{ url: `${options.issuer}${ADMIN_API_PATH}` }],
    security: [{ tollgate: ['admin'] }],
    tags: [{ name: 'clients' }, { name: 'users' }, { name: 'audit' }, { name: 'providers' }, { name: 'apis' }],
    paths,
    components: {
      securitySchemes: {
        tollgate: {
          type: 'oauth2',
          description: `A Tollgate access token for the resource ${options.issuer}${ADMIN_API_PATH} (RFC 8707 resource parameter) with the admin scope: client_credentials for machines, or the authorization code flow for a user with the admin role.`,
          flows: {
            clientCredentials: { tokenUrl: `${options.issuer}/token`, scopes: { admin: 'manage Tollgate' } },
            authorizationCode: { authorizationUrl: `${options.issuer}/auth`, tokenUrl: `${options.issuer}/token`, scopes: { admin: 'manage Tollgate' } },
          },
        },
      },
      schemas: COMPONENTS,
    },
  };
}

/** What a request must look like: the zod schema's input side, as a schema object (OpenAPI 3.1 is JSON Schema 2020-12; `$schema` is implied). */
function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _implied, ...rest } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return rest;
}

/** `get /users/:id/sessions` → `getUsersIdSessions`. */
function operationId(r: AdminRoute): string {
  return r.method + r.path.split(/[/:-]/).filter(Boolean).map((part) => part[0]!.toUpperCase() + part.slice(1)).join('');
}
