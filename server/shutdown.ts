// Draining the HTTP server at shutdown: stop accepting connections, let the
// requests in flight finish, and close every keep-alive connection as soon
// as its last response is written, so that the server's `close` comes when
// the work is done rather than when clients choose to hang up.
import type { RequestListener, Server, ServerResponse } from 'node:http';

/**
 * How long requests in flight may take to finish once a stop is asked for.
 * `docker stop` (and compose) sends SIGKILL 10 s after SIGTERM by default;
 * 8 s of draining leaves the rest for closing the database, so the embedded
 * one is flushed and its lock released rather than killed mid-write.
 * Kubernetes waits 30 s by default. Requests are short (a token, a page),
 * so only a stuck one is still running after 8 s, and it is cut.
 */
export const DRAIN_TIMEOUT_MS = 8_000;

export interface Drain {
  /** Wraps the request handler: counts the requests in flight, and closes their connection once draining. */
  track(handler: RequestListener): RequestListener;
  /** Requests being answered now. */
  readonly inFlight: number;
  /**
   * Stops accepting, then waits at most `timeoutMs` for the requests in
   * flight; past it, closes the connections still open. `drained` tells
   * which happened; `cut` is the number of requests cut short.
   */
  drain(timeoutMs?: number): Promise<{ drained: boolean; cut: number }>;
}

export function drainable(server: Server): Drain {
  const answering = new Set<ServerResponse>();
  let draining = false;
  // A response written after this says `Connection: close`: Node then closes
  // the connection once it is sent, instead of keeping it open for the next request.
  const closeAfter = (res: ServerResponse) => {
    if (!res.headersSent) res.setHeader('Connection', 'close');
  };

  return {
    track: (handler) => (req, res) => {
      answering.add(res);
      res.once('close', () => answering.delete(res));
      if (draining) closeAfter(res);
      handler(req, res);
    },
    get inFlight() {
      return answering.size;
    },
    async drain(timeoutMs = DRAIN_TIMEOUT_MS) {
      draining = true;
      for (const res of answering) closeAfter(res);
      // close() stops accepting and (Node ≥ 19) closes the idle keep-alive connections.
      const closed = new Promise<boolean>((resolve) => server.close(() => resolve(true)));
      server.closeIdleConnections();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<boolean>((resolve) => { timer = setTimeout(resolve, timeoutMs, false); });
      const drained = await Promise.race([closed, timedOut]);
      clearTimeout(timer);
      const cut = answering.size;
      if (!drained) server.closeAllConnections();
      return { drained, cut: drained ? 0 : cut };
    },
  };
}
