// oidc-provider's configuration, and nothing else. Every option we set is a
// decision; the comment beside it says which rule it follows. Options left
// out keep the library's defaults (lib/helpers/defaults.js upstream).
import { hkdfSync } from 'node:crypto';
import Provider, { errors, interactionPolicy, type AsymmetricSigningAlgorithm, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Config } from '../config.ts';
import { clientSecretMatches } from '../services/client-secrets.ts';
import type { SigningKeys } from '../keys/key-store.ts';
import { organisationOf, rolesOf } from './find-account.ts';
import { accountClient } from './account-client.ts';
import { DPOP_ALGORITHMS } from '../resource-server/index.ts';
import { ACR_VALUES } from '../mfa/sign-in-levels.ts';
import { ENCRYPTION_JWA } from './encryption-algorithms.ts';
import type { MfaPolicy } from '../config.ts';
import { secondFactorCheck } from './second-factor-check.ts';
import type { ApiResourceRecord } from '../repositories/api-resource-repository.ts';
import { API_SCOPES_METADATA } from './api-scopes.ts';
import { apiTokenEncryption, type AccessTokenEncryption } from './api-encryption.ts';
import { assertDpopForRefresh, assertDpopProofFor } from './api-dpop.ts';
import { makeReplayDetectionAtomic } from './replay-detection.ts';
import { SECURITY_PROFILE_METADATA, assertClientAssertion, assertRequestObject, fapiProfileOf, isFapi2, validateSecurityProfile } from './fapi.ts';
import { applyRememberChoice, carryRememberChoice, REMEMBER_ME_CLAIM } from './remember-me.ts';
import { INTROSPECTION_AUDIENCES_METADATA, mayIntrospect, mayRevoke, validateIntrospectionAudiences, type PolicyClient } from './token-policies.ts';

export interface ProviderDependencies {
  config: Config;
  keys: SigningKeys;
  cookieSecrets: string[];
  adapter: NonNullable<Configuration['adapter']>;
  findAccount: NonNullable<Configuration['findAccount']>;
  loadExistingGrant: NonNullable<Configuration['loadExistingGrant']>;
  /** Our pages for what the library would otherwise render itself. */
  pages: ProviderPages;
  /** MFA_POLICY: who must sign in with a second factor (oidc/second-factor-check.ts). */
  mfaPolicy: MfaPolicy;
  /** Registered APIs by resource indicator (services/apis.ts; cached there). */
  apis?: { resourceServer(identifier: string): Promise<ApiResourceRecord | undefined> };
}

export interface ProviderPages {
  /** Errors shown at Tollgate (unknown client, unregistered redirect URI, ...), never sent back to the client. */
  error(ctx: KoaContextWithOIDC, out: { error: string; error_description?: string }): void;
  /** RP-initiated logout's confirmation; `form` is the library's hidden form (with its xsrf token). */
  logout(ctx: KoaContextWithOIDC, form: string): void;
  logoutDone(ctx: KoaContextWithOIDC): void;
}

/**
 * Client metadata: seconds during which the refresh token just rotated away
 * may be presented again (default 0), as Hydra and Auth0 offer: an app with
 * several tabs may retry the token it has just rotated without tripping
 * theft detection. The rule itself is the database's
 * (tollgate_within_reuse_grace, prisma/migrations/*_refresh_token_rotation).
 */
export const REUSE_GRACE_METADATA = 'refresh_token_reuse_grace_seconds';

/** Client metadata: this client's access token lifetime in seconds (default ACCESS_TOKEN_TTL). */
export const ACCESS_TOKEN_TTL_METADATA = 'access_token_lifetime';

/** Client metadata: `true` demands a second factor for every sign-in at this client, whatever MFA_POLICY says (mfa/policy.ts). */
export const REQUIRE_MFA_METADATA = 'require_mfa';

