/**
 * `path` under a service's configured base URL, keeping the base's own path: a service behind a
 * reverse proxy at `http://gpu-box/ollama` is reached at `http://gpu-box/ollama/api/chat`, where
 * `new URL('/api/chat', base)` would drop `/ollama`.
 */
export function serviceUrl(base: string, path: string): URL {
  return new URL(path.replace(/^\/+/, ''), base.endsWith('/') ? base : `${base}/`);
}
