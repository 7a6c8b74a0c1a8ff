// Upstream identity providers (issue 15): rows of upstream_provider, as the
// federation service (server/federation/providers.ts) reads and writes them.
// The client secret arrives and leaves encrypted: this layer never sees it
// in the clear. Removal keeps the linked_identity rule of the schema: a
// provider with linked identities is refused (ON DELETE RESTRICT) unless the
// caller asks to unlink them, which then happens in the same statement.
import { ConflictError } from '../errors.ts';
import type { Database } from './database.ts';
import { localInvalidation, type CacheInvalidation } from './invalidation.ts';
import { storable } from './text.ts';
import { isUniqueViolation } from './unique-violation.ts';

/** What RESTRICT raises: foreign_key_violation (23503) up to PostgreSQL 16, restrict_violation (23001) from 17 (the embedded database). */
const REFERENCED_ROW_VIOLATIONS = new Set(['23503', '23001']);

export interface UpstreamProviderRecord {
  readonly id: string;
  readonly type: string;
  readonly name: string;
  readonly issuer: string | null;
  readonly clientId: string;
  /** A compact JWE (server/federation/secret-box.ts); never the secret itself. */
  readonly clientSecretEncrypted: string;
  readonly scope: string;
  readonly authorizationEndpoint: string | null;
  readonly tokenEndpoint: string | null;
  readonly userinfoEndpoint: string | null;
  readonly jwksUri: string | null;
  readonly autoCreate: boolean;
  readonly enabled: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type NewUpstreamProvider = Omit<UpstreamProviderRecord, 'createdAt' | 'updatedAt'>;

/** What may change after creation; the type, issuer and endpoints are the provider's identity: remove and add again. */
export type UpstreamProviderChange = Partial<Pick<UpstreamProviderRecord, 'name' | 'scope' | 'enabled' | 'autoCreate' | 'clientSecretEncrypted' | 'clientId'>>;

/** The provider still has linked identities, and the caller did not ask to unlink them. */
export class ProviderInUseError extends ConflictError {
  constructor(id: string, readonly linkedIdentities: number) {
    super(`provider "${id}" has ${linkedIdentities} linked identit${linkedIdentities === 1 ? 'y' : 'ies'}: disable it instead, or remove it with its links (people who signed in only through it then need a password reset)`);
  }
}

export interface UpstreamProviderRepository {
  /** Throws ConflictError when the id is taken. */
  insert(provider: NewUpstreamProvider): Promise<UpstreamProviderRecord>;
  find(id: string): Promise<UpstreamProviderRecord | undefined>;
  /** Every provider, by id. */
  list(): Promise<UpstreamProviderRecord[]>;
  /** The provider after the change; undefined when there is none. */
  update(id: string, change: UpstreamProviderChange): Promise<UpstreamProviderRecord | undefined>;
  /**
   * Deletes the provider; undefined when there is none. With linked
   * identities: ProviderInUseError, unless `unlinkIdentities`, which deletes
   * them in the same transaction (and reports how many).
   */
  remove(id: string, options: { unlinkIdentities: boolean }): Promise<{ removed: UpstreamProviderRecord; unlinked: number } | undefined>;
}

interface Row {
  id: string; type: string; name: string; issuer: string | null; client_id: string; client_secret_encrypted: string; scope: string;
  authorization_endpoint: string | null; token_endpoint: string | null; userinfo_endpoint: string | null; jwks_uri: string | null;
  auto_create: boolean; enabled: boolean; created_at: Date; updated_at: Date;
}

const COLUMNS = `id, type, name, issuer, client_id, client_secret_encrypted, scope, authorization_endpoint, token_endpoint,
  userinfo_endpoint, jwks_uri, auto_create, enabled, created_at, updated_at`;

const toRecord = (r: Row): UpstreamProviderRecord => ({
  id: r.id, type: r.type, name: r.name, issuer: r.issuer, clientId: r.client_id, clientSecretEncrypted: r.client_secret_encrypted, scope: r.scope,
  authorizationEndpoint: r.authorization_endpoint, tokenEndpoint: r.token_endpoint, userinfoEndpoint: r.userinfo_endpoint, jwksUri: r.jwks_uri,
  autoCreate: r.auto_create, enabled: r.enabled, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
});

/** The columns a change may set, by the record's names. */
const CHANGE_COLUMNS: Record<keyof UpstreamProviderChange, string> = {
  name: 'name', scope: 'scope', enabled: 'enabled', autoCreate: 'auto_create', clientSecretEncrypted: 'client_secret_encrypted', clientId: 'client_id',
};

/**
 * How long the list of providers is reused: every login page shows it (its
 * buttons), and it changes only when an operator changes a provider, which
 * every instance hears of at once (invalidation.ts); the time bounds a
 * missed message.
 */
const LIST_CACHE_TTL_MS = 30_000;

export function createUpstreamProviderRepository(db: Pick<Database, 'query' | 'execute'>, invalidation: CacheInvalidation = localInvalidation()): UpstreamProviderRepository {
  let listed: { records: UpstreamProviderRecord[]; until: number } | undefined;
  invalidation.subscribe('provider', () => { listed = undefined; });
  const changed = async <T>(id: string, result: T): Promise<T> => {
    listed = undefined;
    await invalidation.publish('provider', id);
    return result;
  };
  const find = async (id: string) => {
    if (!storable(id)) return undefined;
    const [row] = await db.query<Row>(`SELECT ${COLUMNS} FROM upstream_provider WHERE id = $1`, [id]);
    return row && toRecord(row);
  };
  return {
    async insert(p) {
      try {
        const [row] = await db.query<Row>(
          `INSERT INTO upstream_provider (id, type, name, issuer, client_id, client_secret_encrypted, scope, authorization_endpoint,
             token_endpoint, userinfo_endpoint, jwks_uri, auto_create, enabled, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, now()) RETURNING ${COLUMNS}`,
          [p.id, p.type, p.name, p.issuer, p.clientId, p.clientSecretEncrypted, p.scope, p.authorizationEndpoint, p.tokenEndpoint,
            p.userinfoEndpoint, p.jwksUri, p.autoCreate, p.enabled],
        );
        return await changed(p.id, toRecord(row!));
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`a provider with id "${p.id}" already exists`);
        throw err;
      }
    },
    find,
    async list() {
      if (listed && listed.until > Date.now()) return [...listed.records];
      const records = (await db.query<Row>(`SELECT ${COLUMNS} FROM upstream_provider ORDER BY id`)).map(toRecord);
      listed = { records, until: Date.now() + LIST_CACHE_TTL_MS };
      return [...records];
    },
    async update(id, change) {
      if (!storable(id)) return undefined;
      const entries = Object.entries(change).filter(([, value]) => value !== undefined) as Array<[keyof UpstreamProviderChange, unknown]>;
      if (entries.length === 0) return find(id);
      const sets = entries.map(([key], i) => `${CHANGE_COLUMNS[key]} = $${i + 2}`);
      const [row] = await db.query<Row>(
        `UPDATE upstream_provider SET ${sets.join(', ')}, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, ...entries.map(([, value]) => value)],
      );
      return changed(id, row && toRecord(row));
    },
    async remove(id, { unlinkIdentities }) {
      if (!storable(id)) return undefined;
      // One statement each way, so no transaction has to be held open (the
      // embedded database is one connection that every request shares).
      // Unlinking: the CTE's DELETE and the provider's run as one statement,
      // and RESTRICT is checked at its end, when the links are gone. Not
      // unlinking: RESTRICT refuses if a link exists, even one made an
      // instant before, which is then reported as in use.
      try {
        const rows = await db.query<Row & { unlinked: number }>(unlinkIdentities
          ? `WITH unlinked AS (DELETE FROM linked_identity WHERE provider_id = $1 RETURNING 1)
             DELETE FROM upstream_provider WHERE id = $1 RETURNING ${COLUMNS}, (SELECT count(*)::int FROM unlinked) AS unlinked`
          : `DELETE FROM upstream_provider WHERE id = $1 RETURNING ${COLUMNS}, 0 AS unlinked`, [id]);
        const [row] = rows;
        return changed(id, row && { removed: toRecord(row), unlinked: row.unlinked });
      } catch (err) {
        if (!REFERENCED_ROW_VIOLATIONS.has(String((err as { code?: unknown }).code))) throw err;
        const [{ n } = { n: 0 }] = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM linked_identity WHERE provider_id = $1', [id]);
        throw new ProviderInUseError(id, n);
      }
    },
  };
}
