// Upstream identity providers as data (issue 15, point 1): add, list, read,
// change, remove; the same service behind the CLI (`tollgate providers ...`)
// and the admin API (/admin/v1/providers). Client secrets go in encrypted
// (secret-box.ts) and never come out of here except through `resolve`, which
// is for the sign-in flow alone: views, errors and audit details never hold
// them.
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { UpstreamProviderChange, UpstreamProviderRecord, UpstreamProviderRepository } from '../repositories/upstream-provider-repository.ts';
import { UpstreamSecretKeyError } from '../keys/upstream-secret-keys.ts';
import { federatedRedirectUri, githubEmailsEndpoint, PRESETS, PROVIDER_TYPES, type ProviderType } from './presets.ts';
import type { SecretBox } from './secret-box.ts';
import { endpointProblem, issuerProblem } from './upstream-urls.ts';

/** Part of the redirect URI, so URL-safe as it stands; the migration's CHECK says the same. */
export const PROVIDER_ID = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** Printable text: no control characters (NUL cannot even reach PostgreSQL). */
const text = (max: number) => z.string().max(max).regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');

const ENDPOINT_FIELDS = ['authorizationEndpoint', 'tokenEndpoint', 'userinfoEndpoint', 'jwksUri'] as const;

export const newProviderInput = z.strictObject({
  id: z.string().regex(PROVIDER_ID, 'must be 1 to 40 lower-case letters, digits or dashes, starting with a letter or digit'),
  type: z.enum(PROVIDER_TYPES, { error: `must be one of: ${PROVIDER_TYPES.join(', ')}` }),
  name: text(100).trim().min(1).optional(),
  issuer: text(2000).optional(),
  clientId: text(500).min(1, 'is required'),
  clientSecret: text(4000).min(1, 'is required'),
  scope: text(1000).optional(),
  autoCreate: z.boolean().default(true),
  enabled: z.boolean().default(true),
  authorizationEndpoint: text(2000).optional(),
  tokenEndpoint: text(2000).optional(),
  userinfoEndpoint: text(2000).optional(),
  jwksUri: text(2000).optional(),
});
export type NewProviderInput = z.output<typeof newProviderInput>;

/** What may change: the display name, scopes, switches, and the secret (rotated at the upstream). */
export const providerPatch = z.strictObject({
  name: text(100).trim().min(1).optional(),
  scope: text(1000).optional(),
  enabled: z.boolean().optional(),
  autoCreate: z.boolean().optional(),
  clientSecret: text(4000).min(1).optional(),
});
export type ProviderPatch = z.output<typeof providerPatch>;

/** A provider as operators see it: effective endpoints, the redirect URI to register; never the secret. */
export interface ProviderView {
  id: string;
  type: ProviderType;
  protocol: 'oidc' | 'oauth2';
  name: string;
  issuer: string | null;
  client_id: string;
  scope: string;
  /** null for OpenID Connect providers without an override: from the issuer's discovery document. */
  authorization_endpoint: string | null;
  token_endpoint: string | null;
  userinfo_endpoint: string | null;
  jwks_uri: string | null;
  auto_create: boolean;
  enabled: boolean;
  /** Register this at the upstream as the redirect (callback) URI. */
  redirect_uri: string;
  created_at: string;
  updated_at: string;
}

/** What the sign-in flow needs of a provider, with its secret in the clear: keep it out of logs, errors and answers. */
export interface ResolvedProvider {
  id: string;
  type: ProviderType;
  protocol: 'oidc' | 'oauth2';
  name: string;
  issuer: string | null;
  clientId: string;
  clientSecret: string;
  scope: string;
  /** Overrides (or, for OAuth 2.0 presets, the preset's); unset ones come from the issuer's discovery. */
  authorizationEndpoint?: string;
  tokenEndpoint?: string;
  userinfoEndpoint?: string;
  jwksUri?: string;
  /** GitHub only: the verified primary e-mail address comes from here. */
  emailsEndpoint?: string;
  autoCreate: boolean;
  enabled: boolean;
  redirectUri: string;
}

