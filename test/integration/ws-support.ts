import { nextPoolEvent } from '../helpers/pool-events';
import WebSocket, { type RawData } from 'ws';
import { ConnectionPoolEvent, PoolConfig, UsePool, WebSocketConnectionPool, WebSocketPoolConfig, WebSocketServer } from '../../src';
import { createTestApp } from '../../src/testing';

/** Echo server used by the WebSocket integration tests. Messages starting with `throw` make the handler throw. */
@UsePool(WebSocketConnectionPool)
export class TestWsServer extends WebSocketServer {
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: WebSocketPoolConfig) {
    super(config);
  }

  onMessage(socket: WebSocket, data: RawData, isBinary: boolean): void {
    if (!isBinary && data.toString().startsWith('throw')) throw new Error('handler failed on purpose');
    this.send(socket, data as Buffer, isBinary);
  }
}

/** A started test app with one `TestWsServer`, and the URL of its WebSocket path. */
export async function startWsApp(ws: Record<string, unknown> = {}, shutdown: Record<string, unknown> = {}) {
  const app = createTestApp({ servers: [TestWsServer], config: { ws, shutdown: { timeout: 10_000, ...shutdown } } });
  await app.start();
  const server = app.server(TestWsServer);
  const pool = server.pool;
  const port = server.address()?.port as number;
  const path = (ws.path as string | undefined) ?? '/ws';
  return { app, server, pool, port, url: `ws://127.0.0.1:${port}${path}` };
}

/** Opens a client; resolves once open, rejects on error or a non-101 answer. */
export function connect(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => {
      ws.off('error', reject);
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

/** The outcome of one upgrade attempt: open client or the HTTP status of the refusal. */
export interface UpgradeOutcome {
  ws?: WebSocket;
  status?: number;
  retryAfter?: string;
}

/** Tries one upgrade and reports either the open client or the refusal's status and Retry-After. */
export function tryUpgrade(url: string): Promise<UpgradeOutcome> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined });
    });
    ws.once('error', reject);
  });
}

/** Opens `count` clients, `batch` at a time. */
export async function connectMany(url: string, count: number, batch = 100, options: WebSocket.ClientOptions = {}): Promise<WebSocket[]> {
  const all: WebSocket[] = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    all.push(...(await Promise.all(Array.from({ length: n }, () => connect(url, options)))));
  }
  return all;
}

/** Resolves with the close code once the client has closed. */
export function closed(ws: WebSocket): Promise<number> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
  return new Promise((resolve) => ws.once('close', (code) => resolve(code)));
}

/** Terminates every client that is still open and waits until all are closed. */
export async function closeClients(clients: Iterable<WebSocket>): Promise<void> {
  const waits: Promise<number>[] = [];
  for (const ws of clients) {
    if (ws.readyState === WebSocket.CLOSED) continue;
    waits.push(closed(ws));
    ws.terminate();
  }
  await Promise.all(waits);
}

/** Resolves with the first payload of `event` that `match` accepts. */
export const poolEvent = nextPoolEvent;

/** Resolves once the pool holds exactly `active` connections. */
export function activeReaches(pool: WebSocketConnectionPool, active: number): Promise<void> {
  if (pool.size === active) return Promise.resolve();
  return poolEvent(pool, ConnectionPoolEvent.ConnectionRemoved, (p) => p.active === active).then(() => undefined);
}

/** Started app of a test, plus the clients it opened; both are cleaned up after each test. */
export interface WsTestContext {
  readonly clients: WebSocket[];
  start(ws?: Record<string, unknown>, shutdown?: Record<string, unknown>): ReturnType<typeof startWsApp>;
}

/** Registers an `afterEach` that terminates the test's clients and stops its app (if still running). */
export function wsTestContext(): WsTestContext {
  let started: Awaited<ReturnType<typeof startWsApp>> | undefined;
  const clients: WebSocket[] = [];
  afterEach(async () => {
    await closeClients(clients.splice(0));
    if (started && started.app.state === 'running') await started.app.stop();
    started = undefined;
  });
  return {
    clients,
    async start(ws, shutdown) {
      started = await startWsApp(ws, shutdown);
      return started;
    },
  };
}