/** Scopes of the API audience. `admin` only reaches tokens of accounts with the admin role (see apiScopesFor). */
export const API_SCOPES = ['basic', 'admin'] as const;

/**
 * OpenID Connect scopes an access token for our API also carries, so that
 * the one JWT a client gets is accepted at userinfo too (as Keycloak and
 * Auth0 do; routes/userinfo.ts), and the token response states them.
 */
const USERINFO_SCOPES = ['openid', 'profile', 'email'] as const;

/**
 * Every scope oidc-provider knows: the `scopes` option below and the scopes
 * of `claims` (the library adds those itself). A registered API's scopes are
 * data (oidc/api-scopes.ts).
 */
export const PROVIDER_SCOPES: readonly string[] = [...new Set(['openid', 'offline_access', ...API_SCOPES, ...USERINFO_SCOPES])];

/** The resource indicator (and `aud`) of tokens for Tollgate's admin API. */
export function adminApiAudience(config: Pick<Config, 'issuer'>): string {
  return `${config.issuer}/admin/v1`;
}

/** Where the interaction (login, consent) pages live, below the issuer's path. */
export function interactionPath(config: Pick<Config, 'issuer'>, uid = ':uid'): string {
  return `${basePath(config)}/interaction/${uid}`;
}

export function basePath(config: Pick<Config, 'issuer'>): string {
  return new URL(config.issuer).pathname.replace(/\/$/, '');
}

