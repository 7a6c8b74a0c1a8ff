// Client ids Tollgate keeps for itself. Declared here, below both the
// provider's configuration (oidc/account-client.ts registers the client) and
// client registration (services/clients.ts refuses the id), so that neither
// imports the other.

/** The account page's built-in client (oidc/account-client.ts). */
export const ACCOUNT_CLIENT_ID = 'tollgate-account';
