import { expect } from 'chai';
import * as http from 'node:http';
import type WebSocket from 'ws';
import { activeReaches, closeClients, startWsApp, tryUpgrade } from './ws-support';

type Started = Awaited<ReturnType<typeof startWsApp>>;

describe('WebSocket admission (integration)', () => {
  let started: Started | undefined;
  const clients: WebSocket[] = [];

  afterEach(async () => {
    await closeClients(clients.splice(0));
    if (started && started.app.state === 'running') await started.app.stop();
    started = undefined;
  });

  it('admits exactly maxConnections of concurrent upgrades and answers the rest 503 + Retry-After', async () => {
    started = await startWsApp({ maxConnections: 25, retryAfter: 7 });
    const outcomes = await Promise.all(Array.from({ length: 60 }, () => tryUpgrade(started!.url)));
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
    started = await startWsApp({ maxConnections: 1 });
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
    started = await startWsApp({ closeTimeout: 2000 });
    const drained = started.pool.drain();
    const outcome = await tryUpgrade(started.url);
    expect(outcome.status).to.equal(503);
    expect(outcome.ws).to.equal(undefined);
    await drained;
    expect(started.pool.getMetrics().rejected.byReason.draining).to.equal(1);
  });

  it('answers 404 to an upgrade on another path and admits nothing', async () => {
    started = await startWsApp({ path: '/live' });
    const outcome = await tryUpgrade(`ws://127.0.0.1:${started.port}/other`);
    expect(outcome.status).to.equal(404);
    const ok = await tryUpgrade(`ws://127.0.0.1:${started.port}/live?token=1`);
    expect(ok.ws).to.not.equal(undefined);
    clients.push(ok.ws as WebSocket);
    const metrics = started.pool.getMetrics();
    expect(metrics.totalConnections).to.equal(1);
    expect(metrics.rejected.byReason.bad_path).to.equal(1);
  });

  it('answers a plain HTTP request with 426 on the WebSocket path', async () => {
    started = await startWsApp();
    const status = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: started!.port, path: '/ws', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode as number);
      }).once('error', reject);
    });
    expect(status).to.equal(426);
    expect(started.pool.size).to.equal(0);
  });
});
