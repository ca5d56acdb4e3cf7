import Docker from 'dockerode';
import { AppError } from '../errors.ts';

/**
 * A dockerode client for `DOCKER_HOST` (`unix:///…`, `npipe:////./pipe/…`, `tcp://host:port`),
 * or the platform's default socket when it is unset. Plain TCP only: a remote Docker with TLS is
 * reached through an SSH tunnel or a unix socket forward.
 */
export function createDockerClient(dockerHost: string | undefined, platform = process.platform): Docker {
  if (!dockerHost) {
    return new Docker({
      socketPath: platform === 'win32' ? '//./pipe/docker_engine' : '/var/run/docker.sock',
    });
  }
  let url: URL;
  try {
    url = new URL(dockerHost);
  } catch {
    throw new AppError('VALIDATION_ERROR', `DOCKER_HOST is not a URL: ${dockerHost}`);
  }
  switch (url.protocol) {
    case 'unix:':
      return new Docker({ socketPath: url.pathname });
    case 'npipe:':
      // npipe:////./pipe/docker_engine -> //./pipe/docker_engine (URL would fold the `/./`)
      return new Docker({ socketPath: dockerHost.slice('npipe://'.length) });
    case 'tcp:':
    case 'http:':
      return new Docker({ protocol: 'http', host: url.hostname, port: Number(url.port || 2375) });
    default:
      throw new AppError(
        'VALIDATION_ERROR',
        `DOCKER_HOST ${url.protocol}// is not supported (use unix://, npipe:// or tcp://)`,
      );
  }
}
