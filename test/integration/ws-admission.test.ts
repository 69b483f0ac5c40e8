import { expect } from 'chai';
import * as http from 'node:http';
import * as net from 'node:net';
import type WebSocket from 'ws';
import { waitFor } from '../helpers/http-fixtures';
import { activeReaches, tryUpgrade, wsTestContext } from './ws-support';

/** A valid upgrade request to `/ws`. */
const UPGRADE = 'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

/** A TCP connection the WebSocket server has accepted and that has sent nothing yet; `received` is what it got until it closed. */
async function silentConnection(started: { server: unknown; port: number }): Promise<{ socket: net.Socket; received: Promise<string> }> {
  const node = (started.server as { server: net.Server }).server;
  const accepted = new Promise((resolve) => node.once('connection', resolve));
  const socket = net.connect(started.port, '127.0.0.1');
  socket.on('error', () => undefined);
  let data = '';
  socket.setEncoding('utf8').on('data', (c: string) => (data += c));
  const received = new Promise<string>((resolve) => socket.once('close', () => resolve(data)));
  await accepted;
  return { socket, received };
}

describe('WebSocket admission (integration)', () => {
  const ctx = wsTestContext();
  const clients = ctx.clients;

  it('admits exactly maxConnections of concurrent upgrades and answers the rest 503 + Retry-After', async () => {
    const started = await ctx.start({ maxConnections: 25, retryAfter: 7 });
    const outcomes = await Promise.all(Array.from({ length: 60 }, () => tryUpgrade(started.url)));
    for (const o of outcomes) if (o.ws) clients.push(o.ws);
    const refused = outcomes.filter((o) => o.status !== undefined);
    expect(clients).to.have.length(25);
    expect(refused).to.have.length(35);
    for (const o of refused) {
      expect(o.status).to.equal(503);
      expect(o.retryAfter).to.equal('7');
    }
    const metrics = started.pool.getMetrics();
    expect(metrics.active).to.equal(25);
    expect(metrics.totalConnections).to.equal(25);
    expect(metrics.rejected.byReason.max_connections).to.equal(35);
  });

  it('admits again once a slot frees up', async () => {
    const started = await ctx.start({ maxConnections: 1 });
    const first = await tryUpgrade(started.url);
    clients.push(first.ws as WebSocket);
    expect((await tryUpgrade(started.url)).status).to.equal(503);
    first.ws?.close();
    await activeReaches(started.pool, 0);
    const again = await tryUpgrade(started.url);
    expect(again.ws).to.not.equal(undefined);
    clients.push(again.ws as WebSocket);
  });

  it('answers 503 while the pool drains and never completes the handshake', async () => {
    const started = await ctx.start({ closeTimeout: 2000 });
    const drained = started.pool.drain();
    const outcome = await tryUpgrade(started.url);
    expect(outcome.status).to.equal(503);
    expect(outcome.ws).to.equal(undefined);
    await drained;
    expect(started.pool.getMetrics().rejected.byReason.draining).to.equal(1);
  });

  it('a connection opened just before app.stop() whose upgrade request comes once the drain has started is answered 503 (shutting down), not cut by the server close', async () => {
    const started = await ctx.start({});
    const { socket, received } = await silentConnection(started);
    const stopping = started.app.stop();
    await waitFor(() => started.pool.isDraining, 2000, 'drain started');
    socket.write(UPGRADE);
    const result = await stopping;
    const data = await received;
    expect(data).to.match(/^HTTP\/1\.1 503 /);
    expect(data).to.contain('server is shutting down');
    expect(result.ok).to.equal(true);
    expect(started.pool.getMetrics().rejected.byReason.draining).to.equal(1);
  });

  it('a forced stop does not wait for a connection that has not sent its upgrade: it is cut at once', async () => {
    const started = await ctx.start({});
    const { socket, received } = await silentConnection(started);
    const stopping = started.app.stop({ force: true });
    await waitFor(() => started.pool.wasForced, 2000, 'the stop forced');
    // Sent after the force: a server that still waited for it would answer 503.
    socket.write(UPGRADE);
    const result = await stopping;
    const data = await received;
    expect(data).to.equal('');
    expect(result.forcedByUser).to.equal(true);
    expect(started.pool.wasForced).to.equal(true);
  });

  it('answers 404 to an upgrade on another path and admits nothing', async () => {
    const started = await ctx.start({ path: '/live' });
    const outcome = await tryUpgrade(`ws://127.0.0.1:${started.port}/other`);
    expect(outcome.status).to.equal(404);
    const ok = await tryUpgrade(`ws://127.0.0.1:${started.port}/live?token=1`);
    expect(ok.ws).to.not.equal(undefined);
    clients.push(ok.ws as WebSocket);
    const metrics = started.pool.getMetrics();
    expect(metrics.totalConnections).to.equal(1);
    expect(metrics.rejected.byReason.bad_path).to.equal(1);
  });

  it('survives peers that send a refused upgrade and reset at once (no unhandled socket error)', async () => {
    const started = await ctx.start({ path: '/live' });
    const resets: Array<Promise<void>> = [];
    for (let i = 0; i < 100; i++) {
      resets.push(
        new Promise<void>((resolve) => {
          const socket = net.connect(started.port, '127.0.0.1', () => {
            socket.write(`GET /nope HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n${'x'.repeat(64 * 1024)}`);
            socket.resetAndDestroy();
          });
          socket.on('error', () => undefined);
          socket.on('close', () => resolve());
        }),
      );
    }
    await Promise.all(resets);
    // Still serving: the process did not die of an unhandled 'error' on a refused socket.
    const ok = await tryUpgrade(`ws://127.0.0.1:${started.port}/live`);
    expect(ok.ws).to.not.equal(undefined);
    clients.push(ok.ws as WebSocket);
    expect(started.pool.getMetrics().rejected.byReason.bad_path).to.be.at.most(100);
  });

  it('answers a plain HTTP request with 426 on the WebSocket path', async () => {
    const started = await ctx.start();
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: started.port, path: '/ws', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode as number);
      }).once('error', reject);
    });
    expect(status).to.equal(426);
    expect(started.pool.size).to.equal(0);
  });
});

describe('WebSocket live config (integration)', () => {
  const ctx = wsTestContext();
  const clients = ctx.clients;

  it('applies a new heartbeat to live connections and a new maxPayload to the next ones, without dropping any', async () => {
    const started = await ctx.start({ pingInterval: 60_000, pongTimeout: 1000, maxPayload: 1024, maxBufferedAmount: 65_536 });
    const old = (await tryUpgrade(started.url)).ws as WebSocket;
    clients.push(old);
    const pinged = new Promise<void>((resolve) => old.once('ping', () => resolve()));
    const result = started.pool.updateConfig({ pingInterval: 50, pongTimeout: 40 });
    expect(result.applied.sort()).to.deep.equal(['pingInterval', 'pongTimeout']);
    expect(started.server.updateConfig({ maxPayload: 4096 }).applied).to.deep.equal(['maxPayload']);
    await pinged; // would take a minute on the old interval
    const fresh = (await tryUpgrade(started.url)).ws as WebSocket;
    clients.push(fresh);
    const echoed = new Promise<number>((resolve) => fresh.once('message', (data) => resolve((data as Buffer).length)));
    fresh.send(Buffer.alloc(2048));
    expect(await echoed).to.equal(2048);
    expect(old.readyState).to.equal(old.OPEN);
    expect(started.pool.size).to.equal(2);
  });
});
