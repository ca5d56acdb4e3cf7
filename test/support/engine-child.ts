// The headless engine exactly as `agencia-desk-engine start` runs it, plus one test worker, so a
// test can send real signals and watch active jobs finish or be released.
import { loadConfig } from '../../src-engine/config/index.ts';
import { createLogger } from '../../src-engine/logger.ts';
import { runEngine, stopOnSignals } from '../../src-engine/run.ts';

const config = loadConfig();
const log = createLogger('engine', { level: 'silent' });
const running = await runEngine(config, log, (engine) => {
  engine.queue.process<{ ms: number }>(
    'test.slow',
    (job) => new Promise((r) => setTimeout(() => r('done'), job.data.ms)),
    {
      concurrency: 2,
    },
  );
});
console.log(`READY ${running.url}`);
await stopOnSignals(running, log, Number(process.env.GRACE_MS ?? 1000));
console.log('STOPPED');
process.exit(0);
