// What one request to oidc-provider has already read or decided, for the
// adapter and findAccount to share. The library runs every request inside
// an AsyncLocalStorage whose store is the request's context (Provider.ctx,
// lib/helpers/initialize_app.js upstream), so no hooks of our own are needed:
// entries hang off that context and go with it.
import Provider from 'oidc-provider';

type Entries = Map<string, unknown>;

const scopes = new WeakMap<object, Entries>();

function current(): Entries | undefined {
  const ctx = Provider.ctx;
  if (!ctx) return undefined;
  let entries = scopes.get(ctx);
  if (!entries) {
    entries = new Map();
    scopes.set(ctx, entries);
  }
  return entries;
}

/** Keeps `value` for this request (a no-op outside one). */
export function keepForRequest(key: string, value: unknown): void {
  current()?.set(key, value);
}

/**
 * Takes what this request kept under `key`, once: `{ value }` when kept
 * (value may be undefined: "known not to exist"), undefined when not.
 */
export function takeFromRequest<T>(key: string): { value: T | undefined } | undefined {
  const entries = current();
  if (!entries?.has(key)) return undefined;
  const value = entries.get(key) as T | undefined;
  entries.delete(key);
  return { value };
}

/** The grant type of the token request in progress, if any. */
export function currentGrantType(): string | undefined {
  const grantType = (Provider.ctx?.oidc?.params as { grant_type?: unknown } | undefined)?.grant_type;
  return typeof grantType === 'string' ? grantType : undefined;
}

/**
 * takeFromRequest for provider middleware (`provider.use`), which runs
 * outside the library's AsyncLocalStorage and so names the request itself.
 */
export function takeFromContext<T>(ctx: object, key: string): { value: T | undefined } | undefined {
  const entries = scopes.get(ctx);
  if (!entries?.has(key)) return undefined;
  const value = entries.get(key) as T | undefined;
  entries.delete(key);
  return { value };
}
