// Registered OAuth clients. Metadata is stored as the RFC 7591 JSON object
// oidc-provider validates; the secret only as a SHA-256 digest.
import type { PrismaClient, Prisma } from '../generated/prisma/client.ts';
import { ConflictError, UnstorableValueError } from '../errors.ts';
import { isUniqueViolation } from './unique-violation.ts';
import { storable } from './text.ts';
import { localInvalidation, type CacheInvalidation } from './invalidation.ts';

export type ClientMetadata = Record<string, unknown>;

export interface StoredClient {
  id: string;
  metadata: ClientMetadata;
  /** Lower-case hex SHA-256 of the secret; absent for public clients. */
  secretDigest: string | null;
  createdAt: Date;
}

export interface ClientRepository {
  /** Throws ConflictError when the id is taken. */
  create(client: { id: string; metadata: ClientMetadata; secretDigest: string | null }): Promise<StoredClient>;
  find(id: string): Promise<StoredClient | undefined>;
  list(): Promise<StoredClient[]>;
  /** Replaces what is given (the metadata, the secret digest); undefined when there is no such client. */
  update(id: string, change: { metadata?: ClientMetadata; secretDigest?: string | null }): Promise<StoredClient | undefined>;
  /** false when there was no such client. */
  delete(id: string): Promise<boolean>;
}

/**
 * How long a client read from the database is reused. Every token request
 * authenticates its client, and the read would otherwise be most of the cost
 * of a client_credentials grant. A change (a rotated secret, a deleted
 * client) is announced to every instance (invalidation.ts); should the
 * announcement be lost, one second still bounds how long it takes.
 */
export const CLIENT_CACHE_TTL_MS = 1_000;
const CLIENT_CACHE_MAX_ENTRIES = 10_000;

/** PostgreSQL's jsonb cannot hold NUL: refused as bad input rather than failing as a database error. */
function assertStorable(metadata: ClientMetadata): void {
  if (JSON.stringify(metadata).includes('\\u0000')) throw new UnstorableValueError();
}

export function createClientRepository(prisma: PrismaClient, invalidation: CacheInvalidation = localInvalidation(), cacheTtlMs = CLIENT_CACHE_TTL_MS): ClientRepository {
  // Only found clients are cached, so unknown ids cannot fill it; a Map keeps
  // insertion order, which makes evicting the oldest entry O(1).
  const cache = new Map<string, { client: StoredClient; until: number }>();
  // A change made through any instance reaches every instance's cache at once (pub/sub with Redis).
  invalidation.subscribe('client', (id) => cache.delete(id));
  const changed = (id: string) => invalidation.publish('client', id);
  const toStored = (row: { id: string; metadata: unknown; secretDigest: string | null; createdAt: Date }): StoredClient => ({
    id: row.id, metadata: row.metadata as ClientMetadata, secretDigest: row.secretDigest, createdAt: row.createdAt,
  });

  return {
    async create({ id, metadata, secretDigest }) {
      assertStorable(metadata);
      try {
        const created = toStored(await prisma.client.create({ data: { id, metadata: metadata as Prisma.InputJsonValue, secretDigest } }));
        await changed(id);
        return created;
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`a client with id "${id}" already exists`);
        throw err;
      }
    },
    async find(id) {
      if (!storable(id)) return undefined;
      const now = Date.now();
      const hit = cache.get(id);
      if (hit && hit.until > now) return hit.client;
      const row = await prisma.client.findUnique({ where: { id } });
      if (!row) {
        cache.delete(id);
        return undefined;
      }
      const client = toStored(row);
      if (cacheTtlMs > 0) {
        cache.delete(id);
        if (cache.size >= CLIENT_CACHE_MAX_ENTRIES) cache.delete(cache.keys().next().value!);
        cache.set(id, { client, until: now + cacheTtlMs });
      }
      return client;
    },
    async list() {
      return (await prisma.client.findMany({ orderBy: { createdAt: 'asc' } })).map(toStored);
    },
    async update(id, change) {
      if (!storable(id)) return undefined;
      if (change.metadata) assertStorable(change.metadata);
      const { count } = await prisma.client.updateMany({
        where: { id },
        data: {
          ...(change.metadata ? { metadata: change.metadata as Prisma.InputJsonValue } : {}),
          ...(change.secretDigest !== undefined ? { secretDigest: change.secretDigest } : {}),
        },
      });
      if (!count) return undefined;
      await changed(id);
      const row = await prisma.client.findUnique({ where: { id } });
      return row ? toStored(row) : undefined;
    },
    async delete(id) {
      if (!storable(id)) return false;
      const { count } = await prisma.client.deleteMany({ where: { id } });
      await changed(id);
      return count > 0;
    },
  };
}
