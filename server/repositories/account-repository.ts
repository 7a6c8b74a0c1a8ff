// People who sign in.
import type { Database } from './database.ts';
import { ConflictError } from '../errors.ts';
import { isUniqueViolation } from './unique-violation.ts';
import { isUuid, storable } from './text.ts';

export interface StoredAccount {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  passwordHash: string;
  roles: string[];
  organisation: string | null;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

export interface NewAccount {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string;
  roles: string[];
  organisation: string | null;
}

export interface AccountRepository {
  /** Throws ConflictError when the e-mail is taken. */
  create(account: NewAccount): Promise<StoredAccount>;
  findById(id: string): Promise<StoredAccount | undefined>;
  findByEmail(email: string): Promise<StoredAccount | undefined>;
  list(filter?: AccountFilter): Promise<StoredAccount[]>;
  /** Changes the given fields; undefined when there is no such account. */
  update(id: string, change: AccountChange): Promise<StoredAccount | undefined>;
}

export interface AccountFilter {
  email?: string;
  organisation?: string;
  limit?: number;
  offset?: number;
}

export type AccountChange = Partial<Pick<StoredAccount, 'name' | 'roles' | 'organisation' | 'disabled' | 'passwordHash'>>;

/** An account row as PostgreSQL returns it (also as `to_jsonb(account)`, where dates are strings). */
export interface AccountRow {
  id: string; email: string; email_verified: boolean; name: string | null; password_hash: string;
  roles: string[] | null; organisation: string | null; disabled: boolean; created_at: Date | string; updated_at: Date | string;
}

/** The one mapping of an account row. */
export const accountFromRow = (r: AccountRow): StoredAccount => ({
  id: r.id, email: r.email, emailVerified: r.email_verified, name: r.name, passwordHash: r.password_hash,
  roles: r.roles ?? [], organisation: r.organisation, disabled: r.disabled, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
});

const COLUMNS = 'id, email, email_verified, name, password_hash, roles, organisation, disabled, created_at, updated_at';

/**
 * Writes go through Prisma; the two lookups on every sign-in and token
 * exchange go straight to the driver (see Database.query).
 */
export function createAccountRepository(db: Pick<Database, 'prisma' | 'query'>): AccountRepository {
  const { prisma } = db;
  const findById = async (id: string) => {
    if (!isUuid(id)) return undefined;
    const [row] = await db.query<AccountRow>(`SELECT ${COLUMNS} FROM account WHERE id = $1`, [id]);
    return row ? accountFromRow(row) : undefined;
  };
  return {
    async create(account) {
      try {
        return await prisma.account.create({ data: account });
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`an account with e-mail "${account.email}" already exists`);
        throw err;
      }
    },
    findById,
    async findByEmail(email) {
      if (!storable(email)) return undefined;
      const [row] = await db.query<AccountRow>(`SELECT ${COLUMNS} FROM account WHERE email = $1`, [email]);
      return row ? accountFromRow(row) : undefined;
    },
    async list(filter = {}) {
      return prisma.account.findMany({
        where: { ...(filter.email ? { email: filter.email } : {}), ...(filter.organisation ? { organisation: filter.organisation } : {}) },
        orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
        ...(filter.limit ? { take: filter.limit } : {}),
        ...(filter.offset ? { skip: filter.offset } : {}),
      });
    },
    async update(id, change) {
      if (!isUuid(id)) return undefined;
      const { count } = await prisma.account.updateMany({ where: { id }, data: { ...change, updatedAt: new Date() } });
      return count ? findById(id) : undefined;
    },
  };
}
