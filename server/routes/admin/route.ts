// One admin API operation, declared once: its method and path, what it takes
// (zod schemas for the query and the JSON body) and what it answers. The
// router (admin/index.ts) and the OpenAPI document (admin/openapi.ts) are both
// built from these declarations, so the document cannot drift from the routes.
import type { Context } from 'koa';
import { z } from 'zod';
import type { AuthState } from '../../resource-server/index.ts';

export interface AdminState extends AuthState {
  /** A person's organisation as it is now (set by the admin guard), not as their token says. */
  organisation?: string;
}

export type AdminContext = Context & { state: AdminState; params: Record<string, string> };

export interface AdminRoute<Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType> {
  method: 'get' | 'post' | 'patch' | 'delete';
  /** koa-router syntax, below /admin/v1: `/users/:id`. */
  path: string;
  summary: string;
  tag: 'clients' | 'users' | 'audit' | 'providers' | 'apis';
  query?: Q;
  body?: B;
  /** Status → description and a JSON Schema (or a component name) of the body. */
  responses: Record<number, { description: string; schema?: object | string }>;
  handle(ctx: AdminContext, input: { query: z.output<Q>; body: z.output<B> }): Promise<void>;
}

/** Keeps each route's handler typed by its own schemas. */
export function route<Q extends z.ZodType = z.ZodType, B extends z.ZodType = z.ZodType>(r: AdminRoute<Q, B>): AdminRoute {
  return r as unknown as AdminRoute;
}

/** A text filter from the query string: bounded, and no control characters (NUL cannot even reach PostgreSQL). */
export function queryText(max: number) {
  return z.string().max(max).regex(/^[^\p{Cc}]*$/u, 'must not contain control characters');
}
