// A minimal cookie-keeping HTTP user agent for protocol tests of the hosted
// pages without a browser: follows redirects by hand (so a test can stop at
// the client's redirect URI) and submits the forms the pages render.
export class UserAgent {
  private readonly jar = new CookieJar();

  /**
   * `headers` go with every request, as a browser's Accept-Language does.
   * `send` carries the requests (a test may route them its own way, e.g. with a forged Host header).
   */
  constructor(private readonly headers: Record<string, string> = {}, private readonly send: typeof fetch = fetch) {}

  /** GET `url`, following redirects until a page answers or `stopAt` is reached; returns the last response and URL. */
  async navigate(url: string, init: RequestInit = {}, stopAt?: string): Promise<{ url: string; status: number; body: string; headers: Headers }> {
    let current = url;
    let request: RequestInit = init;
    for (let hop = 0; hop < 20; hop += 1) {
      if (stopAt && current.startsWith(stopAt)) return { url: current, status: 0, body: '', headers: new Headers() };
      const res = await this.send(current, { ...request, redirect: 'manual', headers: { ...this.headers, ...(request.headers as Record<string, string> | undefined), cookie: this.cookieHeader() } });
      this.store(res.headers);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        current = new URL(location, current).href;
        request = {};
        continue;
      }
      return { url: current, status: res.status, body: await res.text(), headers: res.headers };
    }
    throw new Error('too many redirects');
  }

  /** Submits the form whose action contains `actionPart` on `page`: its hidden inputs (CSRF token) plus `fields`. */
  async submit(page: { url: string; body: string }, actionPart: string, fields: Record<string, string>, stopAt?: string) {
    const forms = [...page.body.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = forms.find((m) => decodeEntities(m[1]!).includes(actionPart));
    if (!form) throw new Error(`no form with action containing ${actionPart} on ${page.url}: ${page.body.slice(0, 500)}`);
    const hidden = Object.fromEntries([...form[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)].map((m) => [m[1]!, decodeEntities(m[2]!)]));
    return this.navigate(new URL(decodeEntities(form[1]!), page.url).href, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ ...hidden, ...fields }).toString(),
    }, stopAt);
  }

  /** One request with this agent's cookies, redirects not followed. */
  async once(url: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.send(url, { ...init, redirect: 'manual', headers: { ...this.headers, ...(init.headers as Record<string, string> | undefined), cookie: this.cookieHeader() } });
    this.store(res.headers);
    return res;
  }

  cookieEntries(): Array<[string, string]> {
    return this.jar.entries();
  }

  private cookieHeader(): string {
    return this.jar.header();
  }

  private store(headers: Headers) {
    this.jar.store(headers);
  }
}

/**
 * A `send` for UserAgent that keeps cookies per host:port, as a browser
 * would: for flows through a second server (an upstream identity provider),
 * which may use the same cookie names (two oidc-providers: `_interaction`,
 * `_session`) that one shared jar would mix up.
 */
export function hostScopedFetch(): typeof fetch {
  const jars = new Map<string, CookieJar>();
  return (async (input: string | URL | Request, init: RequestInit = {}) => {
    const host = new URL(input instanceof Request ? input.url : input).host;
    const jar = jars.get(host) ?? new CookieJar();
    jars.set(host, jar);
    const res = await fetch(input, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), cookie: jar.header() } });
    jar.store(res.headers);
    return res;
  }) as typeof fetch;
}

/** Cookies by name, as Set-Cookie gave them (no domain or path: one site's). */
class CookieJar {
  private readonly cookies = new Map<string, string>();
  entries(): Array<[string, string]> {
    return [...this.cookies];
  }
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  store(headers: Headers) {
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

/** Text as the page's HTML escaped it (Eta's escaping, and &#x2F;), read back. */
export function decodeEntities(s: string): string {
  return s.replace(/&#x2F;/g, '/').replace(/&#39;/g, "'").replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}
