// Whether a write failed on a unique constraint: the one database error
// callers can act on (a taken id or e-mail answers 409). Known by PostgreSQL's
// SQLSTATE 23505 (unique_violation), which pg and PGlite both report as
// `code`; every repository writes through one of them.

/** SQLSTATE unique_violation (PostgreSQL, Appendix A). */
const UNIQUE_VIOLATION = '23505';

export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === UNIQUE_VIOLATION;
}
