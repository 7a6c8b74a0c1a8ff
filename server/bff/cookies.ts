// Reading the Cookie header and writing Set-Cookie (RFC 6265bis). The BFF's
// cookies are HttpOnly (no script reads them), SameSite=Strict (no cross-
// site request carries them), scoped to the BFF's path (the app's own pages
// and APIs never receive them), with no Domain (host-only), and Secure
// unless the app runs on http://localhost (development and tests).

/** The first value of each cookie in a Cookie header. */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (!header) return cookies;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (name && !cookies.has(name)) cookies.set(name, value);
  }
  return cookies;
}

export interface CookieAttributes {
  path: string;
  secure: boolean;
  /** Strict for the session; Lax for the sign-in in progress, which must survive the redirect back from the authorization server. */
  sameSite: 'Strict' | 'Lax';
  /** Seconds; absent: a browser-session cookie, gone when the browser closes. */
  maxAge?: number;
}

export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  const parts = [`${name}=${value}`, `Path=${attributes.path}`, 'HttpOnly', `SameSite=${attributes.sameSite}`];
  if (attributes.secure) parts.push('Secure');
  if (attributes.maxAge !== undefined) parts.push(`Max-Age=${Math.max(0, Math.floor(attributes.maxAge))}`);
  return parts.join('; ');
}

/** A Set-Cookie that deletes the cookie (empty, expired in 1970, Max-Age=0). */
export function clearedCookie(name: string, attributes: Omit<CookieAttributes, 'maxAge'>): string {
  return `${serializeCookie(name, '', { ...attributes, maxAge: 0 })}; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
}

/**
 * Browsers keep a cookie of at most 4096 bytes, name, value and attributes
 * together (RFC 6265bis §5.6); a longer one is silently dropped.
 */
export const MAX_COOKIE_BYTES = 4096;
