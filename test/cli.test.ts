import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, inject, it } from 'vitest';
import { openDatabase } from '../src-engine/db/connection.ts';
import { createSqliteQueue } from '../src-engine/queue/sqlite.ts';
import { startUntil as startProcess } from './support/process.ts';

const BIN = join(import.meta.dirname, '..', 'bin', 'agencia-desk-engine.js');
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'agencia-cli-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const env = (extra: Record<string, string> = {}) => ({
  ...process.env,
  AGENCIA_DATA_DIR: dir,
  REDIS_URL: '',
  ...extra,
});
const cli = (args: string[], extra: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { env: env(extra), encoding: 'utf8', timeout: 30_000 });

const startUntil = (args: string[], pattern: RegExp, extra: Record<string, string> = {}) =>
  startProcess(args, pattern, env(extra));

describe('agencia-desk-engine CLI', () => {
  it('migrate applies the schema once', () => {
    const first = cli(['migrate']);
    expect(first.status).toBe(0);
    const { applied, total } = JSON.parse(first.stdout) as { applied: number; total: number };
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBe(total);
    expect(JSON.parse(cli(['migrate']).stdout)).toEqual({
      dbFile: join(dir, 'engine.db'),
      applied: 0,
      total,
    });
  });

  it('status prints JSON with the queues and health', () => {
    const r = cli(['status']);
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({ running: false, backend: 'sqlite', health: { status: 'ok' } });
    expect(Object.keys(s.queues as object)).toEqual([
      'whatsapp.send',
      'agent.run',
      'ai.reply',
      'billing.sync',
      'compliance.check',
      'smartsend.tick',
    ]);
  });

  it('uses the bullmq backend when REDIS_URL is set', () => {
    const r = cli(['status'], { REDIS_URL: inject('redisUrl') });
    expect(r.status).toBe(0);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({
      backend: 'bullmq',
      health: { status: 'ok', checks: { queue: { status: 'healthy' } } },
    });
  });

  it('status answers with Redis away: the queue unhealthy, no counts, only JSON on stderr', () => {
    const started = Date.now();
    // Nothing listens on port 1 of loopback.
    const r = cli(['status'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.status, r.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(20_000);
    const s = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(s).toMatchObject({
      backend: 'bullmq',
      health: { status: 'degraded', checks: { queue: { status: 'unhealthy' } } },
      queues: null,
      deadLetters: null,
    });
    expect(s.queueError).toMatch(/Redis did not answer within 5 s/);
    // ioredis prints unhandled connection errors as raw stack traces; every line here is a JSON log.
    for (const line of r.stderr.split('\n').filter(Boolean))
      expect(() => JSON.parse(line), line).not.toThrow();
  });

  it('seed, keys and topup: an org with its key and credit, more keys, revocation, a top-up', async () => {
    const seeded = cli(['seed', '--org', 'Agencia Sol', '--plan', 'starter', '--credits', '12.5', '--json']);
    expect(seeded.status, seeded.stderr).toBe(0);
    const { orgId, apiKey, plan, keyId } = JSON.parse(seeded.stdout) as Record<string, string>;
    expect(plan).toBe('starter');
    expect(apiKey).toMatch(/^ad_[A-Za-z0-9]{8}_/);
    const created = cli(['keys', 'create', '--org', orgId!, '--name', 'n8n', '--json']);
    const second = JSON.parse(created.stdout) as { keyId: string; apiKey: string };
    expect(second.apiKey).not.toBe(apiKey);
    expect(cli(['keys', 'revoke', '--id', keyId!]).status).toBe(0);
    const listed = JSON.parse(cli(['keys', 'list', '--org', orgId!, '--json']).stdout) as {
      id: string;
      revokedAt: number | null;
    }[];
    expect(listed.map((k) => [k.id, k.revokedAt !== null])).toEqual([
      [keyId, true],
      [second.keyId, false],
    ]);
    const topped = cli(['topup', '--org', orgId!, '--credits', '0.05', '--json']);
    expect(JSON.parse(topped.stdout)).toMatchObject({
      orgId,
      postedMicro: 12_550_000,
      availableMicro: 12_550_000,
    });
    // The key works against a running engine; the revoked one does not.
    const run = startUntil([BIN, 'start', '--port', '0'], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    try {
      const base = (await run.ready)[1]!;
      const balance = (key: string) =>
        fetch(`${base}/api/v1/billing/balance`, { headers: { authorization: `Bearer ${key}` } });
      expect((await balance(second.apiKey)).status).toBe(200);
      expect((await balance(apiKey!)).status).toBe(401);
    } finally {
      run.child.kill('SIGTERM');
      await run.exited;
    }
    const bad = cli(['topup', '--org', orgId!, '--credits', '-3']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--credits');
    expect(cli(['topup', '--org', 'nope', '--credits', '1']).status).toBe(1);
    // A mistyped flag is refused, not ignored.
    const typo = cli(['topup', '--org', orgId!, '--credit', '5']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toMatch(/--credit\b/);
  });

  it('refuses a bad setting, naming the variable, and an unknown command', () => {
    const bad = cli(['status'], { ENGINE_PORT: 'seventy' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/ENGINE_PORT/);
    const unknown = cli(['frobnicate']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown command "frobnicate"/);
    // `--port ""` is no port, not port 0 (any free port), and a blank setting is no number either.
    for (const port of ['x', '', '0x10']) {
      const badFlag = cli(['start', '--port', port]);
      expect(badFlag.status, JSON.stringify(port)).toBe(2);
      expect(badFlag.stderr).toMatch(/--port: not a port number/);
    }
    expect(cli(['status'], { ENGINE_PORT: ' ' }).status).toBe(2);
    const creds = cli(['status'], { EVOLUTION_URL: 'http://admin:s3cret@127.0.0.1:8080' });
    expect(creds.status).toBe(2);
    expect(creds.stderr).toMatch(/EVOLUTION_URL: must not hold a user name or password/);
    expect(creds.stderr).not.toContain('s3cret');
  });

  it('start prints its address, serves health, refuses a second engine, and stops on SIGINT', async () => {
    const run = startUntil([BIN, 'start', '--port', '0'], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
    const [, url] = await run.ready;
    const health = (await (await fetch(`${url}/api/v1/health`)).json()) as { status: string };
    expect(health.status).toBe('ok');
    const second = cli(['start', '--port', '0']);
    expect(second.status).toBe(1);
    expect(second.stderr).toMatch(/already running/);
    expect(JSON.parse(cli(['status']).stdout)).toMatchObject({ running: true });
    run.child.kill('SIGINT');
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('engine stopped');
    expect(existsSync(join(dir, 'engine.lock'))).toBe(false);
  });

  it('SIGTERM finishes short active jobs and releases the rest back to waiting', async () => {
    const db = openDatabase(join(dir, 'engine.db'));
    const queue = createSqliteQueue({ sqlite: db.sqlite });
    try {
      const short = await queue.add('test.slow', { ms: 300 });
      const long = await queue.add('test.slow', { ms: 60_000 });
      const run = startUntil(
        ['--import', 'tsx', join(import.meta.dirname, 'support', 'engine-child.ts')],
        /READY/,
        { ENGINE_PORT: '0', GRACE_MS: '1500' },
      );
      await run.ready;
      const deadline = Date.now() + 10_000;
      while ((await queue.counts('test.slow')).active < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 20));
      run.child.kill('SIGTERM');
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain('STOPPED');
      expect(await queue.getJob('test.slow', short.id)).toMatchObject({ state: 'completed', result: 'done' });
      expect(await queue.getJob('test.slow', long.id)).toMatchObject({ state: 'waiting', attemptsMade: 0 });
    } finally {
      await queue.close(0);
      db.close();
    }
  });
});
