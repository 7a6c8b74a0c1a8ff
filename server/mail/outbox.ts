// The outgoing queue: messages wait here, in this process's memory, until
// they are delivered, refused for good, or have been retried for about an hour.
//
// Why memory and not a table: a message holds a usable single-use link
// (verification, password reset), and link tokens are stored only as
// digests (services/account-links.ts) so that a copy of the database opens
// no account. A durable outbox would store the very secret the digests keep
// out. The price: a message still queued when the process stops is lost, and
// the person asks again (docs/email.md says so). The queue is bounded, so a
// mail server that stays down cannot grow it without limit.
import type { Logger } from '../logger.ts';

export interface OutboxOptions {
  /** Wait before each retry, in order; its length is the number of retries. */
  readonly retryDelaysMs: readonly number[];
  /** Beyond this many waiting messages the oldest is dropped (and logged). */
  readonly maxQueued: number;
  /** Sends in flight at once. */
  readonly concurrency: number;
  /** close() waits this long for sends in flight. */
  readonly closeTimeoutMs: number;
}

/**
 * 1 s, 2 s, 4 s … doubling up to 10 minutes between tries, for about an hour
 * in all (15 tries): long enough to ride out a mail server's restart or a
 * short outage, short enough that a link sent late is still worth having.
 */
export function backoffDelays(firstMs = 1_000, capMs = 600_000, totalMs = 3_600_000): number[] {
  const delays: number[] = [];
  let total = 0;
  for (let next = firstMs; total + Math.min(next, capMs) <= totalMs; next *= 2) {
    delays.push(Math.min(next, capMs));
    total += Math.min(next, capMs);
  }
  return delays;
}

export const OUTBOX_DEFAULTS: OutboxOptions = Object.freeze({
  retryDelaysMs: Object.freeze(backoffDelays()),
  maxQueued: 10_000,
  concurrency: 2,
  closeTimeoutMs: 5_000,
});

/** A delivery failed; `permanent`: trying again cannot help (a 5xx refusal, an address the client refuses). */
export interface DeliveryFailure {
  readonly permanent: boolean;
  /** What the log may say about it: codes, never the message or its recipient. */
  readonly details: Record<string, unknown>;
}

export interface OutboxItem {
  /** What the log may say about the message: its kind and account, never its content. */
  readonly label: Readonly<Record<string, unknown>>;
  /** The kind, for the metrics. */
  readonly kind: string;
}

export interface Outbox<T extends OutboxItem> {
  push(item: T): void;
  idle(): Promise<void>;
  close(): Promise<void>;
}

interface Entry<T> { readonly item: T; attempt: number; dueAt: number }

export function createOutbox<T extends OutboxItem>(deps: {
  deliver: (item: T) => Promise<void>;
  /** Classifies what deliver threw. */
  failure: (err: unknown) => DeliveryFailure;
  outcome?: (kind: string, result: 'sent' | 'retried' | 'failed') => void;
  logger: Logger;
  options?: Partial<OutboxOptions>;
}): Outbox<T> {
  const options = { ...OUTBOX_DEFAULTS, ...deps.options };
  const { logger } = deps;
  const waiting: Array<Entry<T>> = [];
  const inFlight = new Set<Promise<void>>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let idleWaiters: Array<() => void> = [];

  const settleIdle = () => {
    if (waiting.length === 0 && inFlight.size === 0) {
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    }
  };

  const attempt = async (entry: Entry<T>) => {
    entry.attempt += 1;
    try {
      await deps.deliver(entry.item);
      deps.outcome?.(entry.item.kind, 'sent');
      if (entry.attempt > 1) logger.info({ ...entry.item.label, attempt: entry.attempt }, 'mail delivered after retrying');
      return;
    } catch (err) {
      const failure = deps.failure(err);
      const retryInMs = failure.permanent || closed ? undefined : options.retryDelaysMs[entry.attempt - 1];
      if (retryInMs === undefined) {
        deps.outcome?.(entry.item.kind, 'failed');
        logger.error({ ...entry.item.label, attempt: entry.attempt, ...failure.details, permanent: failure.permanent },
          failure.permanent ? 'mail refused: not retrying' : 'mail not delivered: giving up');
        return;
      }
      deps.outcome?.(entry.item.kind, 'retried');
      logger.warn({ ...entry.item.label, attempt: entry.attempt, ...failure.details, retry_in_ms: retryInMs }, 'mail not delivered: will retry');
      entry.dueAt = Date.now() + retryInMs;
      enqueue(entry);
    }
  };

  const enqueue = (entry: Entry<T>) => {
    if (waiting.length >= options.maxQueued) {
      const dropped = waiting.shift()!;
      deps.outcome?.(dropped.item.kind, 'failed');
      logger.error({ ...dropped.item.label, queued: waiting.length + 1 }, 'mail queue full: oldest message dropped');
    }
    waiting.push(entry);
  };

  const pump = () => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (closed) return;
    const now = Date.now();
    while (inFlight.size < options.concurrency) {
      const index = waiting.findIndex((entry) => entry.dueAt <= now);
      if (index < 0) break;
      const [entry] = waiting.splice(index, 1);
      const running: Promise<void> = attempt(entry!).finally(() => {
        inFlight.delete(running);
        pump();
        settleIdle();
      });
      inFlight.add(running);
    }
    if (waiting.length > 0 && inFlight.size < options.concurrency) {
      const next = Math.min(...waiting.map((entry) => entry.dueAt));
      timer = setTimeout(pump, Math.max(0, next - now));
      // A retry an hour away must not keep a stopping process alive.
      timer.unref();
    }
  };

  return {
    push(item) {
      if (closed) {
        logger.warn(item.label, 'mail not queued: stopping');
        return;
      }
      enqueue({ item, attempt: 0, dueAt: Date.now() });
      pump();
    },
    idle() {
      return new Promise((resolve) => {
        idleWaiters.push(resolve);
        settleIdle();
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      const sends = Promise.allSettled([...inFlight]);
      let wait: NodeJS.Timeout | undefined;
      await Promise.race([sends, new Promise((resolve) => { wait = setTimeout(resolve, options.closeTimeoutMs); })]);
      clearTimeout(wait);
      if (waiting.length > 0) logger.warn({ messages: waiting.length }, 'stopping with mail not yet delivered: it is lost (the links in it can be asked for again)');
      waiting.length = 0;
      for (const resolve of idleWaiters) resolve();
      idleWaiters = [];
    },
  };
}
