// CSRF tokens for the hosted pages' forms, bound to the interaction: an
// HMAC of its uid under the cookie-signing secrets. Stateless, unguessable
// without the secret, useless for any other interaction. (SameSite=Lax
// cookies already keep cross-site posts out; this is the second lock.)
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Csrf {
  tokenFor(bindTo: string): string;
  verify(bindTo: string, token: unknown): boolean;
}

export function createCsrf(secrets: readonly string[]): Csrf {
  const mac = (secret: string, bindTo: string) => createHmac('sha256', secret).update(`tollgate-csrf:${bindTo}`).digest();
  return {
    tokenFor: (bindTo) => mac(secrets[0]!, bindTo).toString('base64url'),
    verify(bindTo, token) {
      if (typeof token !== 'string' || token.length > 100) return false;
      const presented = Buffer.from(token, 'base64url');
      // Every secret still configured verifies, so rotating COOKIE_SECRETS does not break open forms.
      return secrets.some((secret) => {
        const expected = mac(secret, bindTo);
        return presented.length === expected.length && timingSafeEqual(presented, expected);
      });
    },
  };
}
