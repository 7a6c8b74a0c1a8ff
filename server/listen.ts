// Binding the port, first thing at start: a port that is taken (another
// Tollgate, say) stops the process with one line before it opens the
// database, so it neither runs migrations nor takes the embedded database's
// lock, and the process that holds the port is left undisturbed.
import type { Server } from 'node:http';
import type { Config } from './config.ts';
import { TollgateError } from './errors.ts';

/** The listening port cannot be had: taken, or privileged for this user. */
export class PortUnavailableError extends TollgateError {
  constructor(message: string) {
    super('port_unavailable', message, 500, true);
  }
}

/** `variable`: the setting that names the port, for the message (PORT, METRICS_PORT). */
export function listen(server: Server, config: Pick<Config, 'port' | 'host'>, variable = 'PORT'): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const where = `${config.host ? `${config.host}:` : ''}${config.port}`;
    const onError = (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') reject(new PortUnavailableError(`port ${where} is already in use: stop the process that holds it, or set ${variable} to another port`));
      else if (err.code === 'EACCES') reject(new PortUnavailableError(`port ${where} needs privileges this user lacks: set ${variable} to 1024 or above`));
      else if (err.code === 'EADDRNOTAVAIL') reject(new PortUnavailableError(`HOST ${config.host} is not an address of this machine`));
      else reject(err);
    };
    server.once('error', onError);
    const listening = () => {
      server.off('error', onError);
      resolve();
    };
    if (config.host) server.listen(config.port, config.host, listening);
    else server.listen(config.port, listening);
  });
}