export interface ProviderService {
  /** Validates, encrypts the secret, stores. ConflictError when the id is taken. */
  add(input: NewProviderInput): Promise<ProviderView>;
  list(): Promise<ProviderView[]>;
  /** NotFoundError when there is none. */
  get(id: string): Promise<ProviderView>;
  update(id: string, patch: ProviderPatch): Promise<{ before: ProviderView; after: ProviderView; secretChanged: boolean }>;
  /** ProviderInUseError while identities are linked to it, unless `unlinkIdentities`. */
  remove(id: string, options?: { unlinkIdentities?: boolean }): Promise<{ removed: ProviderView; unlinked: number }>;
  /** Rewrites every secret not under the current key with it (after `keys rotate-secrets`). */
  reencrypt(): Promise<{ key: string | undefined; reencrypted: string[]; unchanged: number }>;
  /** For the sign-in flow: undefined when there is no such provider. UpstreamSecretKeyError when its secret cannot be decrypted. */
  resolve(id: string): Promise<ResolvedProvider | undefined>;
  /** Decrypts every stored secret: at start, a missing or wrong key file is said at once, with the providers it concerns. */
  verifySecrets(): Promise<void>;
}

export function createProviderService(deps: {
  repository: UpstreamProviderRepository;
  secrets: SecretBox;
  issuer: string;
  production: boolean;
}): ProviderService {
  const { repository, secrets } = deps;
  const view = (r: UpstreamProviderRecord): ProviderView => {
    const type = r.type as ProviderType;
    const preset = PRESETS[type];
    return {
      id: r.id, type, protocol: preset.protocol, name: r.name, issuer: r.issuer, client_id: r.clientId, scope: r.scope,
      authorization_endpoint: r.authorizationEndpoint ?? preset.authorizationEndpoint ?? null,
      token_endpoint: r.tokenEndpoint ?? preset.tokenEndpoint ?? null,
      userinfo_endpoint: r.userinfoEndpoint ?? preset.userinfoEndpoint ?? null,
      jwks_uri: r.jwksUri ?? preset.jwksUri ?? null,
      auto_create: r.autoCreate, enabled: r.enabled,
      redirect_uri: federatedRedirectUri(deps.issuer, r.id),
      created_at: r.createdAt.toISOString(), updated_at: r.updatedAt.toISOString(),
    };
  };
  const find = async (id: string) => {
    const record = await repository.find(id);
    if (!record) throw new NotFoundError(`no provider with id "${id}"`);
    return record;
  };

  return {
    async add(raw) {
      const input = newProviderInput.parse(raw);
      const preset = PRESETS[input.type];
      const issuer = input.issuer ?? preset.issuer;
      const problems: Record<string, string> = {};
      if (preset.protocol === 'oidc' && !issuer) problems.issuer = `is required for type ${input.type} (the OpenID Connect issuer)`;
      if (preset.protocol === 'oauth2' && input.issuer !== undefined) problems.issuer = `type ${input.type} speaks OAuth 2.0 without ID tokens: it has no issuer`;
      if (issuer && !problems.issuer) {
        const problem = issuerProblem(issuer, deps);
        if (problem) problems.issuer = problem;
      }
      for (const field of ENDPOINT_FIELDS) {
        const value = input[field];
        const problem = value === undefined ? undefined : endpointProblem(value, deps);
        if (problem) problems[field] = problem;
      }
      if (preset.protocol === 'oauth2') {
        // OAuth 2.0 has no discovery: each of these must come from the preset or the command.
        for (const field of ['authorizationEndpoint', 'tokenEndpoint', 'userinfoEndpoint'] as const) {
          if (!(input[field] ?? preset[field])) problems[field] ??= `is required for type ${input.type}`;
        }
      }
      const [first] = Object.entries(problems);
      if (first) throw new ValidationError(`${first[0]}: ${first[1]}`, problems);
      const created = await repository.insert({
        id: input.id, type: input.type, name: input.name ?? preset.name ?? input.id, issuer: preset.protocol === 'oidc' ? issuer! : null,
        clientId: input.clientId, clientSecretEncrypted: await secrets.encrypt(input.id, input.clientSecret), scope: input.scope ?? preset.scope,
        authorizationEndpoint: input.authorizationEndpoint ?? null, tokenEndpoint: input.tokenEndpoint ?? null,
        userinfoEndpoint: input.userinfoEndpoint ?? null, jwksUri: input.jwksUri ?? null,
        autoCreate: input.autoCreate, enabled: input.enabled,
      });
      return view(created);
    },
    async list() {
      return (await repository.list()).map(view);
    },
    async get(id) {
      return view(await find(id));
    },
    async update(id, raw) {
      const patch = providerPatch.parse(raw);
      const before = await find(id);
      const change: UpstreamProviderChange = {
        name: patch.name, scope: patch.scope, enabled: patch.enabled, autoCreate: patch.autoCreate,
        clientSecretEncrypted: patch.clientSecret === undefined ? undefined : await secrets.encrypt(id, patch.clientSecret),
      };
      const after = await repository.update(id, change);
      if (!after) throw new NotFoundError(`no provider with id "${id}"`);
      return { before: view(before), after: view(after), secretChanged: patch.clientSecret !== undefined };
    },
    async remove(id, options = {}) {
      const outcome = await repository.remove(id, { unlinkIdentities: options.unlinkIdentities ?? false });
      if (!outcome) throw new NotFoundError(`no provider with id "${id}"`);
      return { removed: view(outcome.removed), unlinked: outcome.unlinked };
    },
    async reencrypt() {
      const reencrypted: string[] = [];
      let unchanged = 0;
      for (const record of await repository.list()) {
        const current = await secrets.currentKeyId();
        if (current !== undefined && secrets.keyIdOf(record.clientSecretEncrypted) === current) {
          unchanged += 1;
          continue;
        }
        const secret = await secrets.decrypt(record.id, record.clientSecretEncrypted);
        await repository.update(record.id, { clientSecretEncrypted: await secrets.encrypt(record.id, secret) });
        reencrypted.push(record.id);
      }
      return { key: await secrets.currentKeyId(), reencrypted, unchanged };
    },
    async resolve(id) {
      const record = await repository.find(id);
      if (!record) return undefined;
      const type = record.type as ProviderType;
      const preset = PRESETS[type];
      const userinfoEndpoint = record.userinfoEndpoint ?? preset.userinfoEndpoint;
      return {
        id: record.id, type, protocol: preset.protocol, name: record.name, issuer: record.issuer, clientId: record.clientId,
        clientSecret: await secrets.decrypt(record.id, record.clientSecretEncrypted), scope: record.scope,
        authorizationEndpoint: record.authorizationEndpoint ?? preset.authorizationEndpoint,
        tokenEndpoint: record.tokenEndpoint ?? preset.tokenEndpoint,
        userinfoEndpoint,
        jwksUri: record.jwksUri ?? preset.jwksUri,
        ...(type === 'github' && userinfoEndpoint ? { emailsEndpoint: githubEmailsEndpoint(userinfoEndpoint) } : {}),
        autoCreate: record.autoCreate, enabled: record.enabled, redirectUri: federatedRedirectUri(deps.issuer, record.id),
      };
    },
    async verifySecrets() {
      const problems: string[] = [];
      for (const record of await repository.list()) {
        try {
          await secrets.decrypt(record.id, record.clientSecretEncrypted);
        } catch (err) {
          if (!(err instanceof UpstreamSecretKeyError)) throw err;
          problems.push(err.message);
        }
      }
      if (problems.length) throw new UpstreamSecretKeyError(problems.join('\n'));
    },
  };
}
