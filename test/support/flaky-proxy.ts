import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/*
 * A loopback HTTP proxy that misbehaves on purpose, bounded and reproducible (seeded): it delays
 * requests, drops connections before forwarding (the server never sees the request) or after (the
 * server did the work, the client never hears), and sends some requests to the server twice (the
 * client gets one answer). Listens on 127.0.0.1 only; forwards only to the one target it was given.
 */

export interface FlakyOptions {
  /** e.g. http://127.0.0.1:PORT */
  target: string;
  seed?: number;
  /** Chance to close the client's connection without forwarding. */
  dropBefore?: number;
  /** Chance to forward, then close the client's connection without the answer. */
  dropAfter?: number;
  /** Chance to send the request to the server twice (at once), answering with the first reply. */
  duplicate?: number;
  /** Delay before forwarding, random in [0, maxDelayMs]. */
  maxDelayMs?: number;
  /** Bodies larger than this are refused with 413 (keeps the proxy bounded). */
  maxBodyBytes?: number;
  /** Upstream timeout per request. */
  timeoutMs?: number;
  /** Called after the upstream answered and before the client gets it (a test may kill the client here). */
  afterForward?: (req: { method: string; path: string; status: number }) => Promise<void> | void;
  /** Called once the request is on its way upstream (a test may kill the server here). */
  onForward?: (req: { method: string; path: string }) => void;
}

export interface FlakyStats {
  requests: number;
  forwarded: number;
  droppedBefore: number;
  droppedAfter: number;
  duplicated: number;
}

export interface FlakyProxy {
  url: string;
  stats: FlakyStats;
  /** Changes the misbehaviour from now on (e.g. all zero to let the run finish cleanly). */
  set(opts: Partial<Pick<FlakyOptions, 'dropBefore' | 'dropAfter' | 'duplicate' | 'maxDelayMs'>>): void;
  /** Answers the next `n` requests itself with `status` (e.g. 429, 503) and `headers`, forwarding nothing. */
  failNext(n: number, status: number, headers?: Record<string, string>): void;
  close(): Promise<void>;
}

/** mulberry32: a small seeded PRNG, so a failing run can be replayed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export async function startFlakyProxy(opts: FlakyOptions): Promise<FlakyProxy> {
  const target = new URL(opts.target);
  if (target.hostname !== '127.0.0.1' && target.hostname !== 'localhost') {
    throw new Error('the flaky proxy forwards to loopback only');
  }
  const random = seededRandom(opts.seed ?? 1);
  const cfg = {
    dropBefore: opts.dropBefore ?? 0,
    dropAfter: opts.dropAfter ?? 0,
    duplicate: opts.duplicate ?? 0,
    maxDelayMs: opts.maxDelayMs ?? 0,
  };
  const maxBody = opts.maxBodyBytes ?? 8 * 1024 * 1024;
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const stats: FlakyStats = { requests: 0, forwarded: 0, droppedBefore: 0, droppedAfter: 0, duplicated: 0 };
  const sockets = new Set<Socket>();
  let failing = { n: 0, status: 503, headers: {} as Record<string, string> };

  function forward(method: string, path: string, headers: IncomingHttpHeaders, body: Buffer) {
    return new Promise<Reply>((resolve, reject) => {
      const { host: _host, connection: _connection, ...rest } = headers;
      const req = request(
        {
          host: target.hostname,
          port: target.port,
          method,
          path,
          headers: { ...rest, 'content-length': String(body.length) },
          timeout: timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('upstream timeout')));
      req.on('error', reject);
      req.end(body);
    });
  }

  const server: Server = createServer((req, res) => {
    stats.requests++;
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > maxBody) {
        res.writeHead(413).end();
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => {
      void (async () => {
        const method = req.method ?? 'GET';
        const path = req.url ?? '/';
        const body = Buffer.concat(chunks);
        if (failing.n > 0) {
          failing.n--;
          res.writeHead(failing.status, { 'content-type': 'application/json', ...failing.headers });
          res.end(JSON.stringify({ error: 'UNAVAILABLE', message: 'the proxy says no' }));
          return;
        }
        if (cfg.maxDelayMs > 0)
          await new Promise((r) => setTimeout(r, Math.floor(random() * cfg.maxDelayMs)));
        if (random() < cfg.dropBefore) {
          stats.droppedBefore++;
          req.socket.destroy();
          return;
        }
        const twice = random() < cfg.duplicate;
        const dropAfter = random() < cfg.dropAfter;
        stats.forwarded++;
        const first = forward(method, path, req.headers, body);
        opts.onForward?.({ method, path });
        let second: Promise<Reply> | undefined;
        if (twice) {
          stats.duplicated++;
          second = forward(method, path, req.headers, body);
        }
        let reply: Reply;
        try {
          reply = await first;
          await second?.catch(() => undefined);
        } catch {
          req.socket.destroy();
          return;
        }
        await opts.afterForward?.({ method, path, status: reply.status });
        if (dropAfter) {
          stats.droppedAfter++;
          req.socket.destroy();
          return;
        }
        const { 'transfer-encoding': _te, connection: _c, ...headers } = reply.headers;
        res.writeHead(reply.status, { ...headers, 'content-length': String(reply.body.length) });
        res.end(reply.body);
      })();
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stats,
    set(next) {
      Object.assign(cfg, next);
    },
    failNext(n, status, headers = {}) {
      failing = { n, status, headers };
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}
