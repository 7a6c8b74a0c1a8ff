// What the BFF tells the app's onError about a failure.

/**
 * What `onError` is given: a copy of the error with its name, message,
 * stack and OAuth fields, never its `cause`: openid-client's errors can
 * carry the whole token response there (a refresh token included), and the
 * app's log is no place for it.
 */
export function reportable(err: unknown): Error {
  if (!(err instanceof Error)) return new Error(`tollgate/bff: a non-Error value was thrown (${typeof err})`);
  const copy = new Error(err.message) as Error & Record<string, unknown>;
  copy.name = err.name;
  copy.stack = err.stack;
  for (const field of ['code', 'error', 'error_description', 'status']) {
    const value = (err as unknown as Record<string, unknown>)[field];
    if (typeof value === 'string' || typeof value === 'number') copy[field] = value;
  }
  return copy;
}
