// The bff_proxy scenario's servers (bench/run.ts), in one process that
// bench/run.ts pins to the server's core: the example app's server
// (examples/spa/server.ts: tollgate/bff mounted, /bff/api/* proxied) and the
// notes API (examples/notes-api.ts) it proxies to. One process, so that its
// CPU per request is the API's alone for a direct call and the API's plus
// the BFF's for a proxied one: the difference is what the BFF costs.
// Prints one JSON line, { "app": origin, "api": origin }, once both listen.
//
//   ISSUER=… CLIENT_ID=… CLIENT_SECRET=… COOKIE_SECRET=… API_AUDIENCE=… PORT=… tsx bench/bff-app.ts
import type { AddressInfo } from 'node:net';
import { createNotesApi } from '../examples/notes-api.ts';
import { startSpaServer } from '../examples/spa/server.ts';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET, API_AUDIENCE, PORT } = process.env;
if (!ISSUER || !CLIENT_ID || !CLIENT_SECRET || !COOKIE_SECRET || !API_AUDIENCE || !PORT) {
  process.stderr.write('bench/bff-app.ts: set ISSUER, CLIENT_ID, CLIENT_SECRET, COOKIE_SECRET, API_AUDIENCE and PORT\n');
  process.exit(2);
}
const api = createNotesApi({ issuer: ISSUER, audience: API_AUDIENCE, members: {} }).listen(0, '127.0.0.1');
await new Promise((resolve) => api.once('listening', resolve));
const apiOrigin = `http://localhost:${(api.address() as AddressInfo).port}`;
const app = await startSpaServer({ issuer: ISSUER, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, cookieSecret: COOKIE_SECRET, apiUrl: apiOrigin, port: Number(PORT) });
process.stdout.write(`${JSON.stringify({ app: app.origin, api: apiOrigin })}\n`);
process.on('SIGTERM', () => {
  api.closeAllConnections();
  api.close();
  void app.close().then(() => process.exit(0));
});
