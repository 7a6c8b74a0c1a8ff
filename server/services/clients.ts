// Client registration: turns an operator's request into RFC 7591 metadata,
// checks its URIs against our registration rules (redirect-uris.ts), has
// oidc-provider validate the rest (the library owns what a valid client is),
// and stores it with only the digest of its secret.
import { z } from 'zod';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { ClientMetadata, ClientRepository, StoredClient } from '../repositories/client-repository.ts';
import { ACCOUNT_CLIENT_ID } from './reserved-clients.ts';
import { CLIENT_SECRET_MIN_LENGTH, digestClientSecret, generateClientSecret, looksRandom } from './client-secrets.ts';
import { clientUriProblems, type UriPolicy } from './redirect-uris.ts';
import { DEFAULT_ENCRYPTION_ENC } from '../oidc/encryption-algorithms.ts';
import { FAPI2_DEFAULT_ID_TOKEN_ALG, FAPI2_IMPLIED_METADATA, SECURITY_PROFILES } from '../oidc/security-profiles.ts';

const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
/** OpenID Connect Dynamic Client Registration §2: `native` apps get RFC 8252's loopback and private-use redirect URIs. */
const APPLICATION_TYPES = ['web', 'native'] as const;
const applicationType = z.enum(APPLICATION_TYPES, { error: `must be ${APPLICATION_TYPES.join(' or ')}` });

/** A URI as registered: bounded, no whitespace or control characters (oidc-provider checks the rest). */
const uri = z.string().max(2000).regex(/^[^\p{Cc}\s]*$/u, 'must not contain spaces or control characters');

/**
 * A client's public keys (RFC 7591 §2 `jwks`): what Tollgate encrypts ID
 * tokens and userinfo to, and verifies its request objects with. Bounded
 * here; oidc-provider checks the keys themselves (no private or symmetric
 * keys, at most one of jwks and jwks_uri).
 */
const jwks = z.object({ keys: z.array(z.record(z.string(), z.unknown())).min(1).max(20) });
/** A JWA name; oidc-provider checks it against the allow-lists (oidc/encryption-algorithms.ts). */
const jwa = z.string().max(40).regex(/^[A-Za-z0-9+_-]+$/, 'must be a JWA algorithm name');
/** How a confidential client proves itself at the token endpoint: a secret, or a JWT signed with its private key (RFC 7523, OpenID Connect Core §9). */
const AUTH_METHODS = ['client_secret_basic', 'private_key_jwt'] as const;
const securityProfile = z.enum(SECURITY_PROFILES, { error: `must be ${SECURITY_PROFILES.join(' or ')}` });

