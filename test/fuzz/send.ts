// Turns a plan into bytes on the wire: placeholders filled from the target,
// parameters written in the plan's encoding, then one exchange.
import { encodeURIComponentSafe, type Body, type Params, type Plan } from './requests.ts';
import type { FuzzTarget } from './target.ts';
import { encodeRequest, exchange, type WireResponse } from './wire.ts';

export interface Sent {
  plan: Plan;
  /** The request as it went out (Latin-1 view of the bytes), for the report of a failure; secrets are in it. */
  bytes: Buffer;
  /** How many of the target's secrets existed before this answer: the ones after are what it issued (a rotated refresh token), which it may show. */
  secretsBefore: number;
  response: WireResponse | undefined;
}

export async function send(target: FuzzTarget, plan: Plan): Promise<Sent> {
  const resolver = target.resolver();
  const fill = (s: string) => resolver.fill(s);
  let bytes: Buffer;
  if (plan.raw !== undefined) {
    bytes = Buffer.from(await fill(plan.raw), 'latin1');
  } else {
    const query = plan.query && plan.query.pairs.length ? `?${await encodeParams(plan.query, fill)}` : '';
    const headers: Array<[string, string]> = [];
    for (const [name, value] of plan.headers) headers.push([name, await fill(value)]);
    const body = plan.body ? await encodeBody(plan.body, fill) : undefined;
    bytes = encodeRequest({ method: plan.method, target: `${plan.path.includes('{{') ? await fill(plan.path) : plan.path}${query}`, headers, body }, target.host);
  }
  // A wire-level request may be incomplete on purpose: after a silence, the fuzzer stops sending and takes what comes.
  // Counted once the placeholders are filled: a code or token fetched for this request is one it must not see echoed.
  const secretsBefore = target.secrets.size;
  let response: Awaited<ReturnType<typeof exchange>>;
  try {
    response = await exchange(target.port, bytes, plan.method, plan.raw !== undefined ? { idleMs: 500 } : {});
    target.spent(resolver.used, response?.status ?? 0, response?.body ?? Buffer.alloc(0));
  } finally {
    resolver.done();
  }
  return { plan, bytes, response, secretsBefore };
}

async function encodeParams(params: Params, fill: (s: string) => Promise<string>): Promise<string> {
  const parts: string[] = [];
  for (const [name, value] of params.pairs) {
    const [n, v] = [await fill(name), await fill(value)];
    if (params.encoding === 'raw') parts.push(`${n}=${v}`);
    else if (params.encoding === 'plus') parts.push(new URLSearchParams([[toWellFormed(n), toWellFormed(v)]]).toString());
    else parts.push(`${encodeURIComponentSafe(n)}=${encodeURIComponentSafe(v)}`);
  }
  return parts.join('&');
}

async function encodeBody(body: Body, fill: (s: string) => Promise<string>): Promise<Buffer> {
  switch (body.kind) {
    case 'form': return Buffer.from(await encodeParams(body.params, fill), 'utf8');
    case 'json': return Buffer.from(await fill(JSON.stringify(body.value) ?? 'null'), 'utf8');
    case 'text': return Buffer.from(await fill(body.text), body.latin1 ? 'latin1' : 'utf8');
  }
}

/** URLSearchParams replaces lone surrogates itself; this only keeps the types honest about it. */
function toWellFormed(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}
