// Calling Tollgate as an operator's script does: tokens at /token with
// client_secret_basic (admin tokens for the admin API's own resource), and
// JSON requests to /admin/v1.
import { adminResource } from './sign-in.ts';

type Json = Record<string, any>;
export interface ApiResponse { status: number; headers: Headers; text: string; body: Json }

export function basicAuth(id: string, secret: string): string {
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

export function adminCalls(t: { issuer: string }) {
  /** POST /token with client_secret_basic; the raw answer. */
  const tokenRequest = async (clientId: string, secret: string, params: Record<string, string>) => {
    const res = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: basicAuth(clientId, secret), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(params),
    });
    return { status: res.status, body: (await res.json()) as { access_token?: string; error?: string } };
  };
  /** client_credentials; `admin` is asked for the admin API's own resource (RFC 8707), other scopes for the default API. */
  const machineToken = (clientId: string, secret: string, scope: string) =>
    tokenRequest(clientId, secret, { grant_type: 'client_credentials', scope, ...(scope === 'admin' ? { resource: adminResource(t) } : {}) });
  /** One admin API call; `json` is sent as application/json, `body` with `type` as given. */
  const api = async (method: string, path: string, options: { token?: string; json?: unknown; body?: string; type?: string } = {}): Promise<ApiResponse> => {
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (options.json !== undefined) headers['content-type'] = 'application/json';
    if (options.type) headers['content-type'] = options.type;
    const res = await fetch(`${t.issuer}/admin/v1${path}`, { method, headers, body: options.json !== undefined ? JSON.stringify(options.json) : options.body });
    const text = await res.text();
    return { status: res.status, headers: res.headers, text, body: (text ? JSON.parse(text) : undefined) as Json };
  };
  return { tokenRequest, machineToken, api };
}
