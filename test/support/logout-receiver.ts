// A back-channel logout receiver (OpenID Connect Back-Channel Logout 1.0 §2.5)
// on loopback: what a client's backchannel_logout_uri gets, kept in order.
// Tollgate must be started with ALLOW_PRIVATE_NETWORK_FETCH=true to reach it
// (its SSRF guard refuses loopback otherwise).
import { createServer } from 'node:http';
import { freePort } from './ports.ts';

export interface LogoutReceiver {
  /** The URI to register as a client's backchannel_logout_uri. */
  readonly uri: string;
  /** Every logout_token received, in order. */
  readonly tokens: string[];
  close(): void;
}

export async function startLogoutReceiver(): Promise<LogoutReceiver> {
  const port = await freePort();
  const tokens: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => { body += d; });
    req.on('end', () => {
      tokens.push(new URLSearchParams(body).get('logout_token') ?? '');
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { uri: `http://127.0.0.1:${port}/backchannel-logout`, tokens, close: () => server.close() };
}
