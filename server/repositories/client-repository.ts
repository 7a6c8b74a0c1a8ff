// Registered OAuth clients. Metadata is stored as the RFC 7591 JSON object
// oidc-provider validates; the secret only as a SHA-256 digest. Every token
// request reads its client (through the cache below), so the SQL goes
// straight to the driver (see Database.query), as in every repository here.
import type { Database } from './database.ts';
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
const CLIENT_CACHE_TTL_MS = 1_000;
const CLIENT_CACHE_MAX_ENTRIES = 10_000;

/** PostgreSQL's jsonb cannot hold NUL: refused as bad input rather than failing as a database error. */
function assertStorable(metadata: ClientMetadata): void {
  if (JSON.stringify(metadata).includes('\\u0000')) throw new UnstorableValueError();
}

interface Row { id: string; metadata: ClientMetadata; secret_digest: string | null; created_at: Date }

const COLUMNS = 'id, metadata, secret_digest, created_at';

const toStored = (r: Row): StoredClient => ({ id: r.id, metadata: r.metadata, secretDigest: r.secret_digest, createdAt: new Date(r.created_at) });

export function createClientRepository(db: Pick<Database, 'query' | 'execute'>, invalidation: CacheInvalidation = localInvalidation(), cacheTtlMs = CLIENT_CACHE_TTL_MS): ClientRepository {
  // Only found clients are cached, so unknown ids cannot fill it; a Map keeps
  // insertion order, which makes evicting the oldest entry O(1).
  const cache = new Map<string, { client: StoredClient; until: number }>();
  // A change made through any instance reaches every instance's cache at once (pub/sub with Redis).
  invalidation.subscribe('client', (id) => cache.delete(id));
  const changed = (id: string) => invalidation.publish('client', id);

  return {
    async create({ id, metadata, secretDigest }) {
      assertStorable(metadata);
      try {
        const [row] = await db.query<Row>(
          `INSERT INTO client (id, metadata, secret_digest, updated_at) VALUES ($1, $2::jsonb, $3, now()) RETURNING ${COLUMNS}`,
          [id, JSON.stringify(metadata), secretDigest],
        );
        await changed(id);
        return toStored(row!);
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
      const [row] = await db.query<Row>(`SELECT ${COLUMNS} FROM client WHERE id = $1`, [id]);
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
      return (await db.query<Row>(`SELECT ${COLUMNS} FROM client ORDER BY created_at`)).map(toStored);
    },
    async update(id, change) {
      if (!storable(id)) return undefined;
      if (change.metadata) assertStorable(change.metadata);
      // $3: whether to set the digest (it may be set to null).
      const [row] = await db.query<Row>(
        `UPDATE client SET metadata = COALESCE($2::jsonb, metadata),
                secret_digest = CASE WHEN $3::boolean THEN $4::text ELSE secret_digest END, updated_at = now()
          WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, change.metadata ? JSON.stringify(change.metadata) : null, change.secretDigest !== undefined, change.secretDigest ?? null],
      );
      if (!row) return undefined;
      await changed(id);
      return toStored(row);
    },
    async delete(id) {
      if (!storable(id)) return false;
      const count = await db.execute('DELETE FROM client WHERE id = $1', [id]);
      await changed(id);
      return count > 0;
    },
  };
}