export const newClientInput = z.object({
  id: z.string().trim().regex(/^[A-Za-z0-9._~-]{1,128}$/, 'must be 1-128 characters of A-Z a-z 0-9 . _ ~ -')
    .refine((id) => id !== ACCOUNT_CLIENT_ID, `"${ACCOUNT_CLIENT_ID}" is Tollgate's own account-page client`),
  secret: z.string()
    .min(CLIENT_SECRET_MIN_LENGTH, `must be at least ${CLIENT_SECRET_MIN_LENGTH} characters (or omit it to have one generated)`)
    .max(512)
    .refine(looksRandom, 'must look random (at least 16 different characters, no control characters): omit it to have one generated')
    .optional(),
  public: z.boolean().default(false),
  /** A confidential client's authentication; `private_key_jwt` needs its public keys (jwks or jwksUri) and has no secret. */
  tokenEndpointAuthMethod: z.enum(AUTH_METHODS, { error: `must be ${AUTH_METHODS.join(' or ')}` }).optional(),
  /** `fapi2`: the FAPI 2.0 Security Profile (oidc/fapi.ts): private_key_jwt, PAR and DPoP required, refresh tokens not rotated. */
  securityProfile: securityProfile.optional(),
  /** The ID token's signature (RS256 by default; ES256 for a FAPI 2.0 client). */
  idTokenSignedResponseAlg: jwa.optional(),
  /** `native`: a desktop or mobile app (RFC 8252); `web` (the default) otherwise. */
  applicationType: applicationType.default('web'),
  name: z.string().trim().min(1).max(200).regex(/^[^\p{Cc}]*$/u, 'must not contain control characters').optional(),
  redirectUris: z.array(uri).max(100).default([]),
  postLogoutRedirectUris: z.array(uri).max(100).default([]),
  grantTypes: z.array(z.enum(GRANT_TYPES, { error: `must be among ${GRANT_TYPES.join(', ')}` })).min(1).optional(),
  scope: z.string().trim().optional(),
  /** OpenID Connect Back-Channel Logout 1.0: where to POST logout tokens (with `sid`). */
  backchannelLogoutUri: uri.optional(),
  /** This client's access token lifetime in seconds (default: ACCESS_TOKEN_TTL). */
  accessTokenTtl: z.number().int().min(60).max(86_400).optional(),
  /** Seconds a just-rotated refresh token may be presented again without revoking its family (multi-tab apps). */
  refreshTokenReuseGrace: z.number().int().min(0).max(300).default(0),
  /** Our own application: its users are not asked for consent. */
  firstParty: z.boolean().default(false),
  /** A second factor is required for every sign-in at this client (mfa/policy.ts), whatever MFA_POLICY says. */
  requireMfa: z.boolean().default(false),
  /** RFC 9126 §6 `require_pushed_authorization_requests`: this client's authorization requests must be pushed first (PAR). */
  requirePar: z.boolean().default(false),
  /** RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request of this client must carry a DPoP proof. */
  requireDpop: z.boolean().default(false),
  /** A resource server: the audiences whose access tokens it may introspect (oidc/token-policies.ts). */
  introspectionAudiences: z.array(uri).max(20).optional(),
  /** The client's public keys, given inline or by URL (RFC 7591 §2: one or the other). */
  jwks: jwks.optional(),
  jwksUri: uri.optional(),
  /** OpenID Connect Core §10.2: ID tokens and userinfo encrypted to the client's key (enc defaults to A256GCM). */
  idTokenEncryptedResponseAlg: jwa.optional(),
  idTokenEncryptedResponseEnc: jwa.optional(),
  userinfoEncryptedResponseAlg: jwa.optional(),
  userinfoEncryptedResponseEnc: jwa.optional(),
  /** OpenID Connect Core §5.3.2: userinfo as a signed JWT (RS256 when encryption is asked for and this is not). */
  userinfoSignedResponseAlg: jwa.optional(),
}).refine((c) => !(c.public && c.secret), { error: 'a public client has no secret: give either --secret or --public', path: ['secret'] })
  .refine((c) => !(c.public && (c.securityProfile || c.tokenEndpointAuthMethod)), { error: 'a public client does not authenticate: no --profile or --auth-method with --public', path: ['public'] })
  // private_key_jwt proves a key, not a secret; FAPI 2.0 implies it.
  .refine((c) => !(c.secret && (c.securityProfile || c.tokenEndpointAuthMethod === 'private_key_jwt')), { error: 'a client that signs its assertions (private_key_jwt, FAPI 2.0) has no secret', path: ['secret'] })
  .refine((c) => !(c.securityProfile === 'fapi2' && c.tokenEndpointAuthMethod === 'client_secret_basic'), { error: 'a FAPI 2.0 client authenticates with private_key_jwt', path: ['tokenEndpointAuthMethod'] })
  .refine((c) => !((c.securityProfile || c.tokenEndpointAuthMethod === 'private_key_jwt') && !c.jwks && !c.jwksUri), { error: "private_key_jwt needs the client's public keys: give jwks (--jwks-file) or jwks_uri (--jwks-uri)", path: ['jwks'] })
  // RFC 6749 §4.4: client credentials are for confidential clients only; a public one would get tokens for its bare id.
  .refine((c) => !(c.public && c.grantTypes?.includes('client_credentials')), { error: 'a public client cannot use client_credentials', path: ['grantTypes'] });
export type NewClientInput = z.input<typeof newClientInput>;

/**
 * A change to a registered client, in RFC 7591 names. `null` removes an
 * optional field. The secret is never set here: it is rotated
 * (rotateSecret), so that it is always generated and shown once.
 */
export const clientPatch = z.strictObject({
  client_name: z.string().trim().min(1).max(200).regex(/^[^\p{Cc}]*$/u, 'must not contain control characters').nullable(),
  application_type: applicationType,
  redirect_uris: z.array(uri).max(100),
  post_logout_redirect_uris: z.array(uri).max(100),
  grant_types: z.array(z.enum(GRANT_TYPES, { error: `must be among ${GRANT_TYPES.join(', ')}` })).min(1),
  scope: z.string().trim().min(1).max(1000),
  first_party: z.boolean(),
  require_mfa: z.boolean(),
  require_pushed_authorization_requests: z.boolean(),
  dpop_bound_access_tokens: z.boolean(),
  security_profile: securityProfile.nullable(),
  id_token_signed_response_alg: jwa,
  backchannel_logout_uri: uri.nullable(),
  access_token_lifetime: z.number().int().min(60).max(86_400).nullable(),
  refresh_token_reuse_grace_seconds: z.number().int().min(0).max(300),
  introspection_audiences: z.array(uri).max(20).nullable(),
  jwks: jwks.nullable(),
  jwks_uri: uri.nullable(),
  id_token_encrypted_response_alg: jwa.nullable(),
  id_token_encrypted_response_enc: jwa.nullable(),
  userinfo_encrypted_response_alg: jwa.nullable(),
  userinfo_encrypted_response_enc: jwa.nullable(),
  userinfo_signed_response_alg: jwa.nullable(),
}).partial();
export type ClientPatch = z.input<typeof clientPatch>;

