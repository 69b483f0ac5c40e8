/**
 * Raw-socket HTTP/1.1 clients for the shutdown scenarios, in their own process.
 * - `open-idle` {port, count}: opens `count` keep-alive connections, one `GET /` each, and
 *   replies `idle-ready` once every answer is in (the sockets then sit idle);
 * - `inflight` {port, count, ms}: opens `count` connections, then sends `GET /slow?ms=` on all
 *   of them at once and replies `inflight-sent`;
 * - `report` {waitMs}: waits (bounded) until every socket is closed and replies with how many
 *   requests succeeded, failed, and sockets still open.
 */
import * as net from 'node:net';
import { onParentMessage, toParent } from '../lib/worker';

/** Connects in batches: a burst bigger than the listen backlog would stall on SYN retries. */
const CONNECT_BATCH = 100;

interface Tracked {
  socket: net.Socket;
  data: string;
  answered: number;
  ok: number;
  failed: number;
  closed: boolean;
  error: string | undefined;
}

const tracked: Tracked[] = [];

/** Counts complete responses in `t.data` (status 200 and the whole body by Content-Length). */
function consume(t: Tracked): void {
  for (;;) {
    const end = t.data.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = t.data.slice(0, end);
    const length = Number(/content-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (t.data.length < end + 4 + length) return;
    t.data = t.data.slice(end + 4 + length);
    t.answered++;
    if (head.startsWith('HTTP/1.1 200')) t.ok++;
    else t.failed++;
  }
}

function connect(port: number): Promise<Tracked> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const t: Tracked = { socket, data: '', answered: 0, ok: 0, failed: 0, closed: false, error: undefined };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      t.data += chunk;
      consume(t);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      t.error = err.code ?? err.message;
    });
    socket.on('close', () => {
      t.closed = true;
    });
    socket.once('connect', () => resolve(t));
    socket.once('error', reject);
  });
}

async function openAll(port: number, count: number): Promise<Tracked[]> {
  const out: Tracked[] = [];
  for (let i = 0; i < count; i += CONNECT_BATCH) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(CONNECT_BATCH, count - i) }, () => connect(port)))));
  }
  tracked.push(...out);
  return out;
}

/** Polls `done` every few ms until true or `timeoutMs` passes. */
async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 5));
  }
  return true;
}

onParentMessage(async (msg) => {
  const port = msg.port as number;
  const count = msg.count as number;
  if (msg.type === 'open-idle') {
    const sockets = await openAll(port, count);
    for (const t of sockets) t.socket.write('GET / HTTP/1.1\r\nHost: bench\r\n\r\n');
    const ok = await until(() => sockets.every((t) => t.answered > 0 || t.closed), 30_000);
    await toParent({ type: 'idle-ready', open: sockets.filter((t) => !t.closed && t.ok === 1).length, complete: ok });
  } else if (msg.type === 'inflight') {
    const sockets = await openAll(port, count);
    const request = `GET /slow?ms=${msg.ms as number} HTTP/1.1\r\nHost: bench\r\n\r\n`;
    for (const t of sockets) t.socket.write(request);
    await toParent({ type: 'inflight-sent' });
  } else if (msg.type === 'report') {
    await until(() => tracked.every((t) => t.closed), (msg.waitMs as number) ?? 5000);
    const ok = tracked.reduce((n, t) => n + t.ok, 0);
    // A socket that closed without its answer counts as one failed request.
    const failed = tracked.reduce((n, t) => n + t.failed + (t.answered === 0 ? 1 : 0), 0);
    await toParent({ type: 'report', ok, failed, stillOpen: tracked.filter((t) => !t.closed).length, errors: tracked.filter((t) => t.error).length });
    for (const t of tracked) t.socket.destroy();
    tracked.length = 0;
  }
});
void toParent({ type: 'ready' });
