import { describe, expect, it } from 'vitest';
import { pageConnection, type PageEnv } from '../../src-renderer/src/client/page-connection.ts';

function env(href: string, stored: Record<string, string> = {}) {
  const store = new Map(Object.entries(stored));
  const replaced: string[] = [];
  const e: PageEnv = {
    location: { href, origin: new URL(href).origin },
    storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v) },
    replaceUrl: (u) => void replaced.push(u),
  };
  return { e, store, replaced };
}

describe('pageConnection', () => {
  it('takes the token from the URL, keeps it for reloads and strips it from the address bar', () => {
    const { e, store, replaced } = env('http://127.0.0.1:7420/?token=ads_abc&x=1#/billing');
    expect(pageConnection(e)).toEqual({ baseUrl: 'http://127.0.0.1:7420', token: 'ads_abc' });
    expect(store.get('agencia.token')).toBe('ads_abc');
    expect(replaced).toEqual(['/?x=1#/billing']);
  });

  it('uses the kept token on a reload, and none when there is none', () => {
    expect(pageConnection(env('http://127.0.0.1:7420/', { 'agencia.token': 'ads_kept' }).e)?.token).toBe(
      'ads_kept',
    );
    expect(pageConnection(env('http://127.0.0.1:7420/').e)).toBeUndefined();
  });

  it('accepts another engine address only on loopback', () => {
    const local = env('http://localhost:5173/?token=t&api=http://127.0.0.1:7420').e;
    expect(pageConnection(local)?.baseUrl).toBe('http://127.0.0.1:7420');
    const remote = env('http://localhost:5173/?token=t&api=http://evil.example:80').e;
    expect(pageConnection(remote)?.baseUrl).toBe('http://localhost:5173');
  });
});
