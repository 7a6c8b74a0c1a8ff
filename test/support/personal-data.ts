// What is left of a person in the database: every table whose rows hold a
// given value anywhere in their text (JSON payloads included), for the
// account deletion tests.
import type { TestTollgate } from './tollgate.ts';

/** The tables with a row whose text holds `value`, by name. */
export async function tablesHolding(t: TestTollgate, value: string): Promise<string[]> {
  const tables = await t.tollgate.database.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY table_name",
  );
  const holding: string[] = [];
  for (const { table_name: table } of tables) {
    const [row] = await t.tollgate.database.query<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" r WHERE strpos(r::text, $1) > 0`, [value]);
    if (row!.n > 0) holding.push(table);
  }
  return holding;
}
