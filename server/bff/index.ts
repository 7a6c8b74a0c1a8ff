// tollgate/bff: a backend-for-frontend (token-mediating backend) for browser
// apps, OAuth 2.0 for Browser-Based Applications §6.1. Depends on jose and
// openid-client only (the Koa adapter is typed by the shape it uses);
// imports nothing of Tollgate's, and works with any OpenID Connect provider.
export { createBff, type Bff } from './bff.ts';
export type { BffOptions, PrivateKeyInput } from './options.ts';
export { BFF_HEADER } from './same-origin.ts';
export { createMemoryStore, endedSessionKey, endedSubjectKey, type BffStore } from './store.ts';
export { createRedisStore, type RedisCommands } from './redis-store.ts';
export { bffMiddleware } from './koa.ts';
