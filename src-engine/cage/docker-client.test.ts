import { describe, expect, it } from 'vitest';
import { createDockerClient } from './docker-client.ts';

const modem = (host: string | undefined, platform: NodeJS.Platform = 'linux') =>
  createDockerClient(host, platform).modem as unknown as {
    socketPath?: string;
    host?: string;
    port?: number;
    protocol?: string;
  };

describe('createDockerClient', () => {
  it('reads DOCKER_HOST forms, and uses the platform socket when unset', () => {
    expect(modem(undefined).socketPath).toBe('/var/run/docker.sock');
    expect(modem(undefined, 'win32').socketPath).toBe('//./pipe/docker_engine');
    expect(modem('unix:///run/user/1000/docker.sock').socketPath).toBe('/run/user/1000/docker.sock');
    expect(modem('npipe:////./pipe/docker_engine').socketPath).toBe('//./pipe/docker_engine');
    expect(modem('tcp://gpu-box:2375')).toMatchObject({ host: 'gpu-box', port: 2375, protocol: 'http' });
  });

  it('refuses what it cannot use, naming the variable', () => {
    expect(() => createDockerClient('ssh://me@box')).toThrow(/DOCKER_HOST ssh:\/\/ is not supported/);
    expect(() => createDockerClient('not a url')).toThrow(/DOCKER_HOST is not a URL/);
  });
});
