import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { createLogger } from './logger.ts';

it('binds the service and redacts secrets', () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const log = createLogger('ledger', { destination: destination as never });
  log.info(
    {
      apiKey: 'ak_live_123',
      headers: { authorization: 'Bearer tok', apikey: 'evo-key' },
      org: { token: 't0k' },
      n: 1,
    },
    'hello',
  );
  const line = JSON.parse(lines[0]!) as Record<string, unknown>;
  expect(line.service).toBe('ledger');
  expect(line.n).toBe(1);
  const text = lines.join('');
  for (const secret of ['ak_live_123', 'Bearer tok', 'evo-key', 't0k']) expect(text).not.toContain(secret);
  expect(text).toContain('[redacted]');
});
