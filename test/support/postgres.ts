import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { exited, freePort } from './process.ts';

export interface TestPostgres {
  /** The cluster's `postgres` database; make one per test with `createDatabase`. */
  url: string;
  port: number;
  /** A fresh, empty database on this cluster; returns its URL. */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 20_000;

/** The newest Debian PostgreSQL's bin folder (`PG_BIN` wins). */
function pgBin(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root)
    ? readdirSync(root)
        .filter((v) => existsSync(join(root, v, 'bin', 'postgres')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0)
    throw new Error('PostgreSQL is not installed (apt-get install postgresql), or set PG_BIN');
  return join(root, versions[0]!, 'bin');
}

/** PostgreSQL refuses to run as root: as root, run it as the `postgres` user the Debian package made. */
function runAs(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

async function canConnect(url: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Starts a throwaway PostgreSQL cluster: initdb into a temp dir, then `postgres` on 127.0.0.1 on a
 * free port with its socket in the same temp dir, trust auth, fsync off (a test cluster survives the
 * kill of its clients, not of the machine). `stop()` shuts it down and removes the dir.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const bin = pgBin();
  const user = runAs();
  const dir = mkdtempSync(join(tmpdir(), 'agencia-pg-'));
  const data = join(dir, 'data');
  if (user) chownSync(dir, user.uid, user.gid);
  const ids = user ? { uid: user.uid, gid: user.gid } : {};
  execFileSync(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-sync'],
    {
      ...ids,
      stdio: 'pipe',
    },
  );
  const port = await freePort();
  const child = spawn(
    join(bin, 'postgres'),
    [
      '-D',
      data,
      '-p',
      String(port),
      '-k',
      dir,
      '-h',
      '127.0.0.1',
      '-c',
      'fsync=off',
      '-c',
      'max_connections=200',
    ],
    { ...ids, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  const keep = (b: Buffer) => (output = (output + b.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

  const stop = async () => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      child.kill('SIGINT'); // fast shutdown: disconnects clients, no waiting for them
      await exited(child);
    }
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await canConnect(url))) {
      if (child.exitCode !== null)
        throw new Error(`postgres exited with ${child.exitCode}: ${output.trim()}`);
      if (Date.now() > deadline)
        throw new Error(`postgres did not accept connections on ${port}: ${output.trim()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }

  let n = 0;
  const createDatabase = async (name = `t${process.pid}_${++n}_${Date.now().toString(36)}`) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`CREATE DATABASE "${name.replace(/"/g, '')}"`);
    } finally {
      await client.end();
    }
    return `postgres://postgres@127.0.0.1:${port}/${name}`;
  };
  return { url, port, createDatabase, stop };
}
