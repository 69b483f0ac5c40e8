import type { IncomingMessage, ServerResponse } from 'node:http';

/** Longest delay `/slow` accepts (ms). */
export const MAX_SLOW_MS = 60_000;

function send(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

/** The demo routes every HTTP-like server of the sample serves: `GET /` and `GET /slow?ms=N`. */
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
  send(res, 404, 'not found\n');
}
