const TOKEN_KEY = 'agencia.token';

export interface PageConnection {
  baseUrl: string;
  token: string;
}

/** What the page needs from the browser: its URL, a per-tab store, and a way to rewrite the URL. */
export interface PageEnv {
  location: Pick<Location, 'href' | 'origin'>;
  storage: Pick<Storage, 'getItem' | 'setItem'> | undefined;
  replaceUrl(url: string): void;
}

const LOOPBACK = /^http:\/\/(127\.0\.0\.1|localhost|\[::1\]):\d+$/;

/**
 * Where the engine is and the token to use, in a browser: the token comes from `?token=` on the first
 * load, is kept in sessionStorage (this tab only) for reloads, and is taken out of the address bar so
 * it is not bookmarked or shared by accident. `?api=` points at another local engine (development).
 */
export function pageConnection(env: PageEnv): PageConnection | undefined {
  const url = new URL(env.location.href);
  const fromUrl = url.searchParams.get('token');
  const api = url.searchParams.get('api');
  let token = fromUrl;
  if (fromUrl) {
    try {
      env.storage?.setItem(TOKEN_KEY, fromUrl);
    } catch {
      // No storage: the token lives in this page only; a reload needs the printed address again.
    }
    url.searchParams.delete('token');
    env.replaceUrl(url.pathname + url.search + url.hash);
  } else {
    try {
      token = env.storage?.getItem(TOKEN_KEY) ?? null;
    } catch {
      token = null;
    }
  }
  if (!token) return undefined;
  const baseUrl = api && LOOPBACK.test(api) ? api : env.location.origin;
  return { baseUrl, token };
}
