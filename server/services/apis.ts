// APIs (resource servers) as data (issue 17, point 1): add, list, read,
// change, remove; the same service behind the CLI (`tollgate apis ...`) and
// the admin API (/admin/v1/apis). The token endpoint reads an API through
// `resourceServer` (oidc/configuration.ts): its identifier is the RFC 8707
// resource indicator and the tokens' `aud`.
import { createPublicKey, randomUUID, type JsonWebKey } from 'node:crypto';
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { ApiResourceChange, ApiResourceRecord, ApiResourceRepository } from '../repositories/api-resource-repository.ts';

/** What an API's access tokens may be signed with (keys/key-store.ts holds one key of each). */
export const API_SIGNING_ALGS = ['ES256', 'RS256', 'EdDSA'] as const;
export type ApiSigningAlg = (typeof API_SIGNING_ALGS)[number];

/** RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ). */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/;
/** OpenID Connect's own scopes: never an API's. */
const RESERVED_SCOPES = new Set(['openid', 'offline_access']);
/** JWK members that only a private (or symmetric) key has (RFC 7518 §6.2.2, §6.3.2, §6.4). */
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];

const text = (max: number) => z.string().max(max).regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');
const scopes = z.array(z.string().regex(SCOPE_TOKEN, 'must be RFC 6749 scope tokens (printable ASCII, no spaces, quotes or backslashes)').max(100)
  .refine((s) => !RESERVED_SCOPES.has(s), 'openid and offline_access are OpenID Connect scopes, not an API\'s'))
  .min(1, 'must name at least one scope').max(50).transform((list) => [...new Set(list)]);
const ttl = z.number().int('must be a whole number of seconds').min(60, 'must be from 60 to 86400 seconds').max(86_400, 'must be from 60 to 86400 seconds');
const jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())).max(20) }).loose();

export const newApiInput = z.strictObject({
  identifier: text(2000).min(1, 'is required'),
  name: text(100).trim().min(1, 'is required'),
  scopes,
  accessTokenTtl: ttl.nullable().optional(),
  signingAlg: z.enum(API_SIGNING_ALGS, { error: `must be one of: ${API_SIGNING_ALGS.join(', ')}` }).default('ES256'),
  requireDpop: z.boolean().default(false),
  encrypt: z.boolean().default(false),
  jwks: jwks.nullable().optional(),
  jwksUri: text(2000).nullable().optional(),
});
export type NewApiInput = z.input<typeof newApiInput>;

export const apiPatch = z.strictObject({
  identifier: newApiInput.shape.identifier.optional(),
  name: newApiInput.shape.name.optional(),
  scopes: scopes.optional(),
  accessTokenTtl: ttl.nullable().optional(),
  signingAlg: z.enum(API_SIGNING_ALGS, { error: `must be one of: ${API_SIGNING_ALGS.join(', ')}` }).optional(),
  requireDpop: z.boolean().optional(),
  encrypt: z.boolean().optional(),
  jwks: jwks.nullable().optional(),
  jwksUri: text(2000).nullable().optional(),
});
export type ApiPatch = z.input<typeof apiPatch>;

/** An API as operators see it (the admin API's names). */
export interface ApiView {
  id: string;
  identifier: string;
  name: string;
  scopes: string[];
  /** null: the server's ACCESS_TOKEN_TTL. */
  access_token_ttl: number | null;
  signing_alg: string;
  require_dpop: boolean;
  encrypt: boolean;
  jwks: { keys: Array<Record<string, unknown>> } | null;
  jwks_uri: string | null;
  created_at: string;
  updated_at: string;
}

export interface ApiService {
  /** Validates and stores. ValidationError (fields) on a bad value, ConflictError when the identifier is taken. */
  add(input: NewApiInput): Promise<ApiView>;
  list(): Promise<ApiView[]>;
  /** NotFoundError when there is none. */
  get(id: string): Promise<ApiView>;
  /** NotFoundError when there is none. */
  getByIdentifier(identifier: string): Promise<ApiView>;
  update(id: string, patch: ApiPatch): Promise<{ before: ApiView; after: ApiView }>;
  remove(id: string): Promise<ApiView>;
  /** For the token endpoint: the registered API of this resource indicator (cached), or undefined. */
  resourceServer(identifier: string): Promise<ApiResourceRecord | undefined>;
}

export interface ApiServiceOptions {
  production: boolean;
  /** Resource indicators that are Tollgate's own (API_AUDIENCE, the admin API): never registrable. */
  reservedIdentifiers: readonly string[];
}

const LOCALHOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/** An absolute https URI; http only on localhost outside production. */
function uriProblem(value: string, production: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URI';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:' && LOCALHOSTS.has(url.hostname)) {
    return production ? 'must use https when NODE_ENV=production' : undefined;
  }
  return 'must use https (plain http only for localhost, outside production)';
}

