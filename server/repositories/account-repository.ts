// People who sign in. Every statement goes straight to the driver (see
// Database.query): the two lookups run on every sign-in and token exchange,
// and one query style keeps the row mapped in one place (accountFromRow).
import type { Database } from './database.ts';
import { ConflictError } from '../errors.ts';
import { isUniqueViolation } from './unique-violation.ts';
import { isUuid, storable } from './text.ts';

export interface StoredAccount {
  id: string;
  email: string;
  emailVerified: boolean;
  name: string | null;
  /** Null for an account made by a social sign-in until its owner sets a password. */
  passwordHash: string | null;
  roles: string[];
  organisation: string | null;
  disabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** An account as a sign-in reads it (AccountRepository.findForSignIn). */
export interface SignInAccount extends StoredAccount {
  hasSecondFactor: boolean;
}

export interface NewAccount {
  id: string;
  email: string;
  name: string | null;
  passwordHash: string | null;
  roles: string[];
  organisation: string | null;
  /** A social sign-in may create an account whose address the upstream vouched for. */
  emailVerified?: boolean;
}

export interface AccountRepository {
  /** Throws ConflictError when the e-mail is taken. */
  create(account: NewAccount): Promise<StoredAccount>;
  findById(id: string): Promise<StoredAccount | undefined>;
  findByEmail(email: string): Promise<StoredAccount | undefined>;
  /**
   * The account a sign-in is about, with whether it has a second factor (a
   * confirmed authenticator app or a passkey), in the same statement: the
   * sign-in decides on the second step without another read.
   */
  findForSignIn(by: { email: string } | { id: string }): Promise<SignInAccount | undefined>;
  list(filter?: AccountFilter): Promise<StoredAccount[]>;
  /** Changes the given fields; undefined when there is no such account. */
  update(id: string, change: AccountChange): Promise<StoredAccount | undefined>;
  /**
   * A new, verified address (a confirmed change: the person opened a link
   * sent to it). Throws ConflictError when another account has it by now;
   * undefined when there is no such account.
   */
  setEmail(id: string, email: string): Promise<StoredAccount | undefined>;
  /** Removes the account row (its link tokens go with it: ON DELETE CASCADE); false when there was none. */
  delete(id: string): Promise<boolean>;
}

export interface AccountFilter {
  email?: string;
  organisation?: string;
  limit?: number;
  offset?: number;
}

export type AccountChange = Partial<Pick<StoredAccount, 'name' | 'roles' | 'organisation' | 'disabled' | 'passwordHash' | 'emailVerified'>>;

/** An account row as PostgreSQL returns it (also as `to_jsonb(account)`, where dates are strings). */
export interface AccountRow {
  id: string; email: string; email_verified: boolean; name: string | null; password_hash: string | null;
  roles: string[] | null; organisation: string | null; disabled: boolean; created_at: Date | string; updated_at: Date | string;
}

/** The one mapping of an account row. */
export const accountFromRow = (r: AccountRow): StoredAccount => ({
  id: r.id, email: r.email, emailVerified: r.email_verified, name: r.name, passwordHash: r.password_hash,
  roles: r.roles ?? [], organisation: r.organisation, disabled: r.disabled, createdAt: new Date(r.created_at), updatedAt: new Date(r.updated_at),
});

const COLUMNS = 'id, email, email_verified, name, password_hash, roles, organisation, disabled, created_at, updated_at';

/** The columns AccountChange may set, by field. */
const CHANGEABLE: Record<keyof AccountChange, string> = {
  name: 'name', roles: 'roles', organisation: 'organisation', disabled: 'disabled', passwordHash: 'password_hash',
  emailVerified: 'email_verified',
};

export function createAccountRepository(db: Pick<Database, 'query'>): AccountRepository {
  const findOne = async (column: 'id' | 'email', value: string) => {
    const [row] = await db.query<AccountRow>(`SELECT ${COLUMNS} FROM account WHERE ${column} = $1`, [value]);
    return row ? accountFromRow(row) : undefined;
  };
  return {
    async create(account) {
      try {
        const [row] = await db.query<AccountRow>(
          `INSERT INTO account (id, email, name, password_hash, roles, organisation, email_verified, updated_at)
           VALUES ($1, $2, $3, $4, $5::text[], $6, $7, now()) RETURNING ${COLUMNS}`,
          [account.id, account.email, account.name, account.passwordHash, account.roles, account.organisation, account.emailVerified ?? false],
        );
        return accountFromRow(row!);
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`an account with e-mail "${account.email}" already exists`);
        throw err;
      }
    },
    findById: async (id) => (isUuid(id) ? findOne('id', id) : undefined),
    findByEmail: async (email) => (storable(email) ? findOne('email', email) : undefined),
    async findForSignIn(by) {
      const [column, value] = 'email' in by ? ['email', by.email] : ['id', by.id];
      if (column === 'email' ? !storable(value) : !isUuid(value)) return undefined;
      const [row] = await db.query<AccountRow & { has_second_factor: boolean }>(
        `SELECT ${COLUMNS},
                EXISTS (SELECT 1 FROM totp_factor f WHERE f.account_id = account.id AND f.secret_encrypted IS NOT NULL)
             OR EXISTS (SELECT 1 FROM webauthn_credential w WHERE w.account_id = account.id) AS has_second_factor
           FROM account WHERE ${column} = $1`,
        [value],
      );
      return row ? { ...accountFromRow(row), hasSecondFactor: row.has_second_factor } : undefined;
    },
    async list(filter = {}) {
      // An empty filter value or a zero limit or offset means "none", as before.
      const rows = await db.query<AccountRow>(
        `SELECT ${COLUMNS} FROM account
          WHERE ($1::text IS NULL OR email = $1) AND ($2::text IS NULL OR organisation = $2)
          ORDER BY created_at, id LIMIT $3::int OFFSET $4::int`,
        [filter.email || null, filter.organisation || null, filter.limit || null, filter.offset || 0],
      );
      return rows.map(accountFromRow);
    },
    async update(id, change) {
      if (!isUuid(id)) return undefined;
      const fields = (Object.keys(CHANGEABLE) as Array<keyof AccountChange>).filter((field) => change[field] !== undefined);
      const set = fields.map((field, i) => `${CHANGEABLE[field]} = $${i + 2}${field === 'roles' ? '::text[]' : ''}`);
      const [row] = await db.query<AccountRow>(
        `UPDATE account SET ${[...set, 'updated_at = now()'].join(', ')} WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, ...fields.map((field) => change[field])],
      );
      return row ? accountFromRow(row) : undefined;
    },
    async setEmail(id, email) {
      if (!isUuid(id) || !storable(email)) return undefined;
      try {
        const [row] = await db.query<AccountRow>(
          `UPDATE account SET email = $2, email_verified = true, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
          [id, email],
        );
        return row ? accountFromRow(row) : undefined;
      } catch (err) {
        // No address in the message: it reaches pages and logs.
        if (isUniqueViolation(err)) throw new ConflictError('another account uses this e-mail address');
        throw err;
      }
    },
    async delete(id) {
      if (!isUuid(id)) return false;
      return (await db.query<{ id: string }>('DELETE FROM account WHERE id = $1 RETURNING id', [id])).length > 0;
    },
  };
}
