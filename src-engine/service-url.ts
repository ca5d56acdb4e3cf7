/**
 * `path` (with its query, if any) under a service's configured base URL, keeping the base's own path
 * and query: a service behind a reverse proxy at `http://gpu-box/ollama` is reached at
 * `http://gpu-box/ollama/api/chat`, where `new URL('/api/chat', base)` would drop `/ollama`.
 */
export function serviceUrl(base: string, path: string): URL {
  const url = new URL(base);
  // Parsed on its own, as a path: dot segments and escapes as a URL would have them.
  const rel = new URL(path.replace(/^\/+/, ''), 'http://service/');
  url.pathname = `${url.pathname.replace(/\/+$/, '')}${rel.pathname}`;
  if (rel.search) url.search = url.search ? `${url.search}&${rel.search.slice(1)}` : rel.search;
  url.hash = '';
  return url;
}
