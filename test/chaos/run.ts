// `npm run chaos`: the long form of the chaos scenario (test/chaos/scenario.ts),
// loopback only, bounded in time and requests. Prints the figures and exits
// non-zero on any violation. CHAOS_SECONDS, CHAOS_FAMILIES, CHAOS_RACE
// change the defaults.
import { runChaos, summarise } from './scenario.ts';

const number = (name: string, fallback: number) => Number(process.env[name] ?? fallback);

const report = await runChaos({
  families: number('CHAOS_FAMILIES', 32),
  durationMs: number('CHAOS_SECONDS', 60) * 1000,
  faultEveryMs: 3_000,
  raceUses: number('CHAOS_RACE', 500),
  maxRequests: 200_000,
  log: (line) => process.stderr.write(`${line}\n`),
});
process.stdout.write(`${summarise(report)}\n`);
process.exitCode = report.violations.length ? 1 : 0;