/**
 * Tollgate's defaults for encrypted responses, filled in before oidc-provider
 * validates: an `enc` of A256GCM where only an `alg` is given (the
 * registration default, A128CBC-HS256, is not enabled: encryption-algorithms.ts),
 * no `enc` without its `alg`, and a signed userinfo JWT (RS256, as ID
 * tokens) under an encrypted one: oidc-provider only nests, it never
 * encrypts bare claims (OpenID Connect Core §5.3.2 allows both).
 */
export function withEncryptionDefaults(metadata: ClientMetadata): ClientMetadata {
  const out = { ...metadata };
  for (const prefix of ['id_token', 'userinfo']) {
    const alg = `${prefix}_encrypted_response_alg`;
    const enc = `${prefix}_encrypted_response_enc`;
    if (out[alg] === undefined) delete out[enc];
    else out[enc] ??= DEFAULT_ENCRYPTION_ENC;
  }
  if (out.userinfo_encrypted_response_alg !== undefined) out.userinfo_signed_response_alg ??= 'RS256';
  return out;
}

/** Client metadata as registered (RFC 7591 names); never a secret or its digest. */
export type ClientView = ClientMetadata & { client_id: string; created_at: string };

export function toClientView(c: StoredClient): ClientView {
  // require_mfa is stored only when true (as first_party), but always shown: an operator checking a client's policy should not have to know that absent means false.
  // So are the PAR and DPoP requirements (RFC 9126 §6, RFC 9449 §5.2), stored only when true.
  return {
    client_id: c.id, ...c.metadata, require_mfa: c.metadata.require_mfa === true,
    require_pushed_authorization_requests: c.metadata.require_pushed_authorization_requests === true,
    dpop_bound_access_tokens: c.metadata.dpop_bound_access_tokens === true,
    created_at: c.createdAt.toISOString(),
  };
}

/**
 * oidc-provider's `Client.validate`: throws when the library rejects the
 * metadata, with an RFC 7591 §3.2.2 error (its InvalidClientMetadata or
 * InvalidRedirectUri), which the service reports as a ValidationError.
 */
export type MetadataValidator = (metadata: ClientMetadata) => Promise<void>;

/** Throws a ValidationError naming each URI that breaks the registration rules (redirect-uris.ts), field by field. */
export function assertClientUris(metadata: ClientMetadata, policy: UriPolicy): void {
  const problems = clientUriProblems(metadata, policy);
  const entries = Object.entries(problems);
  if (entries.length) throw new ValidationError(entries.map(([field, problem]) => `${field}: ${problem}`).join('; '), problems);
}

/**
 * The library's refusal of client metadata (RFC 7591 §3.2.2
 * `invalid_client_metadata`, `invalid_redirect_uri`) is the operator's input:
 * a ValidationError (400, with that error code) naming the field its description starts with.
 * Anything else is rethrown as it is.
 */
async function validated(validate: MetadataValidator, metadata: ClientMetadata, policy: UriPolicy): Promise<void> {
  // Ours first: their messages name the offending URI's field and index.
  assertClientUris(metadata, policy);
  try {
    await validate(metadata);
  } catch (err) {
    const e = err as { error?: string; error_description?: string };
    if (e.error !== 'invalid_client_metadata' && e.error !== 'invalid_redirect_uri') throw err;
    const description = String(e.error_description ?? e.error);
    const field = /^([a-z_]+) /.exec(description)?.[1];
    throw new ValidationError(description, field && field in metadata ? { [field]: description } : undefined, e.error);
  }
}

