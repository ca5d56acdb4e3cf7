import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCredits } from '../../src-engine/ledger/money.ts';
import { sendInput } from '../../bench/guard.ts';
import { startTestEngine, type TestEngine } from '../support/test-engine.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'agencia-desk-engine.js');

/** Runs the CLI in another process without blocking this one's event loop (the engine keeps sending). */
function cliAsync(args: string[], dataDir: string) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, AGENCIA_DATA_DIR: dataDir, REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += String(d)));
  child.stderr.on('data', (d) => (stderr += String(d)));
  const started = performance.now();
  return new Promise<{ status: number | null; stdout: string; stderr: string; ms: number }>((resolve) =>
    child.once('exit', (status) => resolve({ status, stdout, stderr, ms: performance.now() - started })),
  );
}

let t: TestEngine | undefined;
afterEach(async () => {
  await t?.dispose();
  t = undefined;
});

describe('another process writing while the engine streams commands', () => {
  it('a CLI top-up gets the write lock in well under its 5 s busy timeout while sends keep coming', async () => {
    t = await startTestEngine();
    const org = await t.org({ plan: 'partner', credits: '100000' });
    // The same top-up with the engine idle: the CLI's own time (process start, loading), which a busy
    // machine stretches to seconds. What the stream adds to it is the wait for the write lock.
    const idle = await cliAsync(['topup', '--org', org.orgId, '--credits', '1', '--json'], t.dir);
    expect(idle.status, idle.stderr).toBe(0);
    let stop = false;
    let sent = 0;
    // A steady stream: four callers, a turn of the event loop every 64 sends per caller (HTTP brings requests turn by turn).
    const stream = Promise.all(
      Array.from({ length: 4 }, async (_, lane) => {
        for (let i = 0; !stop; i++) {
          await t!.engine.call('whatsapp:send', sendInput(org, lane * 1_000_000 + i), org.apiKey);
          sent++;
          if (i % 64 === 0) await new Promise((r) => setImmediate(r));
        }
      }),
    );
    try {
      await new Promise((r) => setTimeout(r, 300));
      const before = sent;
      const topup = await cliAsync(['topup', '--org', org.orgId, '--credits', '7', '--json'], t.dir);
      expect(topup.status, topup.stderr).toBe(0);
      expect(topup.ms - idle.ms).toBeLessThan(2_500);
      expect(JSON.parse(topup.stdout)).toMatchObject({ orgId: org.orgId });
      // The stream went on around it.
      expect(sent - before).toBeGreaterThan(500);
    } finally {
      stop = true;
      await stream;
    }
    const balance = t.engine.ledger.balance(org.orgId);
    expect(balance.postedMicro).toBe(parseCredits('100008'));
  }, 30_000);
});
