import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import * as net from 'node:net';
import { expect } from 'chai';
import { ConnectionPoolEvent, type Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { PYTHON, run, samplesOf, scrapeWithCurl } from '../helpers/metrics-clients';
import { waitFor } from '../helpers/http-fixtures';
import { nextPoolEvent } from '../helpers/pool-events';
import { adminPort, parseMetrics } from './admin-support';
import { PoolConfig, UsePool, WebSocketConnectionPool, WebSocketPoolConfig, WebSocketServer } from '../../src';
import type WebSocket from 'ws';
import { TestWsServer } from './ws-support';

/** Closes the client with 4001 when it says `bye`, after trying a code `ws` refuses (999). */
@UsePool(WebSocketConnectionPool)
class ClosingServer extends WebSocketServer {
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: WebSocketPoolConfig) {
    super(config);
  }
  onMessage(socket: WebSocket): void {
    expect(() => socket.close(999)).to.throw(TypeError);
    socket.close(4001, 'bye');
  }
}

/** Python websockets 10.4: sends one message and prints the close code the server sent. */
const PY_CLIENT = `
import asyncio, sys, websockets
async def main(url, size):
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send('x' * size)
        try:
            await ws.recv()
            print('no close')
        except websockets.ConnectionClosed as e:
            print(e.rcvd.code if e.rcvd else 'none')
asyncio.run(main(sys.argv[1], int(sys.argv[2])))
`;