export interface ClientService {
  /** Returns the client and, when Tollgate generated it, the secret: shown this once, stored only as a digest. */
  register(input: NewClientInput): Promise<{ client: ClientView; client_secret?: string }>;
  list(): Promise<ClientView[]>;
  /** Throws NotFoundError. */
  get(id: string): Promise<ClientView>;
  /** Applies a change the library accepts; returns the client before and after (for the audit trail). */
  update(id: string, patch: ClientPatch): Promise<{ before: ClientView; after: ClientView }>;
  /** A new generated secret for a confidential client, shown this once; the old one stops working at once. */
  rotateSecret(id: string): Promise<{ client: ClientView; client_secret: string }>;
  /** Deletes the client with every grant, code and refresh token issued to it. */
  remove(id: string): Promise<ClientView>;
  /**
   * Stored clients whose URIs break the registration rules (registered
   * before they existed): they keep working, and an update is refused
   * until they are fixed. For the warning at start.
   */
  nonconforming(): Promise<Array<{ client_id: string; fields: Record<string, string> }>>;
}

/** What a client deletion takes with it from oidc-provider's storage. */
const CLIENT_BOUND_MODELS = ['Grant', 'RefreshToken', 'AuthorizationCode', 'AccessToken', 'DeviceCode', 'BackchannelAuthenticationRequest', 'PushedAuthorizationRequest'] as const;

