// Cross-site request forgery (CSRF) protection for the BFF's state-changing
// endpoints, as OAuth 2.0 for Browser-Based Applications §6.1 (Backend For
// Frontend) describes it, in layers:
//   1. the cookies are SameSite=Strict: a request started from another site
//      does not carry them;
//   2. a custom request header is required: an HTML form cannot send one,
//      and a cross-origin fetch can only after a CORS preflight, which the
//      BFF never grants (it sends no Access-Control-Allow-* header);
//   3. the Origin header (which every browser sends with a POST) must be
//      the app's origin exactly; a request without one is refused;
//   4. Sec-Fetch-Site, when the browser sends it, must be same-origin.
import type { IncomingMessage } from 'node:http';

/** The header same-origin JavaScript sends with every POST to the BFF (and every non-GET through its API proxy). */
export const BFF_HEADER = 'x-tollgate-bff';

/** Why the request is refused (403), or undefined when it comes from the app's own scripts. */
export function crossSiteRefusal(req: IncomingMessage, appOrigin: string): string | undefined {
  if (req.headers[BFF_HEADER] !== '1') return `the ${BFF_HEADER}: 1 header is required`;
  const origin = req.headers.origin;
  if (origin === undefined) return 'the Origin header is required';
  if (origin !== appOrigin) return 'cross-origin requests are refused';
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return 'cross-site requests are refused';
  return undefined;
}
