import type { IncomingMessage, ServerResponse } from 'node:http';

const HELLO = Buffer.from('hello');
const SLOW_PREFIX = '/slow?ms=';

/** Requests the handler has answered or started (for CPU time per request). */
export const served = { count: 0 };

/** Counts requests in flight in the handler, so a shutdown scenario can start at an exact load. */
export const inflight = { count: 0, onChange: undefined as ((count: number) => void) | undefined };

function sendText(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/**
 * The one handler both sides of every HTTP(S) comparison run: `GET /` -> `hello`,
 * `GET /slow?ms=N` -> answers after N ms. Kept minimal so the pool's cost is not hidden.
 */
export function benchHandler(req: IncomingMessage, res: ServerResponse): void {
  served.count++;
  const url = req.url as string;
  if (url.startsWith(SLOW_PREFIX)) {
    const ms = Number(url.slice(SLOW_PREFIX.length));
    setTimeout(() => {
      inflight.count--;
      sendText(res, `slept ${ms} ms\n`);
    }, ms);
    inflight.count++;
    inflight.onChange?.(inflight.count);
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': HELLO.length });
  res.end(HELLO);
}

const CPU_PREFIX = '/cpu?ms=';

/**
 * `GET /cpu?ms=N`: holds the event loop for N ms (a busy loop, as a CPU-bound synchronous
 * handler does), then answers. The overload scenario's one handler, the same on every side.
 */
export function cpuHandler(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url as string;
  const ms = url.startsWith(CPU_PREFIX) ? Number(url.slice(CPU_PREFIX.length)) : 0;
  const until = performance.now() + ms;
  while (performance.now() < until);
  served.count++;
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': HELLO.length });
  res.end(HELLO);
}
