import { execFile } from 'node:child_process';
import { expect } from 'chai';
import WebSocket from 'ws';
import { ConnectionPoolEvent } from '../../src';
import { SYSTEM_PYTHON } from '../helpers/grpc-python';
import { activeReaches, closed, connect, poolEvent, wsTestContext } from './ws-support';

/** Python `websockets` client: sends 3 messages (each echo awaited), holds the connection `holdS` seconds, closes. */
const HOLDING_CLIENT = String.raw`
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        for i in range(3):
            await ws.send('m%d' % i)
            await ws.recv()
        await asyncio.sleep(float(sys.argv[2]))
asyncio.run(main())
`;

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

/** Counts the messages a client receives from now on; `reach(n)` resolves once it has `n`. */
function messageCounter(ws: WebSocket): { reach(n: number): Promise<void> } {
  let seen = 0;
  let target = Infinity;
  let done: (() => void) | undefined;
  ws.on('message', () => {
    if (++seen >= target) done?.();
  });
  return {
    reach(n: number): Promise<void> {
      if (seen >= n) return Promise.resolve();
      target = n;
      return new Promise((resolve) => (done = resolve));
    },
  };
}

describe('WebSocket messages and backpressure (integration)', () => {
  const ctx = wsTestContext();
  const clients = ctx.clients;

  it('item 6: a WebSocket connection held open is not request latency; only its message handlers are', async () => {
    const started = await ctx.start();
    let child: ReturnType<typeof execFile> | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        child = execFile(SYSTEM_PYTHON, ['-c', HOLDING_CLIENT, started.url, '0.6'], { timeout: 15_000 }, (err, _out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve()));
      });
    } finally {
      child?.kill('SIGKILL');
    }
    await activeReaches(started.pool, 0);
    const m = started.pool.getMetrics();
    expect(m.requests.total).to.equal(3);
    expect(m.latency.count).to.equal(3);
    expect(m.latency.maxMs).to.be.below(300);
    expect(m.streams.total).to.equal(0);
    // The connection's lifetime is only in the connection figures.
    expect(started.pool.connectionDurations.count).to.equal(1);
    expect(started.pool.connectionDurations.max).to.be.at.least(600);
    expect(started.pool.requestLatency.count).to.equal(3);
  });

  it('echoes text and binary, counting messages, payload bytes and handler latency', async () => {
    const started = await ctx.start();
    const client = await connect(started.url);
    clients.push(client);
    client.send('hello');
    const text = await nextMessage(client);
    expect(text.data.toString()).to.equal('hello');
    expect(text.isBinary).to.equal(false);
    client.send(Buffer.from([1, 2, 3, 4]));
    const bin = await nextMessage(client);
    expect([...bin.data]).to.deep.equal([1, 2, 3, 4]);
    expect(bin.isBinary).to.equal(true);

    const m = started.pool.getMetrics();
    expect(m.websocket.messagesIn).to.equal(2);
    expect(m.websocket.messagesOut).to.equal(2);
    expect(m.websocket.payloadBytesIn).to.equal(9);
    expect(m.websocket.payloadBytesOut).to.equal(9);
    expect(m.requests.total).to.equal(2);
    expect(m.latency.count).to.equal(2);
    const conn = [...started.pool.values()][0];
    expect(conn.messages).to.equal(2);
    expect(conn.bytesIn).to.equal(9);
  });

  it('counts a throwing handler as a failed message and keeps the connection', async () => {
    const started = await ctx.start();
    const client = await connect(started.url);
    clients.push(client);
    client.send('throw now');
    client.send('after');
    expect((await nextMessage(client)).data.toString()).to.equal('after');
    const m = started.pool.getMetrics();
    expect(m.errors.byType.handler).to.equal(1);
    expect(m.requests.failed).to.equal(1);
    expect(started.app.logs.find('message handler failed')).to.have.length(1);
  });

  it('closes a client that sends a message over maxPayload with 1009 and counts it', async () => {
    const started = await ctx.start({ maxPayload: 1024, maxBufferedAmount: 65_536 });
    const client = await connect(started.url);
    clients.push(client);
    const removed = poolEvent(started.pool, ConnectionPoolEvent.ConnectionRemoved);
    client.send(Buffer.alloc(1025));
    expect(await closed(client)).to.equal(1009);
    expect((await removed).reason).to.equal('message_too_big');
    const m = started.pool.getMetrics();
    expect(m.websocket.oversizedMessages).to.equal(1);
    expect(m.errors.byType.message_too_big).to.equal(1);
    expect(m.websocket.messagesIn).to.equal(0);
    expect(m.active).to.equal(0);
  });

  it('skips a slow consumer in broadcasts, then closes it with 1008, while a fast client keeps receiving', async () => {
    const limit = 512 * 1024;
    // No heartbeat while the buffers fill: a ping round then would terminate the paused client as a pong timeout.
    const started = await ctx.start({ maxPayload: 1024, maxBufferedAmount: limit, pingInterval: 60_000, pongTimeout: 60_000, closeTimeout: 10_000 });
    const { pool, server } = started;
    const fast = await connect(started.url);
    const slow = await connect(started.url);
    clients.push(fast, slow);
    // The slow client stops reading: its kernel buffers fill, then the server's send buffer grows.
    (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();
    const slowClosed = poolEvent(pool, ConnectionPoolEvent.ConnectionError, (e) => e.type === 'slow_consumer');
    const fastReceived = messageCounter(fast);
    const chunk = Buffer.alloc(128 * 1024, 7);
    let result = { sent: 0, skipped: 0 };
    let rounds = 0;
    for (; rounds < 2000 && result.skipped === 0; rounds++) {
      result = server.broadcast(chunk);
      // The fast client reads each round before the next, as it would on a real network.
      await fastReceived.reach(rounds + 1);
    }
    expect(result).to.deep.equal({ sent: 1, skipped: 1 });
    // Every broadcast reached the fast client (it was never skipped).
    await fastReceived.reach(rounds);
    // Now the heartbeat: the flagged slow consumer is closed with 1008 at its first check.
    expect(pool.updateConfig({ pingInterval: 1000, pongTimeout: 1000 }).applied).to.include('pingInterval');

    const event = await slowClosed;
    expect(event.connection?.id).to.be.a('number');
    const m = pool.getMetrics();
    expect(m.websocket.slowConsumersClosed).to.equal(1);
    expect(m.websocket.broadcastSkipped).to.be.at.least(1);
    // Once it reads again it finds the 1008 behind the data it had not read.
    const code = closed(slow);
    (slow as unknown as { _socket: { resume(): void } })._socket.resume();
    expect(await code).to.equal(1008);
    await activeReaches(pool, 1);
    expect(fast.readyState).to.equal(WebSocket.OPEN);
  });
});