export function createProvider(deps: ProviderDependencies): Provider {
  const { config } = deps;
  // An API registered with --encrypt gets nested JWTs encrypted to its key (oidc/api-encryption.ts).
  const encryptionFor = apiTokenEncryption({ allowPrivateNetworkFetch: config.allowPrivateNetworkFetch });
  const accessToken = {
    audience: config.apiAudience,
    accessTokenFormat: 'jwt' as const,
    accessTokenTTL: config.ttl.accessToken,
    // RFC 9068 JWT access token; RFC 8725 §3.1: one algorithm per key, no `none`.
    jwt: { sign: { alg: config.accessTokenSigningAlg } },
  };

  const configuration: Configuration = {
    adapter: deps.adapter,
    // Built in: the account page's client (oidc/account-client.ts). Every other client lives in the database.
    clients: [accountClient(config)],
    findAccount: deps.findAccount,
    jwks: deps.keys.privateJwks as Configuration['jwks'],
    cookies: {
      keys: deps.cookieSecrets,
      long: { httpOnly: true, sameSite: 'lax', signed: true },
      short: { httpOnly: true, sameSite: 'lax', signed: true },
    },
    scopes: ['openid', 'offline_access', ...API_SCOPES],
    // OpenID Connect Discovery §3 acr_values_supported: one factor, or two (mfa/sign-in-levels.ts).
    acrValues: [...ACR_VALUES],
    loadExistingGrant: deps.loadExistingGrant,
    // `first_party: true` marks our own applications: they skip the consent page (oidc/load-existing-grant.ts).
    // `refresh_token_reuse_grace_seconds` lets a client retry its previous refresh token briefly (REUSE_GRACE_METADATA).
    extraClientMetadata: {
      // `introspection_audiences` registers a resource server (oidc/token-policies.ts).
      // `require_mfa: true` demands a second factor for this client's sign-ins (REQUIRE_MFA_METADATA).
      // `security_profile: 'fapi2'`: the FAPI 2.0 Security Profile (oidc/fapi.ts).
      properties: ['first_party', API_SCOPES_METADATA, REUSE_GRACE_METADATA, ACCESS_TOKEN_TTL_METADATA, INTROSPECTION_AUDIENCES_METADATA, REQUIRE_MFA_METADATA, SECURITY_PROFILE_METADATA],
      validator: (_ctx, key, value, metadata) => {
        if (key === INTROSPECTION_AUDIENCES_METADATA) validateIntrospectionAudiences(value, metadata);
        if (key === SECURITY_PROFILE_METADATA) validateSecurityProfile(value, metadata as Record<string, unknown>);
        if (key === 'first_party' && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata('first_party must be a boolean');
        }
        if (key === REQUIRE_MFA_METADATA && value !== undefined && typeof value !== 'boolean') {
          throw new errors.InvalidClientMetadata(`${REQUIRE_MFA_METADATA} must be a boolean`);
        }
        if (key === ACCESS_TOKEN_TTL_METADATA && value !== undefined && !(Number.isInteger(value) && (value as number) >= 60 && (value as number) <= 86_400)) {
          throw new errors.InvalidClientMetadata(`${ACCESS_TOKEN_TTL_METADATA} must be a whole number of seconds from 60 to 86400`);
        }
        if (key === REUSE_GRACE_METADATA && value !== undefined && !(Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 300)) {
          throw new errors.InvalidClientMetadata(`${REUSE_GRACE_METADATA} must be a whole number of seconds from 0 to 300`);
        }
      },
    },
    claims: {
      // With `openid`, every ID token says how the person signed in: `amr`
      // (RFC 8176 "pwd"; "fed" through an upstream provider), which the
      // library otherwise releases only when a client asks for it with the
      // claims parameter; and `idp`, the upstream provider of a social
      // sign-in (oidc/sign-in-method.ts).
      // `acr`: the level, urn:tollgate:sfa or urn:tollgate:mfa (mfa/sign-in-levels.ts).
      // `remember_me`: whether the sign-in was "Keep me signed in" (oidc/remember-me.ts).
      openid: ['sub', 'acr', 'amr', 'idp', REMEMBER_ME_CLAIM],
      email: ['email', 'email_verified'],
      profile: ['name', 'updated_at'],
    },
    // OpenID Connect Core §3.1.2.1: redirect_uri is REQUIRED, even with one registered.
    allowOmittingSingleRegisteredRedirectUri: false,
    // RFC 9700 §2.1.1: the authorization code flow only; no implicit or hybrid.
    responseTypes: ['code'],
    // RFC 9700 §2.1.1 and OAuth 2.1: PKCE for every client, S256 only (the library offers no `plain`).
    pkce: { required: () => true },
    // Secrets are stored as digests (services/client-secrets.ts), so the
    // methods that need the plain secret as an HMAC key are not offered.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    enabledJWA: {
      // RFC 8725 §3.1: an allow-list of asymmetric algorithms, no HS*, never `none`.
      // Only what our keys can sign (keys/key-store.ts: one RS256, one ES256, one Ed25519 key).
      idTokenSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      userinfoSigningAlgValues: ['RS256', 'ES256', 'EdDSA'],
      introspectionSigningAlgValues: ['RS256', 'ES256'],
      authorizationSigningAlgValues: ['RS256', 'ES256'],
      requestObjectSigningAlgValues: ['RS256', 'ES256', 'PS256', 'EdDSA'],
      clientAuthSigningAlgValues: ['RS256', 'ES256', 'PS256', 'EdDSA'],
      // RFC 9449: the proof algorithms the token endpoint takes are the ones
      // every resource server of ours (userinfo, the admin API, the toolkit) checks.
      dPoPSigningAlgValues: [...DPOP_ALGORITHMS] as AsymmetricSigningAlgorithm[],
      // JWE (features.encryption): oidc/encryption-algorithms.ts says which and why.
      ...ENCRYPTION_JWA,
    },
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
    features: {
      // The hosted pages are ours (routes/interaction/); never the library's development forms.
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Who may introspect or revoke what: oidc/token-policies.ts (JWT access tokens: oidc/structured-tokens.ts).
      introspection: { enabled: true, allowedPolicy: (_ctx, client, token) => mayIntrospect(client as unknown as PolicyClient, token) },
      revocation: { enabled: true, allowedPolicy: (_ctx, client, token) => mayRevoke(client as unknown as PolicyClient, token) },
      userinfo: { enabled: true },
      // OpenID Connect Core §10.2: ID tokens and userinfo encrypted to clients
      // that register an encryption alg and their keys; request objects
      // encrypted to Tollgate's `use: enc` keys (keys/key-store.ts).
      encryption: { enabled: true },
      // OpenID Connect Core §5.3.2: userinfo_signed_response_alg (and its
      // encryption) as client metadata; our userinfo route answers with the
      // library's JWT for such clients (oidc/userinfo-response.ts).
      jwtUserinfo: { enabled: true },
      // RFC 9101 (JAR): the `request` parameter, a request object signed by
      // the client's key, optionally encrypted to Tollgate. A FAPI 2.0
      // client's are held to the profile's algorithms (oidc/fapi.ts).
      requestObjects: { enabled: true, assertJwtClaimsAndHeader: (ctx, claims, header, client) => assertRequestObject(claims, header, client, 'PushedAuthorizationRequest' in ctx.oidc.entities) },
      // The FAPI 2.0 Security Profile for clients registered with
      // `security_profile: 'fapi2'` (`clients add --profile fapi2`), and for
      // them only: the library then requires PKCE and redirect_uri, and the
      // issuer as a client assertion's audience (docs/fapi.md).
      fapi: { enabled: true, profile: (_ctx, client) => fapiProfileOf(client) as '2.0' },
      // OpenID Connect Core §5.5: the claims parameter, for an essential `acr` (step-up, issue 16) among others.
      claimsParameter: { enabled: true },
      // OpenID Connect Back-Channel Logout 1.0: clients with a backchannel_logout_uri hear of every ended session.
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => deps.pages.logout(ctx, form),
        postLogoutSuccessSource: (ctx) => deps.pages.logoutDone(ctx),
      },
      // PAR (RFC 9126), on by default in the library; stated here because
      // REQUIRE_PAR turns on §5's "require_pushed_authorization_requests" for
      // every client (discovery then says so), and a client may set it for
      // itself (§6 metadata, `clients add --require-par`). The library's
      // request_uri lives 60 seconds (§2.2 "short-lived") and is consumed
      // when the authorization response is sent (§4 one-time use).
      pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: config.requirePar },
      // DPoP (RFC 9449), on by default in the library. Nonces (§8) are
      // stateless HMACs of the time (lib/helpers/challenge.js): with a secret
      // shared by every instance (dpopNonceSecret), a nonce one instance
      // gave is good at all of them. DPOP_REQUIRE_NONCE makes them mandatory;
      // otherwise a nonce is offered (DPoP-Nonce) and checked when sent.
      // A client registered with `dpop_bound_access_tokens: true` (§5.2,
      // `clients add --require-dpop`) is refused tokens without a proof.
      dPoP: { enabled: true, nonceSecret: dpopNonceSecret(deps.cookieSecrets), requireNonce: () => config.dpopRequireNonce },
      resourceIndicators: {
        enabled: true,
        // A client that names no resource gets a token for our API (RFC 8707 §2).
        defaultResource: () => config.apiAudience,
        useGrantedResource: () => true,
        getResourceServerInfo: async (ctx, resourceIndicator, client) => {
          // A client may have its own, registered access token lifetime.
          const own = (client as unknown as Record<string, unknown>)[ACCESS_TOKEN_TTL_METADATA];
          const lifetime = typeof own === 'number' ? { accessTokenTTL: own } : {};
          if (resourceIndicator === config.apiAudience) return { ...accessToken, ...lifetime, scope: apiScopesFor(ctx).join(' ') };
          // Tollgate's own admin API is a resource of its own (RFC 8707): its
          // tokens are good there only, and an API's tokens never are, so an
          // API that receives an administrator's token cannot replay it here.
          if (resourceIndicator === adminApiAudience(config)) return { ...accessToken, ...lifetime, audience: adminApiAudience(config), scope: 'admin' };
          // An API registered as data (docs/apis.md): its audience, scopes, lifetime and algorithm.
          const api = await deps.apis?.resourceServer(resourceIndicator);
          if (api) {
            // `--require-dpop` (RFC 9449 §5): no proof, no token for this API (oidc/api-dpop.ts).
            if (ctx.oidc.route === 'token') assertDpopProofFor(ctx, api);
            // Only where a token is made: the authorization endpoint asks too, and needs no key.
            const encryption = ctx.oidc.route === 'token' ? await encryptionFor(api) : undefined;
            return registeredApiInfo(api, client, { accessTokenTTL: api.accessTokenTtl ?? (typeof own === 'number' ? own : config.ttl.accessToken) }, encryption);
          }
          throw new errors.InvalidTarget();
        },
      },
    },
    ttl: {
      // The resource server's lifetime carries a client's own (getResourceServerInfo above).
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? config.ttl.accessToken,
      IdToken: config.ttl.idToken,
      AuthorizationCode: 60,
      Interaction: 60 * 60,
      // Sliding within an absolute bound: every save (each use) starts the
      // idle period again, never past the absolute end counted from the sign-in.
      // A sign-in with "Keep me signed in" remembers a session an earlier one did not (oidc/remember-me.ts).
      Session: (ctx, session) => {
        applyRememberChoice(ctx, session);
        return slidingTtl(session.loginTs, config.ttl.session, config.ttl.sessionIdle);
      },
      // A grant lives as long as the longest thing that can use it.
      Grant: Math.max(config.ttl.refreshToken, config.ttl.session),
      // iiat: when the family's first refresh token was issued; rotation carries it over.
      RefreshToken: (_ctx, token) => slidingTtl(token.iiat, config.ttl.refreshToken, config.ttl.refreshTokenIdle),
    },
    // RFC 9700 §4.14.2: rotate on every use, for every client, so a replayed
    // old token betrays theft; the library then revokes the whole grant
    // (lib/actions/grants/refresh_token.js, "refresh token already used").
    // Always true; first, an API's `--require-dpop` is checked before the old token is spent (oidc/api-dpop.ts).
    // Except for FAPI 2.0 clients: the profile asks authorization servers not
    // to rotate (its refresh tokens are bound to a client that proves a
    // private key at every use, so a copied token is useless, and rotation
    // strands a client that loses a response); docs/fapi.md.
    rotateRefreshToken: async (ctx) => {
      if (deps.apis) await assertDpopForRefresh(ctx, (identifier) => deps.apis!.resourceServer(identifier));
      return !isFapi2(ctx.oidc.client);
    },
    // The library's default (a code without offline_access ends with its
    // session), plus the one hook that sees each new code before it is saved:
    // it notes whether the session is remembered (oidc/remember-me.ts).
    expiresWithSession: (ctx, code) => {
      carryRememberChoice(ctx, code);
      return !code.scopes.has('offline_access');
    },
    // private_key_jwt: a FAPI 2.0 client's assertions are held to the profile (oidc/fapi.ts); others as the library checks them.
    assertJwtClientAuthClaimsAndHeader: (_ctx, claims, header, client) => assertClientAssertion(config.issuer, claims, header, client),
    extraTokenClaims: (ctx, token) => {
      // Roles (and the organisation, `org`) travel in user access tokens so
      // resource servers decide without a lookup: an API can limit an admin
      // to the users of their own organisation.
      // `gid` names the grant (token family): when it is revoked (reuse detected,
      // access removed, forced logout), introspection and userinfo see it.
      if (!('accountId' in token) || !token.accountId) return undefined;
      const org = organisationOf(ctx.oidc.account);
      return {
        roles: [...rolesOf(ctx.oidc.account)], ...(org ? { org } : {}), ...('grantId' in token && token.grantId ? { gid: token.grantId } : {}),
        ...signInLevelOf(ctx),
      };
    },
    interactions: { url: (_ctx, interaction) => interactionPath(config, interaction.uid), policy: interactionPolicyOf(deps.mfaPolicy) },
    // oidc-provider hands its SSRF-guarding dispatcher in `options.dispatcher`
    // (lib/helpers/fetch_request.js); leaving it out lets private receivers through.
    ...(config.allowPrivateNetworkFetch ? {
      fetch: (input: string | URL | Request, init?: RequestInit) => {
        const { dispatcher: _guard, ...rest } = (init ?? {}) as RequestInit & { dispatcher?: unknown };
        return globalThis.fetch(input, rest);
      },
    } : {}),
    renderError: (ctx, out) => deps.pages.error(ctx, out as { error: string; error_description?: string }),
    // Cross-origin calls from browsers to the client endpoints (token,
    // revocation, introspection, PAR, userinfo; discovery and JWKS are open
    // to all): allowed from the origin of one of the client's own
    // redirect_uris, for public clients (browser apps, `none`: the ones that
    // call from a page) and for userinfo; never for a confidential client's
    // token calls, whose secret does not belong in a browser. This is the
    // library's default policy (lib/helpers/defaults.js, clientBasedCORS),
    // chosen here rather than inherited: the default prints a notice asking
    // for exactly this decision, as plain text in the middle of the JSON log.
    clientBasedCORS: (ctx, origin, client) => origin !== 'null'
      && (ctx.oidc.route === 'userinfo' || client.clientAuthMethod === 'none')
      && (client.redirectUris ?? []).some((uri) => originOf(uri) === origin),
  };

  const provider = new Provider(config.issuer, configuration);
  provider.proxy = config.trustProxy;

  // Presented secrets are compared with the stored SHA-256 digest, which the
  // client adapter hands the library in place of the secret (adapter.ts).
  // Client#compareClientSecret is awaited by client_auth.js (oidc-provider
  // 9.13, lib/models/client.js:543, lib/shared/client_auth.js:237); the
  // interop tests fail closed if an upgrade renames it.
  provider.Client.prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return Promise.resolve(typeof this.clientSecret === 'string' && clientSecretMatches(this.clientSecret, actual));
  };

  // One conditional write per jti instead of the library's read-then-write (oidc/replay-detection.ts).
  makeReplayDetectionAtomic(provider);

  // Its events are listened to in oidc/events.ts.
  return provider;
}

