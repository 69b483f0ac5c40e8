import { expect } from 'chai';
import { performance } from 'node:perf_hooks';
import type WebSocket from 'ws';
import { ConnectionPoolEvent } from '../../src';
import { connect, poolEvent, wsTestContext } from './ws-support';

/** Resolves after the client has received `count` pings. */
function pings(ws: WebSocket, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onPing = (): void => {
      if (++seen < count) return;
      ws.off('ping', onPing);
      resolve();
    };
    ws.on('ping', onPing);
  });
}

describe('WebSocket heartbeat (integration)', () => {
  const ctx = wsTestContext();
  const clients = ctx.clients;

  it('terminates a peer that stops answering pings within pingInterval + pongTimeout and counts a timeout', async () => {
    const pingInterval = 150;
    const pongTimeout = 100;
    const started = await ctx.start({ pingInterval, pongTimeout });
    const healthy = await connect(started.url);
    clients.push(healthy);
    const removed = poolEvent(started.pool, ConnectionPoolEvent.ConnectionRemoved);
    const timedOut = poolEvent(started.pool, ConnectionPoolEvent.ConnectionTimeout);
    const silent = await connect(started.url, { autoPong: false });
    clients.push(silent);
    const openedAt = performance.now();
    const gone = await removed;
    const elapsed = performance.now() - openedAt;

    expect(gone.reason).to.equal('pong_timeout');
    expect((await timedOut).kind).to.equal('pong');
    // Bound: one interval to the first ping, one pong timeout, plus generous scheduling slack.
    expect(elapsed).to.be.lessThan(pingInterval + pongTimeout + 1000);
    const metrics = started.pool.getMetrics();
    expect(metrics.timeouts.pong).to.equal(1);
    expect(metrics.websocket.pongTimeouts).to.equal(1);
    expect(metrics.active).to.equal(1);
    expect(healthy.readyState).to.equal(healthy.OPEN);
  });

  it('never idles out a peer that answers pings, even with no messages', async () => {
    const started = await ctx.start({ pingInterval: 60, pongTimeout: 50, idleTimeout: 150 });
    const client = await connect(started.url);
    clients.push(client);
    let removedEarly = false;
    started.pool.events.on(ConnectionPoolEvent.ConnectionRemoved, () => (removedEarly = true));
    // Eight pings span well over twice the idle timeout.
    await pings(client, 8);
    expect(removedEarly).to.equal(false);
    expect(started.pool.size).to.equal(1);
    expect(started.pool.getMetrics().timeouts.idle).to.equal(undefined);
  });

  it('idles out a peer that neither sends nor answers, with close 1000, when idleTimeout is shorter than the heartbeat', async () => {
    const started = await ctx.start({ pingInterval: 5000, pongTimeout: 1000, idleTimeout: 100 });
    const client = await connect(started.url, { autoPong: false });
    clients.push(client);
    const code = await new Promise<number>((resolve) => client.once('close', resolve));
    expect(code).to.equal(1000);
    expect(started.pool.getMetrics().timeouts.idle).to.equal(1);
  });
});
