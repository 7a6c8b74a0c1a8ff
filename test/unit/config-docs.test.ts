// The README's configuration table is generated from server/config.ts: it
// may not drift from the options the server actually reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { CONFIG_OPTIONS, loadConfig } from '../../server/config.ts';
import { configTable, README, withConfigTable } from '../../scripts/docs-config.ts';

test('the README\'s configuration table is the one config.ts generates (npm run docs:config)', async () => {
  const readme = await readFile(README, 'utf8');
  assert.equal(readme, withConfigTable(readme), 'README.md differs from server/config.ts: run npm run docs:config');
});

test('every option has a row, with the default the server applies', () => {
  const table = configTable();
  const rows = table.split('\n').slice(2);
  assert.deepEqual(rows.map((r) => r.split(' | ')[0]!.slice(3, -1)), Object.keys(CONFIG_OPTIONS));
  const config = loadConfig({});
  assert.match(table, new RegExp(`\\| \`PORT\` \\| \`${config.port}\` \\|`));
  assert.match(table, new RegExp(`\\| \`REFRESH_TOKEN_TTL\` \\| \`${config.ttl.refreshToken}\` \\(30 d\\) \\|`));
  assert.match(table, /\| `HOST` \| \*\(all interfaces\)\* \|/);
});

test('the defaults written by hand (derived from other options) say what loadConfig derives', () => {
  const table = configTable();
  const shown = (name: string) => table.split('\n').find((row) => row.startsWith(`| \`${name}\` |`))?.split(' | ')[1]?.replaceAll('`', '');
  const port = '4321';
  const config = loadConfig({ PORT: port });
  const issuer = shown('ISSUER')!.replace('$PORT', port);
  assert.equal(config.issuer, issuer);
  assert.equal(config.apiAudience, shown('API_AUDIENCE')!.replace('$ISSUER', issuer));
  assert.equal(config.host, undefined, 'HOST unset: every interface');
});

test('without its markers the README is refused, not rewritten', () => {
  assert.throws(() => withConfigTable('# no table here'), /markers are missing/);
});