/**
 * The DPoP nonce secret (32 bytes, as the library demands): derived by HKDF
 * from the first cookie secret, which every instance shares (COOKIE_SECRETS,
 * or the one in KEYS_DIR), never a per-process random one, which would make
 * each instance refuse the others' nonces. Rotating the cookie secrets
 * changes it: a client then hears `use_dpop_nonce` once and retries.
 */
export function dpopNonceSecret(cookieSecrets: readonly string[]): Buffer {
  return Buffer.from(hkdfSync('sha256', cookieSecrets[0]!, Buffer.alloc(0), 'tollgate dpop nonce', 32));
}

/**
 * What oidc-provider needs of a registered API. Its scopes are limited to the
 * ones the client's registered `scope` lists (oidc/api-scopes.ts: the library
 * would not hold a client to them itself); of those, a token carries the ones
 * asked for and granted (the library filters by the request and the grant).
 */
export function registeredApiInfo(api: ApiResourceRecord, client: unknown, lifetime: { accessTokenTTL: number }, encryption?: AccessTokenEncryption) {
  const registered = (client as Record<string, unknown> | undefined)?.[API_SCOPES_METADATA];
  const allowed = new Set(Array.isArray(registered) ? registered as string[] : []);
  return {
    audience: api.identifier,
    scope: api.scopes.filter((scope) => allowed.has(scope)).join(' '),
    accessTokenTTL: lifetime.accessTokenTTL,
    // RFC 9068: a JWT access token, signed with the API's algorithm (one key of each: keys/key-store.ts).
    accessTokenFormat: 'jwt' as const,
    // `encrypt`: signed, then encrypted to the API's key (a nested JWT; oidc/api-encryption.ts).
    jwt: { sign: { alg: api.signingAlg as AsymmetricSigningAlgorithm }, ...(encryption ? { encrypt: encryption } : {}) },
  };
}

