// PostgreSQL text cannot hold NUL (U+0000): a query binding one fails with
// error 22021 instead of finding nothing. Lookups by a value with NUL, which
// no stored row can have, answer "not found" without asking the database.
export function storable(value: string): boolean {
  return !value.includes('\u0000');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Whether `value` can be compared with a uuid column (anything else is a database error, not a miss). */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
