// The devices people sign in from: each use of a login session records its
// device (user agent, address, first and last seen), and the account page
// names it in words a person recognises.
import type { SessionDeviceRepository } from '../repositories/session-device-repository.ts';

/**
 * What the routes may do with session devices. The repository fulfils it as
 * it is (recording a use needs no rule of its own yet), so the wiring hands
 * it over; the routes still depend on this service, not on storage.
 */
export type SessionDevices = Pick<SessionDeviceRepository, 'touch'>;

/** "Chrome on Linux" from a user agent string: enough to recognise a device, no parser library needed for that. */
export function describeDevice(userAgent: string): string {
  const browser = /Edg\//.test(userAgent) ? 'Edge' : /Firefox\//.test(userAgent) ? 'Firefox' : /Chrom(e|ium)\//.test(userAgent) ? 'Chrome'
    : /Safari\//.test(userAgent) ? 'Safari' : undefined;
  const os = /Android/.test(userAgent) ? 'Android' : /iPhone|iPad/.test(userAgent) ? 'iOS' : /Windows/.test(userAgent) ? 'Windows'
    : /Mac OS X/.test(userAgent) ? 'macOS' : /Linux/.test(userAgent) ? 'Linux' : undefined;
  if (browser && os) return `${browser} on ${os}`;
  return browser ?? os ?? userAgent.slice(0, 60);
}
