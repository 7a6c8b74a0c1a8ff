// The BFF's answers: JSON (or a redirect), never cached (RFC 9111 §5.2.2.5
// no-store: they carry tokens or say who is signed in), never sniffed.
import type { ServerResponse } from 'node:http';

function commonHeaders(res: ServerResponse, cookies: readonly string[]) {
  res.setHeader('cache-control', 'no-store');
  res.setHeader('pragma', 'no-cache');
  res.setHeader('x-content-type-options', 'nosniff');
  if (cookies.length > 0) res.setHeader('set-cookie', [...cookies]);
}

export function sendJson(res: ServerResponse, status: number, body: unknown, cookies: readonly string[] = [], headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  commonHeaders(res, cookies);
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.statusCode = status;
  res.end(text);
}

/** 303 See Other: the browser follows with a GET. */
export function redirect(res: ServerResponse, location: string, cookies: readonly string[] = []): void {
  commonHeaders(res, cookies);
  res.setHeader('location', location);
  res.setHeader('content-length', 0);
  res.statusCode = 303;
  res.end();
}

/** An OAuth-style error body (RFC 6749 §5.2 names). */
export function sendError(res: ServerResponse, status: number, error: string, description: string, cookies: readonly string[] = [], extra: Record<string, unknown> = {}): void {
  sendJson(res, status, { ...extra, error, error_description: description }, cookies);
}