/** A WebSocket client on a raw socket: it sends the frames a test gives it and never answers a close. */
class RawClient {
  private received = Buffer.alloc(0);
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('data', (chunk: Buffer) => (this.received = Buffer.concat([this.received, chunk])));
    socket.on('error', () => undefined);
  }

  static connect(port: number): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(`GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
      let head = '';
      const onData = (chunk: Buffer): void => {
        head += chunk.toString('latin1');
        if (!head.includes('\r\n\r\n')) return;
        socket.off('data', onData).off('error', reject);
        if (!head.startsWith('HTTP/1.1 101')) return reject(new Error(`upgrade refused: ${head.split('\r\n')[0]}`));
        resolve(new RawClient(socket));
      };
      socket.on('data', onData).once('error', reject);
    });
  }

  /** Writes one masked frame; `first` is the whole first byte (FIN, RSV bits, opcode). */
  frame(first: number, payload: Buffer): void {
    const mask = randomBytes(4);
    const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
    this.socket.write(Buffer.concat([Buffer.from([first, 0x80 | payload.length]), mask, masked]));
  }

  /** The code of the close frame the server sent, if any. */
  closeCode(): number | undefined {
    const buf = this.received;
    for (let i = 0; i + 3 < buf.length; ) {
      const len = buf[i + 1] & 0x7f;
      if ((buf[i] & 0x0f) === 0x8) return len >= 2 ? buf.readUInt16BE(i + 2) : 1005;
      i += 2 + len;
    }
    return undefined;
  }

  /** Whether a ping frame (opcode 0x9) has arrived. */
  sawPing(): boolean {
    const buf = this.received;
    for (let i = 0; i + 1 < buf.length; ) {
      if ((buf[i] & 0x0f) === 0x9) return true;
      i += 2 + (buf[i + 1] & 0x7f);
    }
    return false;
  }

  /** Stops reading: what the server sends piles up in its send buffer. */
  stopReading(): void {
    this.socket.pause();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

describe('WebSocket close codes in /metrics', function () {
  this.timeout(20_000);
  let app: Application | undefined;
  const raws: RawClient[] = [];

  afterEach(async () => {
    for (const raw of raws.splice(0)) raw.destroy();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(ws: Record<string, unknown> = {}): Promise<{ app: Application; port: number }> {
    app = createTestApp({ servers: [TestWsServer], config: { ws: { maxPayload: 64, ...ws }, admin: {} } });
    await app.start();
    return { app, port: app.server(TestWsServer).address()!.port };
  }

  async function rawClient(port: number): Promise<RawClient> {
    const raw = await RawClient.connect(port);
    raws.push(raw);
    return raw;
  }

  const closes = (samples: ReturnType<typeof parseMetrics>['samples']): Record<string, number> =>
    Object.fromEntries(samplesOf(samples, 'unipool_ws_close_total', { protocol: 'ws' }).filter((s) => s.value > 0).map((s) => [s.labels.code, s.value]));

  it('item 19: a message over maxPayload from Python websockets is counted as the 1009 the server sent, not 1006', async () => {
    const { app, port } = await start();
    const removed = nextPoolEvent(app.pools[0], ConnectionPoolEvent.ConnectionRemoved);
    const py = await run(PYTHON, ['-c', PY_CLIENT, `ws://127.0.0.1:${port}/ws`, '1000']);
    expect(py.stderr).to.equal('');
    expect(py.stdout.trim(), 'the close code Python received').to.equal('1009');
    await removed;
    expect(closes(await scrapeWithCurl(adminPort(app)))).to.deep.equal({ 1009: 1 });
  });

  it('item 19: invalid UTF-8 in a text frame (1007) and a frame with a reserved bit set (1002) are counted as the codes the server sent', async () => {
    const { app, port } = await start();
    const utf8 = await rawClient(port);
    utf8.frame(0x81, Buffer.from([0xce, 0xba, 0xff, 0xfe])); // FIN + text, not UTF-8
    await utf8.closed;
    expect(utf8.closeCode()).to.equal(1007);
    const rsv = await rawClient(port);
    rsv.frame(0x80 | 0x20 | 0x01, Buffer.from('hi')); // FIN + RSV2 + text: no extension defines RSV2
    await rsv.closed;
    expect(rsv.closeCode()).to.equal(1002);
    await new Promise<void>((resolve) => (app.pools[0].size === 0 ? resolve() : nextPoolEvent(app.pools[0], ConnectionPoolEvent.ConnectionRemoved, (e) => e.active === 0).then(() => resolve())));
    expect(closes(await scrapeWithCurl(adminPort(app)))).to.deep.equal({ 1002: 1, 1007: 1 });
  });

  it('item 19: a slow consumer closed with 1008 is counted 1008, although it never reads the close frame', async () => {
    // No heartbeat until the buffer is full: a ping round before it would terminate the silent client as a pong timeout.
    const { app, port } = await start({ maxPayload: 64, maxBufferedAmount: 1024, pingInterval: 60_000, pongTimeout: 60_000, closeTimeout: 200 });
    const slow = await rawClient(port);
    slow.stopReading();
    const pool = app.server(TestWsServer).pool;
    await waitFor(() => pool.size === 1);
    const [conn] = pool.values();
    const removed = nextPoolEvent(pool, ConnectionPoolEvent.ConnectionRemoved);
    // 16 MiB the client never reads: more than the kernel buffers on both sides can hold.
    expect(app.server(TestWsServer).send(conn.raw, Buffer.alloc(16 * 1024 * 1024))).to.equal(true);
    expect(pool.updateConfig({ pingInterval: 50, pongTimeout: 40 }).applied).to.include('pingInterval');
    expect((await removed).reason).to.equal('slow_consumer');
    expect(closes(await scrapeWithCurl(adminPort(app)))).to.deep.equal({ 1008: 1 });
  });

  it('review: a client that stops reading after a ping is closed as a slow consumer (1008) at the pong check, not terminated as a pong timeout', async () => {
    const { app, port } = await start({ maxPayload: 64, maxBufferedAmount: 1024, pingInterval: 1000, pongTimeout: 900, closeTimeout: 200 });
    const slow = await rawClient(port);
    const pool = app.server(TestWsServer).pool;
    await waitFor(() => pool.size === 1);
    const [conn] = pool.values();
    await waitFor(() => slow.sawPing(), 5000, 'the first heartbeat ping');
    // The heartbeat found the buffer empty; it overflows before the pong check, which sees it first.
    slow.stopReading();
    const removed = nextPoolEvent(pool, ConnectionPoolEvent.ConnectionRemoved);
    expect(app.server(TestWsServer).send(conn.raw, Buffer.alloc(16 * 1024 * 1024))).to.equal(true);
    expect((await removed).reason).to.equal('slow_consumer');
    expect(closes(await scrapeWithCurl(adminPort(app)))).to.deep.equal({ 1008: 1 });
  });

  it('item 19: a close the handler sends is counted as its code (a code ws refuses is not), although the client never answers', async () => {
    app = createTestApp({ servers: [ClosingServer], config: { ws: { closeTimeout: 200 }, admin: {} } });
    await app.start();
    const raw = await rawClient(app.server(ClosingServer).address()!.port);
    raw.frame(0x81, Buffer.from('bye'));
    await raw.closed; // `ws` destroys the socket closeTimeout after its close frame
    expect(raw.closeCode()).to.equal(4001);
    expect(closes(await scrapeWithCurl(adminPort(app)))).to.deep.equal({ '4xxx': 1 });
  });

  it('item 19: a drain closes with 1001 and counts 1001, also for a client that never answers the close', async () => {
    const { app, port } = await start({ closeTimeout: 300 });
    const silent = await rawClient(port);
    const result = await app.stop();
    expect(result.forced, 'the silent client was terminated after closeTimeout').to.equal(1);
    expect(silent.closeCode()).to.equal(1001);
    expect(closes(parseMetrics(await app.metrics.metrics()).samples)).to.deep.equal({ 1001: 1 });
  });
});
