// `npm run docs:config`: writes the README's configuration table from the
// option declarations in server/config.ts, where each option is documented
// once (as oidc-provider writes docs/README.md from lib/helpers/defaults.js).
// `--check` writes nothing and fails when the README differs;
// test/unit/config-docs.test.ts makes the same check in every test run.
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { z } from 'zod';
import { CONFIG_OPTIONS, type ConfigOption } from '../server/config.ts';

export const README = fileURLToPath(new URL('../README.md', import.meta.url));
export const TABLE_START = '<!-- generated from server/config.ts by `npm run docs:config`: edit the options there -->';
export const TABLE_END = '<!-- end of generated configuration table -->';

const DAY = 86_400;
const cell = (text: string) => text.replaceAll('|', '\\|');

function shownDefault(option: ConfigOption): string {
  if (option.shown) return option.shown;
  if (!(option.schema instanceof z.ZodDefault)) return '*(unset)*';
  const value: unknown = option.schema.def.defaultValue;
  const days = option.seconds && typeof value === 'number' && value >= DAY && value % DAY === 0 ? ` (${value / DAY} d)` : '';
  return `\`${String(value)}\`${days}`;
}

/** The configuration table, one row per option in declaration order. */
export function configTable(options: Record<string, ConfigOption> = CONFIG_OPTIONS): string {
  return [
    '| Variable | Default | Meaning | Why this default |',
    '|---|---|---|---|',
    ...Object.entries(options).map(([name, o]) => `| \`${name}\` | ${cell(shownDefault(o))} | ${cell(o.meaning)} | ${cell(o.why ?? '')} |`),
  ].join('\n');
}

/** The README with the table between the markers replaced. Throws when the markers are missing. */
export function withConfigTable(readme: string, table = configTable()): string {
  const start = readme.indexOf(TABLE_START);
  const end = readme.indexOf(TABLE_END);
  if (start < 0 || end < start) throw new Error(`README.md: the configuration table's markers are missing (${TABLE_START} … ${TABLE_END})`);
  return `${readme.slice(0, start + TABLE_START.length)}\n${table}\n${readme.slice(end)}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const current = await readFile(README, 'utf8');
  const next = withConfigTable(current);
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('README.md: the configuration table differs from server/config.ts; run npm run docs:config');
      process.exitCode = 1;
    }
  } else if (next !== current) {
    await writeFile(README, next);
    console.log('README.md: configuration table written');
  } else {
    console.log('README.md: configuration table up to date');
  }
}