/** RFC 8707 §2: an absolute URI without a fragment (and, SHOULD NOT, a query). */
function identifierProblem(value: string, options: ApiServiceOptions): string | undefined {
  const problem = uriProblem(value, options.production);
  if (problem) return problem;
  const url = new URL(value);
  if (value.includes('#')) return 'must not have a fragment (RFC 8707 §2)';
  if (url.search) return 'must not have a query (RFC 8707 §2)';
  if (options.reservedIdentifiers.includes(value)) return "is one of Tollgate's own APIs (API_AUDIENCE or the admin API)";
  return undefined;
}

/** At least one public encryption key (RSA or EC, `use` enc or absent), and nothing private. */
export function encryptionJwksProblem(set: { keys: Array<Record<string, unknown>> }): string | undefined {
  if (set.keys.some((key) => PRIVATE_MEMBERS.some((member) => member in key))) return 'must hold public keys only (no private or symmetric key members)';
  const usable = set.keys.filter((key) => (key.kty === 'RSA' || key.kty === 'EC') && (key.use === undefined || key.use === 'enc'));
  for (const key of usable) {
    try {
      createPublicKey({ key: key as JsonWebKey, format: 'jwk' });
    } catch {
      return `holds a key that is not a valid ${String(key.kty)} public key${typeof key.kid === 'string' ? ` (kid ${key.kid})` : ''}`;
    }
  }
  return usable.length ? undefined : 'must hold at least one public encryption key (kty RSA or EC, use enc or absent)';
}

const view = (r: ApiResourceRecord): ApiView => ({
  id: r.id, identifier: r.identifier, name: r.name, scopes: [...r.scopes], access_token_ttl: r.accessTokenTtl, signing_alg: r.signingAlg,
  require_dpop: r.requireDpop, encrypt: r.encrypt, jwks: r.jwks, jwks_uri: r.jwksUri,
  created_at: r.createdAt.toISOString(), updated_at: r.updatedAt.toISOString(),
});

/** The problems of an API as it would be stored, by the service's field names. */
function problemsOf(api: Omit<ApiResourceRecord, 'id' | 'createdAt' | 'updatedAt'>, options: ApiServiceOptions, changed: (field: string) => boolean): Record<string, string> {
  const problems: Record<string, string> = {};
  if (changed('identifier')) {
    const problem = identifierProblem(api.identifier, options);
    if (problem) problems.identifier = problem;
  }
  if (api.jwksUri !== null && changed('jwksUri')) {
    const problem = uriProblem(api.jwksUri, options.production);
    if (problem) problems.jwksUri = problem;
  }
  if (api.jwks !== null && changed('jwks')) {
    const problem = encryptionJwksProblem(api.jwks);
    if (problem) problems.jwks = problem;
  }
  if (api.jwks !== null && api.jwksUri !== null) problems.jwksUri ??= 'give either jwks or jwks_uri, not both';
  if (api.encrypt && api.jwks === null && api.jwksUri === null) problems.encrypt = 'needs the API\'s public keys: jwks or jwks_uri';
  return problems;
}

function throwProblems(problems: Record<string, string>): void {
  const [first] = Object.entries(problems);
  if (first) throw new ValidationError(`${first[0]}: ${first[1]}`, problems);
}

export function createApiService(repository: ApiResourceRepository, options: ApiServiceOptions): ApiService {
  const find = async (id: string) => {
    const record = await repository.find(id);
    if (!record) throw new NotFoundError(`no API with id "${id}"`);
    return record;
  };
  return {
    async add(raw) {
      const input = newApiInput.parse(raw);
      const api = {
        identifier: input.identifier, name: input.name, scopes: input.scopes, accessTokenTtl: input.accessTokenTtl ?? null, signingAlg: input.signingAlg,
        requireDpop: input.requireDpop, encrypt: input.encrypt, jwks: input.jwks ?? null, jwksUri: input.jwksUri ?? null,
      };
      throwProblems(problemsOf(api, options, () => true));
      return view(await repository.insert({ id: randomUUID(), ...api }));
    },
    async list() {
      return (await repository.list()).map(view);
    },
    async get(id) {
      return view(await find(id));
    },
    async getByIdentifier(identifier) {
      const record = (await repository.list()).find((r) => r.identifier === identifier);
      if (!record) throw new NotFoundError(`no API with identifier "${identifier}"`);
      return view(record);
    },
    async update(id, raw) {
      const patch = apiPatch.parse(raw);
      const before = await find(id);
      const change: ApiResourceChange = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
      const merged = { ...before, ...change };
      throwProblems(problemsOf(merged, options, (field) => field in change));
      const after = await repository.update(id, change);
      if (!after) throw new NotFoundError(`no API with id "${id}"`);
      return { before: view(before), after: view(after) };
    },
    async remove(id) {
      const removed = await repository.remove(id);
      if (!removed) throw new NotFoundError(`no API with id "${id}"`);
      return view(removed);
    },
    resourceServer: (identifier) => repository.findByIdentifier(identifier),
  };
}
