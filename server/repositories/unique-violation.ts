// Whether a write failed on a unique constraint: the one database error
// callers can act on (a taken id or e-mail answers 409). Known by PostgreSQL's
// SQLSTATE 23505 (unique_violation), which pg and PGlite both report as
// `code`; Prisma's client reports the same error as P2002, with the SQLSTATE
// as `originalCode` on its driver-adapter cause, should a write go through it.

/** SQLSTATE unique_violation (PostgreSQL, Appendix A). */
const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  const e = err as { code?: unknown; originalCode?: unknown; cause?: unknown };
  if (e.code === UNIQUE_VIOLATION || e.code === 'P2002' || e.originalCode === UNIQUE_VIOLATION) return true;
  return isUniqueViolation(e.cause, depth + 1);
}
