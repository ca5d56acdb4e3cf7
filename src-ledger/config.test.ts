import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LedgerConfigError, loadLedgerConfig } from './config.ts';

const TOKEN = 'an-admin-token-of-32-characters!';

describe('ledger configuration', () => {
  it('has the documented defaults', () => {
    expect(loadLedgerConfig({ LEDGER_ADMIN_TOKEN: TOKEN })).toEqual({
      LEDGER_HOST: '127.0.0.1',
      LEDGER_PORT: 7430,
      LEDGER_DATA_DIR: resolve('.data/ledger'),
      LEDGER_ADMIN_TOKEN: TOKEN,
      LEDGER_BILLING_INTERVAL_S: 3600,
      LOG_LEVEL: 'info',
    });
  });

  it('treats empty variables as unset and reads the rest', () => {
    const config = loadLedgerConfig({
      LEDGER_ADMIN_TOKEN: TOKEN,
      LEDGER_PORT: '0',
      DATABASE_URL: 'postgres://ledger:pw@db:5432/ledger',
      STRIPE_WEBHOOK_SECRET: '',
    });
    expect(config).toMatchObject({ LEDGER_PORT: 0, DATABASE_URL: 'postgres://ledger:pw@db:5432/ledger' });
    expect(config.STRIPE_WEBHOOK_SECRET).toBeUndefined();
  });

  it('refuses a missing admin token and bad values, naming the variable but never its value', () => {
    expect(() => loadLedgerConfig({})).toThrow(/LEDGER_ADMIN_TOKEN/);
    const secret = 'short-secret';
    const error = (() => {
      try {
        loadLedgerConfig({ LEDGER_ADMIN_TOKEN: TOKEN, STRIPE_WEBHOOK_SECRET: secret, LEDGER_PORT: '70000' });
      } catch (err) {
        return err as Error;
      }
      throw new Error('accepted');
    })();
    expect(error).toBeInstanceOf(LedgerConfigError);
    expect(error.message).toMatch(/STRIPE_WEBHOOK_SECRET/);
    expect(error.message).toMatch(/LEDGER_PORT/);
    expect(error.message).not.toContain(secret);
    expect(() => loadLedgerConfig({ LEDGER_ADMIN_TOKEN: TOKEN, DATABASE_URL: 'mysql://x@y/z' })).toThrow(
      /DATABASE_URL/,
    );
  });
});
