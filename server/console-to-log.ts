// What libraries print through `console` becomes log lines, so that the
// server's output is JSON from its first line to its last. oidc-provider
// prints its notices and warnings as plain text (lib/helpers/attention.js),
// one of them while it is being imported, before any configuration is read:
// "oidc-provider WARNING: Unsupported runtime. Use Node.js v22.x LTS" on
// Node 20 (it only warns). The policies it would otherwise print a notice
// about are configured explicitly (oidc/configuration.ts, clientBasedCORS);
// this catches the ones that cannot be, and anything a library adds later.
//
// main.ts imports this module first, so it is in place before oidc-provider
// is evaluated; what is printed before the logger exists is held and written
// when sendConsoleToLog gives it one. The CLI, whose stdout carries only
// its JSON results, sends the same lines to stderr in its own diagnostic
// form instead (sendConsoleToStderr). Tests keep their console.
import { format, stripVTControlCharacters } from 'node:util';
import type { Logger } from './logger.ts';

type Level = 'debug' | 'info' | 'warn' | 'error';

const OIDC_PROVIDER = /^oidc-provider (NOTICE|WARNING): /;

/** Bounded: a library printing in a loop before the logger exists must not grow memory. */
const MAX_HELD = 100;
const held: Array<[Level, string]> = [];
/** Where a line goes: `source` is the library that printed it, when known. */
type Sink = (level: Level, source: 'oidc-provider' | 'console', text: string) => void;
let sink: Sink | undefined;

function write(level: Level, args: unknown[]): void {
  // oidc-provider colours its lines when the stream is a terminal.
  const text = stripVTControlCharacters(format(...args));
  if (!sink) {
    if (held.length < MAX_HELD) held.push([level, text]);
    return;
  }
  const library = OIDC_PROVIDER.exec(text);
  if (library) sink(library[1] === 'WARNING' ? 'warn' : 'info', 'oidc-provider', text.slice(library[0].length));
  else sink(level, 'console', text);
}

function sendTo(target: Sink): void {
  sink = target;
  for (const [level, text] of held.splice(0)) write(level, [text]);
}

console.log = (...args: unknown[]) => write('info', args);
console.info = (...args: unknown[]) => write('info', args);
console.debug = (...args: unknown[]) => write('debug', args);
console.warn = (...args: unknown[]) => write('warn', args);
console.error = (...args: unknown[]) => write('error', args);

/** From now on console output goes to `target`, starting with what was held. */
export function sendConsoleToLog(logger: Logger): void {
  sendTo((level, source, text) => logger[level]({ source }, text));
}

/** The CLI's form: one stderr line each, `tollgate: <source> <level>: <text>`; stdout keeps only results. */
export function sendConsoleToStderr(): void {
  sendTo((level, source, text) => {
    for (const line of text.split('\n')) process.stderr.write(`tollgate: ${source} ${level === 'warn' ? 'warning' : level}: ${line}\n`);
  });
}
