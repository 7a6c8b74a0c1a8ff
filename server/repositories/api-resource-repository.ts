// APIs (resource servers) as data (issue 17): rows of api_resource, as the
// API service (services/apis.ts) writes them and the token endpoint reads
// them (oidc/configuration.ts, getResourceServerInfo). Every token request
// that names a resource looks one up, so the whole table is read once and
// reused for LIST_CACHE_TTL_MS; a change drops it here and on every other
// instance (invalidation.ts).
import { ConflictError } from '../errors.ts';
import type { Database } from './database.ts';
import { localInvalidation, type CacheInvalidation } from './invalidation.ts';
import { isUuid, storable } from './text.ts';
import { isUniqueViolation } from './unique-violation.ts';

export interface ApiResourceRecord {
  readonly id: string;
  /** The resource indicator (RFC 8707) and the tokens' `aud`. */
  readonly identifier: string;
  readonly name: string;
  readonly scopes: readonly string[];
  /** Seconds; null: the server's ACCESS_TOKEN_TTL. */
  readonly accessTokenTtl: number | null;
  readonly signingAlg: string;
  readonly requireDpop: boolean;
  /** The API's public encryption keys, a JWK Set; or null. */
  readonly jwks: { keys: Array<Record<string, unknown>> } | null;
  readonly jwksUri: string | null;
  readonly encrypt: boolean;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type NewApiResource = Omit<ApiResourceRecord, 'createdAt' | 'updatedAt'>;

/** Everything but the id may change; undefined leaves a field as it is, null clears a nullable one. */
export type ApiResourceChange = Partial<Omit<NewApiResource, 'id'>>;

export interface ApiResourceRepository {
  /** Throws ConflictError when the identifier is taken. */
  insert(api: NewApiResource): Promise<ApiResourceRecord>;
  find(id: string): Promise<ApiResourceRecord | undefined>;
  /** By resource indicator, from the cached table (at most LIST_CACHE_TTL_MS old on another instance whose message was lost). */
  findByIdentifier(identifier: string): Promise<ApiResourceRecord | undefined>;
  /** Every API, by identifier (and the cache refilled). */
  list(): Promise<ApiResourceRecord[]>;
  /** Every registered API's scopes, from the cache, synchronously (for client metadata validation); refilled in the background when old. */
  cachedScopes(): ReadonlySet<string>;
  /** The API after the change; undefined when there is none. ConflictError when the new identifier is taken. */
  update(id: string, change: ApiResourceChange): Promise<ApiResourceRecord | undefined>;
  /** The API removed; undefined when there was none. */
  remove(id: string): Promise<ApiResourceRecord | undefined>;
}

interface Row {
  id: string; identifier: string; name: string; scopes: string[]; access_token_ttl: number | null; signing_alg: string;
  require_dpop: boolean; jwks: ApiResourceRecord['jwks'] | string | null; jwks_uri: string | null; encrypt: boolean; created_at: Date; updated_at: Date;
}

const COLUMNS = 'id, identifier, name, scopes, access_token_ttl, signing_alg, require_dpop, jwks, jwks_uri, encrypt, created_at, updated_at';

const toRecord = (r: Row): ApiResourceRecord => ({
  id: r.id, identifier: r.identifier, name: r.name, scopes: [...r.scopes], accessTokenTtl: r.access_token_ttl, signingAlg: r.signing_alg,
  requireDpop: r.require_dpop, jwks: typeof r.jwks === 'string' ? JSON.parse(r.jwks) as ApiResourceRecord['jwks'] : r.jwks,
  jwksUri: r.jwks_uri, encrypt: r.encrypt, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
});

/** The columns a change may set, by the record's names. */
const CHANGE_COLUMNS: Record<keyof ApiResourceChange, string> = {
  identifier: 'identifier', name: 'name', scopes: 'scopes', accessTokenTtl: 'access_token_ttl', signingAlg: 'signing_alg',
  requireDpop: 'require_dpop', jwks: 'jwks', jwksUri: 'jwks_uri', encrypt: 'encrypt',
};

/** jsonb goes in as text: both drivers would otherwise send a JS array or object in their own way. */
const bind = (key: keyof ApiResourceChange, value: unknown) => (key === 'jwks' && value !== null ? JSON.stringify(value) : value);
const placeholder = (key: keyof ApiResourceChange, n: number) => (key === 'jwks' ? `$${n}::jsonb` : key === 'scopes' ? `$${n}::text[]` : `$${n}`);

/**
 * How long the table is reused at the token endpoint: it changes only when
 * an operator changes an API, which every instance hears of at once
 * (invalidation.ts); the time bounds a missed message.
 */
const LIST_CACHE_TTL_MS = 30_000;

export function createApiResourceRepository(db: Pick<Database, 'query' | 'execute'>, invalidation: CacheInvalidation = localInvalidation()): ApiResourceRepository {
  let cached: { byIdentifier: Map<string, ApiResourceRecord>; until: number } | undefined;
  // Kept across invalidations until the refill lands: a client naming an API's scope must stay valid meanwhile.
  let scopes: ReadonlySet<string> = new Set();
  const selectAll = async () => {
    const records = (await db.query<Row>(`SELECT ${COLUMNS} FROM api_resource ORDER BY identifier`)).map(toRecord);
    cached = { byIdentifier: new Map(records.map((r) => [r.identifier, r])), until: Date.now() + LIST_CACHE_TTL_MS };
    scopes = new Set(records.flatMap((r) => r.scopes));
    return records;
  };
  const refill = () => { selectAll().catch(() => { /* the next read tries again */ }); };
  invalidation.subscribe('api', () => { cached = undefined; refill(); });
  const changed = async <T>(id: string, result: T): Promise<T> => {
    cached = undefined;
    await invalidation.publish('api', id);
    await selectAll().catch(() => {});
    return result;
  };
  const find = async (id: string) => {
    if (!isUuid(id)) return undefined;
    const [row] = await db.query<Row>(`SELECT ${COLUMNS} FROM api_resource WHERE id = $1`, [id]);
    return row && toRecord(row);
  };
  const conflictOn = (identifier: string | undefined, err: unknown): never => {
    if (isUniqueViolation(err)) throw new ConflictError(`an API with identifier "${identifier}" already exists`);
    throw err;
  };
  return {
    async insert(a) {
      try {
        const [row] = await db.query<Row>(
          `INSERT INTO api_resource (id, identifier, name, scopes, access_token_ttl, signing_alg, require_dpop, jwks, jwks_uri, encrypt, updated_at)
           VALUES ($1, $2, $3, $4::text[], $5, $6, $7, $8::jsonb, $9, $10, now()) RETURNING ${COLUMNS}`,
          [a.id, a.identifier, a.name, [...a.scopes], a.accessTokenTtl, a.signingAlg, a.requireDpop, bind('jwks', a.jwks), a.jwksUri, a.encrypt],
        );
        return await changed(a.id, toRecord(row!));
      } catch (err) {
        return conflictOn(a.identifier, err);
      }
    },
    find,
    async findByIdentifier(identifier) {
      if (!storable(identifier)) return undefined;
      if (!cached || cached.until <= Date.now()) await selectAll();
      return cached!.byIdentifier.get(identifier);
    },
    list: selectAll,
    cachedScopes() {
      if (!cached || cached.until <= Date.now()) refill();
      return scopes;
    },
    async update(id, change) {
      if (!isUuid(id)) return undefined;
      const entries = Object.entries(change).filter(([, value]) => value !== undefined) as Array<[keyof ApiResourceChange, unknown]>;
      if (entries.length === 0) return find(id);
      const sets = entries.map(([key], i) => `${CHANGE_COLUMNS[key]} = ${placeholder(key, i + 2)}`);
      try {
        const [row] = await db.query<Row>(
          `UPDATE api_resource SET ${sets.join(', ')}, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
          [id, ...entries.map(([key, value]) => bind(key, key === 'scopes' ? [...(value as string[])] : value))],
        );
        return await changed(id, row && toRecord(row));
      } catch (err) {
        return conflictOn(change.identifier, err);
      }
    },
    async remove(id) {
      if (!isUuid(id)) return undefined;
      const [row] = await db.query<Row>(`DELETE FROM api_resource WHERE id = $1 RETURNING ${COLUMNS}`, [id]);
      return changed(id, row && toRecord(row));
    },
  };
}
