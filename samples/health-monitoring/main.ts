/**
 * Subscribes to every pool event and to the application's lifecycle events and prints one line
 * per event. It drives some traffic itself (keep-alive clients, a refusal at the limit, a slow
 * request, a failing handler, a live reload), then shuts down gracefully.
 *
 *   npm run sample:health
 */
import 'reflect-metadata';
import * as http from 'node:http';
import { ConnectionPoolEvent, createApp, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool, type ConnectionPoolManager } from '../../src';

@UsePool(HttpConnectionPool)
class WatchedServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }

  handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.url === '/boom') throw new Error('boom');
    const ms = req.url === '/slow' ? 300 : 0;
    setTimeout(() => res.end('ok\n'), ms);
  }
}

function print(source: string, event: string, detail: unknown): void {
  console.log(`${new Date().toISOString()} ${source.padEnd(6)} ${event.padEnd(20)} ${JSON.stringify(detail)}`);
}

/** Prints every event of a pool; connection events are summarised to what an operator reads. */
function watch(pool: ConnectionPoolManager<unknown>): void {
  const p = pool.protocol;
  pool.events.on(ConnectionPoolEvent.ConnectionAdded, ({ connection, active }) => print(p, 'connection added', { id: connection.id, from: `${connection.remoteAddress}:${connection.remotePort}`, active }));
  pool.events.on(ConnectionPoolEvent.ConnectionRemoved, ({ connection, reason, active }) => print(p, 'connection removed', { id: connection.id, reason, requests: connection.requests, active }));
  pool.events.on(ConnectionPoolEvent.ConnectionRejected, (e) => print(p, 'connection rejected', e));
  pool.events.on(ConnectionPoolEvent.LimitReached, (e) => print(p, 'limit reached', e));
  pool.events.on(ConnectionPoolEvent.ConnectionTimeout, ({ connection, kind }) => print(p, 'timeout', { id: connection.id, kind }));
  pool.events.on(ConnectionPoolEvent.ConnectionError, ({ type, error }) => print(p, 'error', { type, message: error?.message }));
  pool.events.on(ConnectionPoolEvent.HealthChanged, ({ previous, current }) => print(p, 'health changed', { from: previous.status, to: current.status, reason: current.reason }));
  pool.events.on(ConnectionPoolEvent.ConfigUpdated, (e) => print(p, 'config updated', e));
  pool.events.on(ConnectionPoolEvent.DrainStarted, (e) => print(p, 'drain started', e));
  pool.events.on(ConnectionPoolEvent.DrainFinished, (e) => print(p, 'drain finished', { ...e, durationMs: Math.round(e.durationMs) }));
}

function request(port: number, path: string, agent: http.Agent | false): Promise<number> {
  return new Promise((resolve) => {
    http
      .get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', () => resolve(0));
  });
}

async function main(): Promise<void> {
  // Quiet logs: this sample prints the events itself.
  const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } };
  const config = {
    http: { port: 0, maxConnections: 2, health: { degradedUtilization: 0.5, overloadedUtilization: 1, minRequests: 1, degradedErrorRate: 0.3, overloadedErrorRate: 0.9 } },
    admin: { port: 0 },
    shutdown: { drainDelay: 100, timeout: 2000 },
  };
  const app = createApp({ servers: [WatchedServer], config, logger: silent, handleSignals: false });
  app.events.on('readinessChanged', (e) => print('app', 'readiness changed', e));
  app.events.on('configReloaded', (e) => print('app', 'config reloaded', { applied: e.applied, restartRequired: e.restartRequired }));
  app.events.on('shutdownPhase', (e) => print('app', 'shutdown phase', { phase: e.phase, durationMs: Math.round(e.durationMs) }));
  await app.start();
  for (const pool of app.pools) watch(pool);
  const port = app.server(WatchedServer).address()?.port as number;
  print('app', 'started', { http: port, admin: app.adminAddress()?.port });

  const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const b = new http.Agent({ keepAlive: true, maxSockets: 1 });
  await request(port, '/', a);
  await request(port, '/slow', b); // two connections: utilisation 1.0 -> health moves
  print('client', 'refused request', { status: await request(port, '/', false) });
  print('client', 'failing request', { status: await request(port, '/boom', a) });
  await app.reload({ ...config, http: { ...config.http, maxConnections: 10 } });
  await request(port, '/', b);
  a.destroy();
  b.destroy();
  const result = await app.stop();
  print('app', 'stopped', { ok: result.ok, graceful: result.graceful, forced: result.forced });
}

main().catch((err: Error) => {
  console.error(err);
  process.exitCode = 1;
});
