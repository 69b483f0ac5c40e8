import type { IncomingMessage, ServerResponse } from 'node:http';

/** Longest delay `/slow` accepts (ms). */
export const MAX_SLOW_MS = 60_000;
/** Longest CPU burn `/cpu` accepts (ms). */
export const MAX_CPU_MS = 1000;
/** Largest body `/bytes` serves (64 MiB). */
export const MAX_BYTES = 64 * 1024 * 1024;

/** One chunk of `/bytes` bodies, shared by every response: a body of N bytes never allocates N bytes. */
const BYTES_CHUNK = Buffer.alloc(64 * 1024, 'x');

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * Writes `n` bytes in one go, as a handler that sends a big payload with one `end()` does: the
 * body sits in the socket's buffer until the client has read it, which is what a drain must not
 * cut. Every write is the same shared chunk, so buffering N bytes holds N / 64 KiB references,
 * not N bytes of memory.
 */
function writeBytes(res: ServerResponse, n: number): void {
  for (; n > BYTES_CHUNK.length; n -= BYTES_CHUNK.length) res.write(BYTES_CHUNK);
  res.end(BYTES_CHUNK.subarray(0, n));
}

/**
 * Holds the event loop for `ms` milliseconds of wall time, as a CPU-bound synchronous handler
 * does: the work that piles up behind it waits in socket buffers and the event loop, which is
 * what overload protection has to see.
 */
function burnCpu(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

/** The demo routes every HTTP-like server of the sample serves: `GET /`, `GET /slow?ms=N`, `GET /cpu?ms=N` and `GET /bytes?n=N`. */
export function handleDemoRequest(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
  if (url.pathname === '/') return send(res, 200, 'hello');
  if (url.pathname === '/slow') {
    const raw = url.searchParams.get('ms') ?? '0';
    const ms = Number(raw);
    if (!/^\d+$/.test(raw) || ms > MAX_SLOW_MS) return send(res, 400, `ms must be a whole number from 0 to ${MAX_SLOW_MS}\n`);
    const timer = setTimeout(() => send(res, 200, `slept ${ms} ms\n`), ms);
    res.once('close', () => clearTimeout(timer));
    return;
  }
  if (url.pathname === '/cpu') {
    const raw = url.searchParams.get('ms') ?? '';
    const ms = Number(raw);
    if (!/^\d+$/.test(raw) || ms > MAX_CPU_MS) return send(res, 400, `ms must be a whole number from 0 to ${MAX_CPU_MS}\n`);
    burnCpu(ms);
    return send(res, 200, `burned ${ms} ms of CPU\n`);
  }
  if (url.pathname === '/bytes') {
    const raw = url.searchParams.get('n') ?? '';
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n > MAX_BYTES) return send(res, 400, `n must be a whole number from 0 to ${MAX_BYTES}\n`);
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
    if (req.method === 'HEAD') return void res.end();
    return writeBytes(res, n);
  }
  send(res, 404, 'not found\n');
}
