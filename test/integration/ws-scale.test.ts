import { expect } from 'chai';
import sinon from 'sinon';
import WebSocket from 'ws';
import { closed, connect, connectMany, activeReaches, wsTestContext } from './ws-support';

describe('WebSocket broadcast, shutdown and churn at scale (integration)', function () {
  this.timeout(60_000);
  const ctx = wsTestContext();
  const clients = ctx.clients;
  let sendSpy: sinon.SinonSpy = sinon.spy();

  afterEach(() => sinon.restore());

  it('broadcast reaches 1,000 clients exactly once each, framed once, and a filter narrows it', async () => {
    const started = await ctx.start({ maxConnections: 2000 });
    clients.push(...(await connectMany(started.url, 1000, 100)));
    sendSpy = sinon.spy(WebSocket.prototype, 'send');
    const received = clients.map((ws) => new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data)))));
    const result = started.server.broadcast('news');
    expect(result).to.deep.equal({ sent: 1000, skipped: 0 });
    const texts = await Promise.all(received);
    expect(texts.every((t) => t === 'news')).to.equal(true);

    // Binary data and a filter (odd connection ids): 500 binary messages arrive, nothing else.
    let binaries = 0;
    let texts2 = 0;
    const allBinaries = new Promise<void>((resolve) => {
      for (const ws of clients) {
        ws.once('message', (_d, isBinary) => {
          if (isBinary) binaries++;
          else texts2++;
          if (binaries === 500) resolve();
        });
      }
    });
    const odd = started.server.broadcast(Buffer.from([1, 2, 3]), (_ws, conn) => conn.id % 2 === 1);
    expect(odd).to.deep.equal({ sent: 500, skipped: 0 });
    await allBinaries;
    expect(texts2).to.equal(0);
    // Pre-framed: no broadcast went through WebSocket#send (which frames per client).
    expect(sendSpy.callCount).to.equal(0);
    const m = started.pool.getMetrics();
    expect(m.websocket.broadcasts).to.equal(2);
    expect(m.websocket.messagesOut).to.equal(1500);
    expect(m.websocket.payloadBytesOut).to.equal(1000 * 4 + 500 * 3);
  });

  it('shutdown: every one of 1,000 clients gets close 1001 (none 1006), all counted graceful', async () => {
    const started = await ctx.start({ maxConnections: 2000 });
    clients.push(...(await connectMany(started.url, 1000, 100)));
    const codes = clients.map((ws) => closed(ws));
    const result = await started.app.stop();
    const seen = await Promise.all(codes);
    expect(seen.filter((c) => c !== 1001)).to.deep.equal([]);
    expect(result.graceful).to.equal(1000);
    expect(result.forced).to.equal(0);
    expect(result.ok).to.equal(true);
  });

  it('shutdown bounds the close handshake: a client that never reads is terminated after closeTimeout and counted forced', async () => {
    const started = await ctx.start({ closeTimeout: 200 });
    const polite = await connect(started.url);
    const stuck = await connect(started.url);
    clients.push(polite, stuck);
    (stuck as unknown as { _socket: { pause(): void } })._socket.pause();
    const politeCode = closed(polite);
    const result = await started.app.stop();
    expect(await politeCode).to.equal(1001);
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(1);
    expect(started.pool.getMetrics().timeouts.close_handshake).to.equal(1);
  });

  it('active is back to 0 after 1,000 connect/disconnect cycles', async () => {
    const started = await ctx.start({ maxConnections: 100 });
    const { pool, url } = started;
    for (let i = 0; i < 1000; i += 50) {
      const batch = await connectMany(url, 50, 50);
      // Half close politely, half vanish with a reset.
      await Promise.all(
        batch.map((ws, j) => {
          const done = closed(ws);
          if (j % 2 === 0) ws.close(1000);
          else ws.terminate();
          return done;
        }),
      );
    }
    await activeReaches(pool, 0);
    const m = pool.getMetrics();
    expect(m.active).to.equal(0);
    expect(m.idle).to.equal(0);
    expect(m.totalConnections).to.equal(1000);
    expect(m.rejected.total).to.equal(0);
  });
});