/** The origin of an absolute URL (`null` for a custom-scheme one), or undefined when it does not parse. */
function originOf(uri: string): string | undefined {
  try {
    return new URL(uri).origin;
  } catch {
    return undefined;
  }
}

/** Seconds until the earlier of: `idle` from now, or `absolute` after `since` (epoch seconds; now when unknown). */
export function slidingTtl(since: number | undefined, absolute: number, idle: number): number {
  const now = Math.floor(Date.now() / 1000);
  const remaining = (since ?? now) + absolute - now;
  return Math.max(1, Math.min(idle, remaining));
}

/**
 * The API scopes a token may carry, decided at the token endpoint (code
 * exchange, refresh, client credentials), not only on the consent page: an
 * account without the admin role never gets `admin`, whatever its grant says.
 * A client_credentials token has no account; its registered `scope` is its
 * limit (the library enforces that). Elsewhere (the authorization endpoint)
 * every API scope may be asked for; the consent step grants by role.
 */
export function apiScopesFor(ctx: KoaContextWithOIDC): string[] {
  const account = ctx.oidc.account;
  if (ctx.oidc.route === 'token') {
    // No account (client_credentials): no user, so no userinfo scopes.
    if (!account) return [...API_SCOPES];
    if (!rolesOf(account).includes('admin')) return [...USERINFO_SCOPES, 'basic'];
  }
  return [...USERINFO_SCOPES, ...API_SCOPES];
}