export function createClientService(
  clients: ClientRepository,
  validate: MetadataValidator,
  deleteIssued: (models: readonly string[], clientId: string) => Promise<number>,
  /** The URI rules in force (redirect-uris.ts): stricter when NODE_ENV=production. */
  uriPolicy: UriPolicy,
): ClientService {
  const find = async (id: string) => {
    const stored = await clients.find(id);
    if (!stored) throw new NotFoundError(`no client with id "${id}"`);
    return stored;
  };
  return {
    async register(input) {
      const data = newClientInput.parse(input);
      const grantTypes = data.grantTypes ?? (data.redirectUris.length ? ['authorization_code', 'refresh_token'] : ['client_credentials']);
      const usesRedirects = grantTypes.includes('authorization_code');
      const signsAssertions = data.securityProfile !== undefined || data.tokenEndpointAuthMethod === 'private_key_jwt';
      const metadata: ClientMetadata = {
        ...(data.name ? { client_name: data.name } : {}),
        // Absent means `web` (OpenID Connect Dynamic Client Registration §2), as for clients stored before it was offered.
        ...(data.applicationType === 'native' ? { application_type: 'native' } : {}),
        grant_types: grantTypes,
        response_types: usesRedirects ? ['code'] : [],
        redirect_uris: data.redirectUris,
        post_logout_redirect_uris: data.postLogoutRedirectUris,
        token_endpoint_auth_method: data.public ? 'none' : signsAssertions ? 'private_key_jwt' : 'client_secret_basic',
        scope: data.scope ?? (usesRedirects ? 'openid profile email offline_access basic' : 'basic'),
        ...(data.firstParty ? { first_party: true } : {}),
        ...(data.requireMfa ? { require_mfa: true } : {}),
        ...(data.requirePar ? { require_pushed_authorization_requests: true } : {}),
        ...(data.requireDpop ? { dpop_bound_access_tokens: true } : {}),
        ...(data.idTokenSignedResponseAlg ? { id_token_signed_response_alg: data.idTokenSignedResponseAlg } : {}),
        // The profile's requirements, set rather than asked for; the library's validator (oidc/fapi.ts) refuses contradictions.
        ...(data.securityProfile === 'fapi2' ? { security_profile: 'fapi2', ...FAPI2_IMPLIED_METADATA, id_token_signed_response_alg: data.idTokenSignedResponseAlg ?? FAPI2_DEFAULT_ID_TOKEN_ALG } : {}),
        ...(data.accessTokenTtl ? { access_token_lifetime: data.accessTokenTtl } : {}),
        ...(data.refreshTokenReuseGrace ? { refresh_token_reuse_grace_seconds: data.refreshTokenReuseGrace } : {}),
        ...(data.introspectionAudiences?.length ? { introspection_audiences: data.introspectionAudiences } : {}),
        ...(data.backchannelLogoutUri ? { backchannel_logout_uri: data.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
        ...withEncryptionDefaults({
          ...(data.jwks ? { jwks: data.jwks } : {}),
          ...(data.jwksUri ? { jwks_uri: data.jwksUri } : {}),
          ...(data.idTokenEncryptedResponseAlg ? { id_token_encrypted_response_alg: data.idTokenEncryptedResponseAlg } : {}),
          ...(data.idTokenEncryptedResponseEnc ? { id_token_encrypted_response_enc: data.idTokenEncryptedResponseEnc } : {}),
          ...(data.userinfoEncryptedResponseAlg ? { userinfo_encrypted_response_alg: data.userinfoEncryptedResponseAlg } : {}),
          ...(data.userinfoEncryptedResponseEnc ? { userinfo_encrypted_response_enc: data.userinfoEncryptedResponseEnc } : {}),
          ...(data.userinfoSignedResponseAlg ? { userinfo_signed_response_alg: data.userinfoSignedResponseAlg } : {}),
        }),
      };

      const generated = data.public || data.secret || signsAssertions ? undefined : generateClientSecret();
      const secret = data.secret ?? generated;
      await validated(validate, { client_id: data.id, ...(secret ? { client_secret: digestClientSecret(secret) } : {}), ...metadata }, uriPolicy);

      const stored = await clients.create({ id: data.id, metadata, secretDigest: secret ? digestClientSecret(secret) : null });
      return { client: toClientView(stored), ...(generated ? { client_secret: generated } : {}) };
    },

    async list() {
      return (await clients.list()).map(toClientView);
    },

    async get(id) {
      return toClientView(await find(id));
    },

    async update(id, input) {
      const patch = clientPatch.parse(input);
      const stored = await find(id);
      let metadata: ClientMetadata = { ...stored.metadata };
      for (const [key, value] of Object.entries(patch)) {
        if (value === null) delete metadata[key];
        else if (value !== undefined) metadata[key] = value;
      }
      // A new alg without an enc takes the default enc, not the previous alg's.
      for (const [alg, enc] of [['id_token_encrypted_response_alg', 'id_token_encrypted_response_enc'], ['userinfo_encrypted_response_alg', 'userinfo_encrypted_response_enc']] as const) {
        if (patch[alg] !== undefined && patch[enc] === undefined) delete metadata[enc];
      }
      metadata = withEncryptionDefaults(metadata);
      if (metadata.token_endpoint_auth_method === 'none' && (metadata.grant_types as string[] | undefined)?.includes('client_credentials')) {
        throw new ValidationError('grant_types: a public client cannot use client_credentials', { grant_types: 'a public client cannot use client_credentials' });
      }
      if (patch.security_profile === 'fapi2') {
        // Turning the profile on sets what it implies; the client must already sign its assertions (oidc/fapi.ts says so otherwise).
        Object.assign(metadata, { require_pushed_authorization_requests: true, dpop_bound_access_tokens: true });
        if (patch.id_token_signed_response_alg === undefined && metadata.id_token_signed_response_alg === undefined) metadata.id_token_signed_response_alg = FAPI2_DEFAULT_ID_TOKEN_ALG;
      }
      if (patch.require_mfa === false) delete metadata.require_mfa;
      if (patch.require_pushed_authorization_requests === false) delete metadata.require_pushed_authorization_requests;
      if (patch.dpop_bound_access_tokens === false) delete metadata.dpop_bound_access_tokens;
      if (patch.grant_types) metadata.response_types = patch.grant_types.includes('authorization_code') ? ['code'] : [];
      if (patch.backchannel_logout_uri !== undefined) {
        if (patch.backchannel_logout_uri === null) delete metadata.backchannel_logout_session_required;
        else metadata.backchannel_logout_session_required = true;
      }
      await validated(validate, { client_id: id, ...(stored.secretDigest ? { client_secret: stored.secretDigest } : {}), ...metadata }, uriPolicy);
      const updated = await clients.update(id, { metadata });
      if (!updated) throw new NotFoundError(`no client with id "${id}"`);
      return { before: toClientView(stored), after: toClientView(updated) };
    },

    async rotateSecret(id) {
      const stored = await find(id);
      if (!stored.secretDigest) {
        throw new ValidationError(stored.metadata.token_endpoint_auth_method === 'private_key_jwt'
          ? `"${id}" signs its assertions with its own key (private_key_jwt): it has no secret to rotate; it rotates its keys in its jwks`
          : `"${id}" is a public client: it has no secret to rotate`);
      }
      const secret = generateClientSecret();
      // The digest only: a metadata change made meanwhile is not written back over.
      const updated = await clients.update(id, { secretDigest: digestClientSecret(secret) });
      if (!updated) throw new NotFoundError(`no client with id "${id}"`);
      return { client: toClientView(updated), client_secret: secret };
    },

    async remove(id) {
      const stored = await find(id);
      if (!(await clients.delete(id))) throw new NotFoundError(`no client with id "${id}"`);
      await deleteIssued(CLIENT_BOUND_MODELS, id);
      return toClientView(stored);
    },

    async nonconforming() {
      return (await clients.list())
        .map((c) => ({ client_id: c.id, fields: clientUriProblems(c.metadata, uriPolicy) }))
        .filter((c) => Object.keys(c.fields).length > 0);
    },
  };
}
