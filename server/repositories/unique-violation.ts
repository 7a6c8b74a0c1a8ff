import { Prisma } from '../generated/prisma/client.ts';

/** True when a write failed on a unique constraint (Prisma's P2002), the one database error callers can act on. */
export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002';
}
