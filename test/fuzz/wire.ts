// One HTTP/1.1 exchange over a raw TCP socket, written byte for byte as the
// fuzzer built it. fetch and node:http refuse to send most of what the
// fuzzer wants to try (NUL and bare LF in headers, invalid percent-encoding,
// duplicated Content-Length, bodies that lie about their length, methods
// that are not tokens), so the request line, the headers and the body go out
// as given, with `Connection: close`, and the answer is read until complete.
import { connect } from 'node:net';

export interface WireResponse {
  status: number;
  /** Header names lower-cased, in order, repeats kept. */
  headers: Array<[string, string]>;
  body: Buffer;
  /** The raw bytes of the head (status line and headers). */
  head: string;
}

export interface WireRequest {
  method: string;
  /** The request target, exactly as sent (not re-encoded). */
  target: string;
  headers: Array<[string, string]>;
  body?: Buffer;
  /** Bytes written as they are, instead of a request built from the fields above. */
  raw?: Buffer;
}

export function encodeRequest(req: WireRequest, host: string): Buffer {
  if (req.raw) return req.raw;
  const names = new Set(req.headers.map(([n]) => n.toLowerCase()));
  const lines = [`${req.method} ${req.target} HTTP/1.1`];
  if (!names.has('host')) lines.push(`Host: ${host}`);
  for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
  if (req.body && !names.has('content-length') && !names.has('transfer-encoding')) lines.push(`Content-Length: ${req.body.length}`);
  lines.push('Connection: close', '', '');
  const head = Buffer.from(lines.join('\r\n'), 'utf8');
  return req.body ? Buffer.concat([head, req.body]) : head;
}

/**
 * Sends one request and reads one answer. The socket is not half-closed
 * after writing: Node's server aborts a request whose client has sent FIN
 * (http.Server without httpAllowHalfOpen), which would cut off every slow
 * answer. Only a request still unanswered after `idleMs` of silence (an
 * incomplete one, on purpose) is half-closed, and then whatever the server
 * says, or nothing, is its answer. Resolves `undefined` when there is none.
 */
export function exchange(port: number, bytes: Buffer, method: string, options: { idleMs?: number; timeoutMs?: number } = {}): Promise<WireResponse | undefined> {
  const { idleMs, timeoutMs = 30_000 } = options;
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (value: WireResponse | undefined, err?: Error) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearTimeout(idle);
      socket.destroy();
      if (err) reject(err);
      else resolve(value);
    };
    const timer = setTimeout(() => finish(undefined, new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    let idle: NodeJS.Timeout | undefined;
    const waitIdle = () => {
      if (idleMs === undefined) return;
      clearTimeout(idle);
      idle = setTimeout(() => socket.end(), idleMs);
    };
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      waitIdle();
      const complete = completeResponse(Buffer.concat(chunks), method);
      if (complete) finish(complete);
    });
    // The server may reset a connection whose request it refused before reading it all: what it answered still counts.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ECONNRESET' && err.code !== 'EPIPE') finish(undefined, err);
    });
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      finish(all.length ? parseResponse(all, method) : undefined);
    });
    socket.write(bytes, () => waitIdle());
  });
}

/** The first final answer in `data`, once it is complete; undefined while more is to come. */
function completeResponse(data: Buffer, method: string): WireResponse | undefined {
  let start = 0;
  for (;;) {
    const end = data.indexOf('\r\n\r\n', start);
    if (end === -1) return undefined;
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(start, start + 16).toString('latin1'))?.[1] ?? 0);
    // Interim answers (100 Continue) come before the real one.
    if (status >= 100 && status < 200) {
      start = end + 4;
      continue;
    }
    const r = parseResponse(data.subarray(start), method);
    if (method === 'HEAD' || status === 204 || status === 304) return r;
    const length = r.headers.find(([n]) => n === 'content-length');
    if (length) return data.length - (end + 4) >= Number(length[1]) ? r : undefined;
    if (r.headers.some(([n, v]) => n === 'transfer-encoding' && /chunked/i.test(v))) return data.includes('\r\n0\r\n\r\n', end) || data.subarray(end + 4).toString('latin1').startsWith('0\r\n\r\n') ? r : undefined;
    return undefined; // ends when the server closes
  }
}

function parseResponse(all: Buffer, method: string): WireResponse {
  // Skip interim answers.
  while (/^HTTP\/1\.[01] 1\d\d/.test(all.subarray(0, 16).toString('latin1')) && all.indexOf('\r\n\r\n') !== -1) all = all.subarray(all.indexOf('\r\n\r\n') + 4);
  const end = all.indexOf('\r\n\r\n');
  const head = all.subarray(0, end === -1 ? all.length : end).toString('latin1');
  const rest = end === -1 ? Buffer.alloc(0) : all.subarray(end + 4);
  const [statusLine = '', ...headerLines] = head.split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers = headerLines.map((line): [string, string] => {
    const colon = line.indexOf(':');
    return [line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()];
  });
  const chunked = headers.some(([n, v]) => n === 'transfer-encoding' && /chunked/i.test(v));
  const length = headers.find(([n]) => n === 'content-length');
  const body = method === 'HEAD' || status === 204 || status === 304 ? Buffer.alloc(0) : chunked ? dechunk(rest) : length ? rest.subarray(0, Number(length[1])) : rest;
  return { status, headers, body, head };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  while (at < data.length) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd === -1) break;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!Number.isFinite(size) || size === 0) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}
