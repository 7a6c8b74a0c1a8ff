// Every oidc-provider event Tollgate listens to, registered in this one place
// (the library emits them from its actions: lib/actions/end_session.js,
// lib/actions/authorization/respond.js, lib/shared/error_handler.js, ...).
// Listeners never throw into the library: what they record is fire-and-forget,
// and a failure to record is logged by the audit trail or here. The metrics
// (metrics.ts) count what the library tells here; what the audit trail
// records is counted there (services/audit.ts).
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { Audit } from '../services/audit.ts';
import type { SessionDeviceRepository } from '../repositories/session-device-repository.ts';
import { isUnavailable } from '../repositories/unavailable.ts';
import { markStorageFault } from './storage-faults.ts';

export interface ProviderEventDependencies {
  audit: Audit;
  devices: Pick<SessionDeviceRepository, 'touch'>;
  logger: Logger;
  metrics?: Metrics;
}

export function listenToProvider(provider: Provider, deps: ProviderEventDependencies): void {
  const { audit, devices, logger, metrics } = deps;
  const userAgentOf = (ctx: KoaContextWithOIDC) => ctx.get('user-agent') || undefined;

  // Theft detection (RFC 9700 §4.14.2): the library has just revoked the
  // family (lib/actions/grants/refresh_token.js, "refresh token already used").
  // (The library puts the reason in error_detail; error_description stays generic for the client.)
  provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error_detail?: string }) => {
    if (err.error_detail !== 'refresh token already used') return;
    const token = ctx.oidc.entities.RefreshToken as { accountId?: string; grantId?: string; clientId?: string } | undefined;
    void audit.record('refresh_token.reuse_detected', {
      accountId: token?.accountId, clientId: token?.clientId ?? ctx.oidc.client?.clientId, ip: ctx.ip, userAgent: userAgentOf(ctx),
      details: { grant_id: token?.grantId, family_revoked: true },
    });
  });

  if (metrics) {
    // The token endpoint answered with tokens (lib/actions/token.js); the
    // grant type is one the library supports, so the label stays bounded.
    provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
      metrics.tokenIssued(String(ctx.oidc.params?.grant_type));
    });
    // RefreshToken#consume (lib/models/refresh_token.js): every rotation, as rotateRefreshToken is always on.
    provider.on('refresh_token.consumed', () => metrics.refreshRotated());
    // OpenID Connect Back-Channel Logout 1.0 deliveries of RP-initiated logout
    // (lib/actions/end_session.js); the ones Tollgate sends itself (account
    // page, admin API, CLI) are counted where it sends them (services/sessions.ts).
    provider.on('backchannel.success', () => metrics.backchannelLogout('success'));
    provider.on('backchannel.error', () => metrics.backchannelLogout('error'));
  }

  // RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) has ended a session, or one client's part in it.
  provider.on('end_session.success', (ctx: KoaContextWithOIDC) => {
    void audit.record('logout', {
      accountId: ctx.oidc.session?.accountId, clientId: ctx.oidc.client?.clientId, ip: ctx.ip, userAgent: userAgentOf(ctx),
    });
  });

  // Each successful authorization is a use of its session: record the device and when it was last seen.
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    const session = ctx.oidc.session;
    if (!session?.uid || !session.accountId) return;
    devices.touch(session.uid, session.accountId, userAgentOf(ctx), ctx.ip)
      .catch((err: Error) => logger.warn({ err: { message: err.message } }, 'recording the session device failed'));
  });

  // The library answers 500 server_error. A storage outage is a passing
  // fault: answered 503 instead and logged as a warning (storage-faults.ts);
  // anything else is a bug, logged with its stack.
  provider.on('server_error', (ctx: KoaContextWithOIDC, err: Error) => {
    if (isUnavailable(err)) return markStorageFault(ctx, err, logger);
    logger.error({ err: { name: err.name, message: err.message, stack: err.stack } }, 'oidc-provider server error');
  });
}
