// People who sign in.
import type { PrismaClient } from '../generated/prisma/client.ts';
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
}

export interface AccountRepository {
  /** Throws ConflictError when the e-mail is taken. */
  create(account: NewAccount): Promise<StoredAccount>;
  findById(id: string): Promise<StoredAccount | undefined>;
  findByEmail(email: string): Promise<StoredAccount | undefined>;
  list(): Promise<StoredAccount[]>;
}

export function createAccountRepository(prisma: PrismaClient): AccountRepository {
  return {
    async create(account) {
      try {
        return await prisma.account.create({ data: account });
      } catch (err) {
        if (isUniqueViolation(err)) throw new ConflictError(`an account with e-mail "${account.email}" already exists`);
        throw err;
      }
    },
    async findById(id) {
      if (!isUuid(id)) return undefined;
      return (await prisma.account.findUnique({ where: { id } })) ?? undefined;
    },
    async findByEmail(email) {
      if (!storable(email)) return undefined;
      return (await prisma.account.findUnique({ where: { email } })) ?? undefined;
    },
    async list() {
      return prisma.account.findMany({ orderBy: { createdAt: 'asc' } });
    },
  };
}
