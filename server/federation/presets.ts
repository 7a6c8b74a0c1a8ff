// What Tollgate knows of each kind of upstream provider (issue 15, point 1):
// the protocol it speaks, its endpoints, default scopes and display name.
// An `oidc` provider is any OpenID Connect issuer (endpoints from its
// discovery document, OpenID Connect Discovery 1.0 §4); google and kakao are
// OpenID Connect issuers too; github and naver speak OAuth 2.0 only (no ID
// token): the sign-in flow reads the person from their user APIs. Every
// endpoint can be overridden per provider (GitHub Enterprise, tests).

export const PROVIDER_TYPES = ['oidc', 'google', 'github', 'kakao', 'naver'] as const;
export type ProviderType = (typeof PROVIDER_TYPES)[number];

export interface Endpoints {
  readonly authorizationEndpoint?: string;
  readonly tokenEndpoint?: string;
  readonly userinfoEndpoint?: string;
  readonly jwksUri?: string;
}

export interface Preset extends Endpoints {
  /** oidc: ID tokens, discovery from the issuer; oauth2: a user API gives the profile. */
  readonly protocol: 'oidc' | 'oauth2';
  /** The display name when none is given. */
  readonly name?: string;
  /** The name Korean pages use while the display name is the preset's own. */
  readonly koreanName?: string;
  readonly issuer?: string;
  /** Asked for when the provider gives no --scope. */
  readonly scope: string;
}

export const PRESETS: Readonly<Record<ProviderType, Preset>> = {
  oidc: { protocol: 'oidc', scope: 'openid email profile' },
  // https://developers.google.com/identity/openid-connect/openid-connect (discovery at the issuer).
  google: { protocol: 'oidc', name: 'Google', koreanName: '구글', issuer: 'https://accounts.google.com', scope: 'openid email profile' },
  // https://developers.kakao.com/docs/latest/en/kakaologin/utilize#oidc: OpenID Connect when enabled in the app's
  // settings; the e-mail is a consent item of its own (account_email), the name another (profile_nickname).
  kakao: { protocol: 'oidc', name: 'Kakao', koreanName: '카카오', issuer: 'https://kauth.kakao.com', scope: 'openid account_email profile_nickname' },
  // https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps: no ID token; the person is
  // GET /user, the verified primary address GET /user/emails (user:email), beside it.
  github: {
    protocol: 'oauth2', name: 'GitHub', koreanName: '깃허브', scope: 'read:user user:email',
    authorizationEndpoint: 'https://github.com/login/oauth/authorize',
    tokenEndpoint: 'https://github.com/login/oauth/access_token',
    userinfoEndpoint: 'https://api.github.com/user',
  },
  // https://developers.naver.com/docs/login/api/api.md: no ID token; the person is GET /v1/nid/me. Naver takes no
  // scope parameter (the fields shared are chosen in the application's settings): the default asks for none.
  naver: {
    protocol: 'oauth2', name: 'Naver', koreanName: '네이버', scope: '',
    authorizationEndpoint: 'https://nid.naver.com/oauth2.0/authorize',
    tokenEndpoint: 'https://nid.naver.com/oauth2.0/token',
    userinfoEndpoint: 'https://openapi.naver.com/v1/nid/me',
  },
};

/**
 * GitHub's e-mail addresses API sits beside its user API: /user → /user/emails,
 * for github.com and GitHub Enterprise (/api/v3/user → /api/v3/user/emails)
 * alike, so an overridden user API moves it too.
 */
export function githubEmailsEndpoint(userinfoEndpoint: string): string {
  return `${userinfoEndpoint.replace(/\/+$/, '')}/emails`;
}

/** The path of the redirect URI every provider's sign-in returns to, below the issuer (the contract with the sign-in flow). */
export function federatedCallbackPath(providerId: string): string {
  return `/interaction/federated/${providerId}/callback`;
}

/** The redirect URI to register at the upstream for this provider. */
export function federatedRedirectUri(issuer: string, providerId: string): string {
  return `${issuer}${federatedCallbackPath(providerId)}`;
}

/**
 * The provider's name on a page in `locale`: an operator's own display name
 * as they wrote it; a preset's in the page's language ("Continue with Kakao",
 * "카카오로 계속하기").
 */
export function providerLabel(provider: { type: string; name: string }, locale: string): string {
  const preset = PRESETS[provider.type as ProviderType] as Preset | undefined;
  return locale === 'ko' && preset?.koreanName && provider.name === preset.name ? preset.koreanName : provider.name;
}

/**
 * Korean's "with X" particle: 로 after a vowel or ㄹ, 으로 after any other
 * final consonant; (으)로 when the name does not end in Hangul.
 */
export function koreanWithParticle(name: string): string {
  // An empty name has no last character: NaN, which no comparison below would catch.
  const code = (name.trim().at(-1)?.charCodeAt(0) ?? -1) - 0xac00;
  if (code < 0 || code > 11171) return `${name}(으)로`;
  const final = code % 28;
  return `${name}${final === 0 || final === 8 ? '로' : '으로'}`;
}
