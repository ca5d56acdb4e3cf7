import { describe, expect, it } from 'vitest';
import { createLogger } from '../logger.ts';
import { createJsonApp } from './json-app.ts';

describe('createJsonApp', () => {
  it('answers an unexpected error with the shared 500 and logs the path without its query (a key may be in it)', async () => {
    const lines: string[] = [];
    const log = createLogger('engine', { destination: { write: (line: string) => void lines.push(line) } });
    const app = createJsonApp({ bodyLimit: 1024, log });
    app.get('/api/v1/events', () => {
      throw new Error('SQLITE_BUSY: database is locked');
    });
    const res = await app.inject({ method: 'GET', url: '/api/v1/events?key=ad_abc_secretsecret' });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'INTERNAL_ERROR', message: 'Internal error' });
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      msg: 'request failed',
      url: '/api/v1/events',
      method: 'GET',
    });
    expect(lines[0]).not.toContain('secretsecret');
    await app.close();
  });
});