/**
 * The library's prompts, with one check more in front of `login`: a session
 * whose account findAccount no longer returns (disabled, deleted, or
 * unverified under REQUIRE_VERIFIED_EMAIL) needs a new sign-in. The library
 * alone counts any session with an accountId as signed in, and its consent
 * checks then fail on the missing grant (a 500), or prompt=none would answer
 * for an account that may no longer sign in.
 */
function interactionPolicyOf(mfaPolicy: MfaPolicy): interactionPolicy.Prompt[] {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.add(new interactionPolicy.Check('account_unavailable', 'End-User authentication is required', 'login_required', (ctx) => (
    ctx.oidc.session?.accountId && !ctx.oidc.account ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT
  )), 0);
  // Last: a session that signed in with one factor where two are asked for (MFA_POLICY, require_mfa, acr_values) is a step-up.
  login.checks.add(secondFactorCheck(mfaPolicy));
  return policy;
}

/**
 * The `acr`, `amr` and `auth_time` of the sign-in behind an access token (RFC 9068 §2.2.1),
 * so that an API can ask for a second factor (the toolkit's requireAcr). The
 * library keeps them on codes and refresh tokens, not on access tokens: they
 * are read from the code or refresh token being exchanged.
 */
function signInLevelOf(ctx: KoaContextWithOIDC): { acr?: string; amr?: string[]; auth_time?: number } {
  const source = (ctx.oidc.entities.AuthorizationCode ?? ctx.oidc.entities.RefreshToken) as { acr?: unknown; amr?: unknown; authTime?: unknown } | undefined;
  if (!source) return {};
  return {
    ...(typeof source.acr === 'string' ? { acr: source.acr } : {}),
    ...(Array.isArray(source.amr) ? { amr: source.amr as string[] } : {}),
    // RFC 9470 §3: with auth_time an API can ask for a recent sign-in (requireAcr({ maxAge })).
    ...(typeof source.authTime === 'number' ? { auth_time: source.authTime } : {}),
  };
}
