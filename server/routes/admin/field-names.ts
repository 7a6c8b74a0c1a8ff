// The admin API speaks snake_case (RFC 7591's style); the services take
// camelCase. One translation both ways per resource: the request body into
// the service's names, and the service's refusals back into the names the
// caller sent, so a 400 points at the field as it was written.
import { ZodError } from 'zod';
import { ValidationError } from '../../errors.ts';

export function fieldNames(apiNameOf: Record<string, string>) {
  const serviceNameOf = Object.fromEntries(Object.entries(apiNameOf).map(([service, api]) => [api, service]));
  const api = (field: string) => apiNameOf[field] ?? field;
  return {
    /** The body with the service's names. */
    toService: (body: Record<string, unknown>) => Object.fromEntries(Object.entries(body).map(([key, value]) => [serviceNameOf[key] ?? key, value])),
    /** Runs a service call, reporting each bad field by the name the caller sent. */
    async withApiNames<T>(call: () => Promise<T>): Promise<T> {
      try {
        return await call();
      } catch (err) {
        if (err instanceof ZodError) throw new ZodError(err.issues.map((issue) => ({ ...issue, path: [api(String(issue.path[0])), ...issue.path.slice(1)] })));
        if (err instanceof ValidationError && err.fields) {
          const named = Object.fromEntries(Object.entries(err.fields).map(([field, problem]) => [api(field), problem]));
          const [first] = Object.entries(named);
          throw new ValidationError(first ? `${first[0]}: ${first[1]}` : err.message, named);
        }
        throw err;
      }
    },
  };
}
