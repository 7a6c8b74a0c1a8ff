// The shapes the admin API answers with, as OpenAPI 3.1 components (JSON
// Schema 2020-12). Request bodies are described by their zod schemas instead
// (openapi.ts converts them), which are also what validates them.
import { AUDIT_TYPES } from '../../services/audit.ts';
import { ENCRYPTION_ALGS, ENCRYPTION_ENCS } from '../../oidc/encryption-algorithms.ts';

const string = { type: 'string' };
const time = { type: 'string', format: 'date-time' };
const strings = { type: 'array', items: string };
const nullable = (schema: object) => ({ anyOf: [schema, { type: 'null' }] });

export const COMPONENTS: Record<string, object> = {
  Client: {
    type: 'object',
    description: 'Registered client metadata (RFC 7591 names). Never its secret.',
    required: ['client_id', 'grant_types', 'redirect_uris', 'token_endpoint_auth_method', 'require_mfa', 'require_pushed_authorization_requests', 'dpop_bound_access_tokens', 'created_at'],
    properties: {
      client_id: string,
      client_name: string,
      application_type: { enum: ['web', 'native'], description: 'Absent: web.' },
      grant_types: strings,
      response_types: strings,
      redirect_uris: strings,
      post_logout_redirect_uris: strings,
      token_endpoint_auth_method: { enum: ['client_secret_basic', 'private_key_jwt', 'none'], description: 'private_key_jwt: the client signs an assertion with a key in its jwks (RFC 7523); none: a public client.' },
      security_profile: { enum: ['fapi2'], description: 'The FAPI 2.0 Security Profile: private_key_jwt, PAR and DPoP required, ES256 ID tokens, refresh tokens not rotated (docs/fapi.md).' },
      id_token_signed_response_alg: { enum: ['RS256', 'ES256', 'EdDSA'], description: 'Absent: RS256.' },
      scope: string,
      first_party: { type: 'boolean' },
      require_mfa: { type: 'boolean', description: 'Every sign-in at this client needs a second factor, whatever MFA_POLICY says.' },
      require_pushed_authorization_requests: { type: 'boolean', description: 'RFC 9126 §6: its authorization requests must be pushed first (PAR); REQUIRE_PAR makes it true for all.' },
      dpop_bound_access_tokens: { type: 'boolean', description: 'RFC 9449 §5.2: its token requests must carry a DPoP proof.' },
      backchannel_logout_uri: string,
      access_token_lifetime: { type: 'integer' },
      refresh_token_reuse_grace_seconds: { type: 'integer' },
      introspection_audiences: { ...strings, description: 'A resource server: the audiences whose access tokens it may introspect.' },
      jwks: { type: 'object', required: ['keys'], properties: { keys: { type: 'array', items: { type: 'object' } } }, description: "The client's public keys (RFC 7591)." },
      jwks_uri: { type: 'string', format: 'uri', description: "Where the client publishes its public keys (RFC 7591)." },
      id_token_encrypted_response_alg: { enum: [...ENCRYPTION_ALGS], description: 'ID tokens are signed, then encrypted to the client (OpenID Connect Core §10.2).' },
      id_token_encrypted_response_enc: { enum: [...ENCRYPTION_ENCS] },
      userinfo_encrypted_response_alg: { enum: [...ENCRYPTION_ALGS], description: 'Userinfo answers application/jwt, signed then encrypted (OpenID Connect Core §5.3.2).' },
      userinfo_encrypted_response_enc: { enum: [...ENCRYPTION_ENCS] },
      userinfo_signed_response_alg: { enum: ['RS256', 'ES256', 'EdDSA'], description: 'Userinfo answers a signed JWT.' },
      created_at: time,
    },
  },
  ClientWithSecret: {
    type: 'object',
    required: ['client'],
    properties: {
      client: { $ref: '#/components/schemas/Client' },
      client_secret: { type: 'string', description: 'Shown this once; Tollgate keeps only its SHA-256 digest.' },
    },
  },
  Account: {
    type: 'object',
    required: ['id', 'email', 'email_verified', 'name', 'roles', 'organisation', 'disabled', 'has_password', 'created_at'],
    properties: {
      id: { type: 'string', format: 'uuid' },
      email: { type: 'string', format: 'email' },
      email_verified: { type: 'boolean' },
      name: nullable(string),
      roles: strings,
      organisation: nullable(string),
      disabled: { type: 'boolean' },
      has_password: { type: 'boolean', description: 'False for an account made by a social sign-in whose owner has set no password.' },
      created_at: time,
    },
  },
  LinkedIdentity: {
    type: 'object',
    description: 'An identity at an upstream provider the person signs in with.',
    required: ['provider', 'upstream_sub', 'email', 'email_verified', 'linked_at', 'last_used_at'],
    properties: {
      provider: { type: 'string', description: 'The provider id (/admin/v1/providers).' },
      upstream_sub: { type: 'string', description: "The person's id at the upstream." },
      email: { ...nullable(string), description: 'The e-mail the upstream stated at the last sign-in.' },
      email_verified: { type: 'boolean', description: 'Whether the upstream vouched for that e-mail.' },
      linked_at: time,
      last_used_at: nullable(time),
    },
  },
  Change: {
    type: 'object',
    description: 'The resource before and after the change.',
    required: ['before', 'after'],
    properties: { before: { type: 'object' }, after: { type: 'object' } },
  },
  Sessions: {
    type: 'object',
    required: ['sessions', 'grants'],
    properties: {
      sessions: {
        type: 'array',
        items: {
          type: 'object',
          required: ['uid', 'client_ids'],
          properties: {
            uid: { type: 'string', description: "The session's public handle (never its cookie value)." },
            signed_in_at: nullable(time),
            last_seen_at: nullable(time),
            user_agent: nullable(string),
            ip: nullable(string),
            client_ids: strings,
            remembered: { type: 'boolean', description: '"Keep me signed in": false when the session cookie ends with the browser.' },
          },
        },
      },
      grants: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'client_id', 'scopes'],
          properties: { id: string, client_id: string, scopes: strings, granted_at: nullable(time) },
        },
      },
    },
  },
  LogoutResult: {
    type: 'object',
    properties: {
      sessions: { type: 'integer' }, grants: { type: 'integer' }, refresh_tokens: { type: 'integer' },
      backchannel_notified: { type: 'integer' }, backchannel_failed: { type: 'integer' },
    },
  },
  MfaFactors: {
    type: 'object',
    description: "A person's second factors, without any secret or key material.",
    required: ['totp', 'totp_confirmed_at', 'totp_last_used_at', 'recovery_codes_remaining', 'passkey_count', 'passkeys'],
    properties: {
      totp: { type: 'boolean', description: 'An authenticator app (TOTP) is enrolled and confirmed.' },
      totp_confirmed_at: nullable(time),
      totp_last_used_at: nullable(time),
      recovery_codes_remaining: { type: 'integer', description: 'Unused recovery codes (0 when none were made).' },
      passkey_count: { type: 'integer' },
      passkeys: {
        type: 'array',
        items: {
          type: 'object',
          required: ['id', 'name', 'created_at', 'last_used_at', 'device_type', 'backed_up'],
          properties: {
            id: { type: 'string', description: 'The credential id (as in the audit trail).' },
            name: string,
            created_at: time,
            last_used_at: nullable(time),
            device_type: { enum: ['singleDevice', 'multiDevice'], description: 'multiDevice: a synced passkey.' },
            backed_up: { type: 'boolean' },
          },
        },
      },
    },
  },
  MfaReset: {
    type: 'object',
    required: ['totp', 'recovery_codes', 'passkeys', 'ended'],
    properties: {
      totp: { type: 'boolean', description: 'A TOTP factor (or a pending enrolment) was removed.' },
      recovery_codes: { type: 'boolean', description: 'Recovery codes were removed.' },
      passkeys: { type: 'integer', description: 'Passkeys removed.' },
      ended: { $ref: '#/components/schemas/LogoutResult' },
    },
  },
  AuditEvent: {
    type: 'object',
    required: ['id', 'at', 'type', 'details'],
    properties: {
      id: string,
      at: time,
      type: { enum: [...AUDIT_TYPES] },
      account_id: string,
      client_id: string,
      actor: { type: 'string', description: "Who made an admin change: the admin token's sub." },
      ip: string,
      user_agent: string,
      details: { type: 'object' },
    },
  },
  AuditPage: {
    type: 'object',
    required: ['items', 'next_before'],
    properties: {
      items: { type: 'array', items: { $ref: '#/components/schemas/AuditEvent' } },
      next_before: { ...nullable(string), description: 'Pass as `before` for the next, older page; null on the last.' },
    },
  },
  Error: {
    type: 'object',
    required: ['error', 'error_description'],
    properties: {
      error: string,
      error_description: string,
      fields: { type: 'object', additionalProperties: string, description: 'For invalid_request: each bad field (dotted path) and what is wrong with it.' },
    },
  },
};

export const ref = (name: keyof typeof COMPONENTS & string) => ({ $ref: `#/components/schemas/${name}` });
export const listOf = (name: keyof typeof COMPONENTS & string) => ({
  type: 'object', required: ['items'], properties: { items: { type: 'array', items: ref(name) } },
});
