// The bff_proxy scenario's servers (bench/run.ts), in one process that
// bench/run.ts pins to the server's core: the example app's server
// (examples/spa/server.ts: tollgate/bff mounted, /bff/api/* proxied) and the
// notes API (examples/notes-api.ts) it proxies to. One process, so that its
// CPU per request is the API's alone for a direct call and the API's plus
// the BFF's for a proxied one: the difference is what the BFF costs.
// A second BFF (DPOP_CLIENT_ID, DPOP_CLIENT_SECRET, DPOP_PORT) asks for
// DPoP-bound tokens and signs a proof for each call it proxies.
// Prints one JSON line, { "app", "dpopApp", "api" } (origins), once all listen.
//
//   ISSUER=… CLIENT_ID=… CLIENT_SECRET=… DPOP_CLIENT_ID=… DPOP_CLIENT_SECRET=… COOKIE_SECRET=… API_AUDIENCE=… PORT=… DPOP_PORT=… tsx bench/bff-app.ts
import type { AddressInfo } from 'node:net';
import { createNotesApi } from '../examples/notes-api.ts';
import { startSpaServer } from '../examples/spa/server.ts';

const { ISSUER, CLIENT_ID, CLIENT_SECRET, DPOP_CLIENT_ID, DPOP_CLIENT_SECRET, COOKIE_SECRET, API_AUDIENCE, PORT, DPOP_PORT } = process.env;
if (!ISSUER || !CLIENT_ID || !CLIENT_SECRET || !DPOP_CLIENT_ID || !DPOP_CLIENT_SECRET || !COOKIE_SECRET || !API_AUDIENCE || !PORT || !DPOP_PORT) {
  process.stderr.write('bench/bff-app.ts: set ISSUER, CLIENT_ID, CLIENT_SECRET, DPOP_CLIENT_ID, DPOP_CLIENT_SECRET, COOKIE_SECRET, API_AUDIENCE, PORT and DPOP_PORT\n');
  process.exit(2);
}
const api = createNotesApi({ issuer: ISSUER, audience: API_AUDIENCE, members: {} }).listen(0, '127.0.0.1');
await new Promise((resolve) => api.once('listening', resolve));
const apiOrigin = `http://localhost:${(api.address() as AddressInfo).port}`;
const common = { issuer: ISSUER, cookieSecret: COOKIE_SECRET, apiUrl: apiOrigin };
const app = await startSpaServer({ ...common, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, port: Number(PORT) });
const dpopApp = await startSpaServer({ ...common, clientId: DPOP_CLIENT_ID, clientSecret: DPOP_CLIENT_SECRET, port: Number(DPOP_PORT), dpop: true });
process.stdout.write(`${JSON.stringify({ app: app.origin, dpopApp: dpopApp.origin, api: apiOrigin })}\n`);
process.on('SIGTERM', () => {
  api.closeAllConnections();
  api.close();
  void Promise.all([app.close(), dpopApp.close()]).then(() => process.exit(0));
});
