// What each page template receives, as one example each: rendered once per
// language at start (views.ts), so that a theme's template that throws is
// found before the first visitor meets it. Keep in step with the routes that
// render them (routes/interaction/, routes/account*.ts, routes/password-reset.ts, views/pages.ts) and
// with docs/theming.md. Every page also receives `lang`, `t`, `assetsPath`,
// `logoUrl` and `themeStylesheetUrl` (views.ts); the layout receives the
// page's data plus `title` and `body` (the rendered page, raw).
import type { PAGE_TEMPLATES } from './theme.ts';

type Page = Exclude<(typeof PAGE_TEMPLATES)[number], 'layout'>;

const csrf = 'sample-csrf-token';
const base = '/interaction/sample-uid';

export const PAGE_SAMPLES: Readonly<Record<Page, Record<string, unknown>>> = {
  login: { action: `${base}/login`, signupAction: `${base}/signup`, forgotHref: '/account/forgot-password?ui_locales=en&interaction=sample-uid', clientName: 'Sample App', csrf, login: 'ada@example.test', error: 'Sample error', providers: [{ id: 'kakao', label: 'Continue with Kakao', action: `${base}/federated/kakao` }], passkeyAction: `${base}/passkey`, passkeyOptions: '{"challenge":"c2FtcGxl"}', remember: true, scripts: ['webauthn.js', 'remember-me.js'] },
  'federated-link': {
    provider: 'Kakao', email: 'ada@example.test', action: `${base}/federated/link`, hasPassword: true,
    others: [{ label: 'Continue with Google', action: `${base}/federated/google` }], cancelHref: base, csrf, error: 'Sample error', remember: true,
  },
  'mfa-challenge': {
    action: `${base}/second-factor`, abortAction: `${base}/abort`, csrf, clientName: 'Sample App', totp: true, recovery: true,
    passkeyOptions: '{"challenge":"c2FtcGxl","allowCredentials":[]}', stepUp: false, error: 'Sample error', scripts: ['webauthn.js'],
  },
  'mfa-enrol': {
    clientName: 'Sample App', totpHref: `${base}/enrol/totp`, passkeyAction: `${base}/enrol/passkey`, passkeyOptions: '{"challenge":"c2FtcGxl"}',
    abortAction: `${base}/abort`, csrf, scripts: ['webauthn.js'],
  },
  signup: { action: `${base}/signup`, loginHref: base, clientName: 'Sample App', csrf, name: 'Ada', login: 'ada@example.test', error: 'Sample error', remember: false },
  consent: { action: `${base}/confirm`, abortAction: `${base}/abort`, clientName: 'Sample App', email: 'ada@example.test', csrf, scopes: ['openid', 'email', 'unknown-scope'] },
  account: {
    base: '/account',
    email: 'ada@example.test',
    csrf,
    emailVerified: false,
    verifyAction: '/account/verify-email/send',
    sessions: [
      { id: 'uid-1', current: true, device: 'Firefox on Linux', ip: '192.0.2.1', signedInAt: '1 Jan 2026, 10:00 UTC', lastSeen: '2 Jan 2026, 10:00 UTC', apps: 'Sample App', remembered: true },
      { id: 'uid-2', current: false, remembered: false },
    ],
    grants: [{ id: 'grant-1', clientName: 'Sample App', scopes: ['openid', 'email'], grantedAt: '1 Jan 2026, 10:00 UTC' }],
    profile: { name: 'Ada', emailChange: true, message: 'Sample message', error: 'Sample error' },
    identities: {
      linked: [{ provider: 'kakao', label: 'Kakao', email: 'ada@example.test', linkedAt: '1 Jan 2026, 10:00 UTC', lastUsed: '2 Jan 2026, 10:00 UTC', unlinkAction: '/account/identities/kakao/unlink', canUnlink: true }],
      available: [{ provider: 'google', label: 'Google', action: '/account/identities/google/link' }],
      message: 'Sample message', error: 'Sample error',
    },
    mfa: {
      totp: { since: '1 Jan 2026, 10:00 UTC', lastUsed: '2 Jan 2026, 10:00 UTC' },
      setupHref: '/account/mfa/totp', removeTotpAction: '/account/mfa/totp/remove',
      recoveryCodes: { remaining: 9, of: 10 }, canGenerateCodes: true, generateCodesAction: '/account/mfa/recovery-codes',
      passkeys: [{
        id: 'c2FtcGxl', index: 0, name: 'Work laptop', createdAt: '1 Jan 2026, 10:00 UTC', lastUsed: '2 Jan 2026, 10:00 UTC', synced: true,
        renameAction: '/account/mfa/passkeys/c2FtcGxl/rename', removeAction: '/account/mfa/passkeys/c2FtcGxl/remove',
      }],
      passkeyNameMax: 64, addPasskeyHref: '/account/mfa/passkeys/new', message: 'Sample message',
    },
  },
  error: { error: 'invalid_request', message: 'Sample message' },
  // `form`: oidc-provider's own (escaped by it), rendered raw.
  logout: { form: '<form id="op.logoutForm" method="post" action="/session/end/confirm"><input type="hidden" name="xsrf" value="sample"/></form>', host: 'id.example.test', clientName: 'Sample App' },
  'logout-done': {},
  notice: { title: 'Sample title', message: 'Sample message', link: { href: '/account', label: 'Sample link' } },
  'forgot-password': { action: '/account/forgot-password', csrf, locale: 'en', email: 'ada@example.test', interaction: 'sample-uid', backHref: base, error: 'Sample error' },
  'reset-password': { action: '/account/reset-password', csrf, locale: 'en', token: 'sample-token', error: 'Sample error' },
  'verify-email': { action: '/account/verify-email', token: 'sample-link-token', csrf, email: 'ada@example.test' },
  'mfa-totp-setup': {
    action: '/account/mfa/totp', csrf, groupedSecret: 'ABCD EFGH IJKL MNOP QRST UVWX YZ23 4567', error: 'Sample error', cancelHref: '/account',
    svg: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 29 29"><path stroke="#000000" d="M4 4.5h7"/></svg>',
  },
  'mfa-recovery-codes': { codes: ['ABCD-EFGH-JKMN-PQRS', 'TVWX-YZ23-4567-89AB'], continueHref: '/account', continueAction: `${base}/continue`, csrf },
  'mfa-passkey-add': { action: '/account/mfa/passkeys', csrf, options: '{"challenge":"c2FtcGxl","rp":{"name":"Tollgate"}}', error: 'Sample error', cancelHref: '/account' },
  'account-confirm': { title: 'Sample title', message: 'Sample message', action: '/account/delete', hidden: { csrf }, password: 'Password', button: 'Sample button', danger: true, error: 'Sample error', cancel: { href: '/account', label: 'Back' } },
};
