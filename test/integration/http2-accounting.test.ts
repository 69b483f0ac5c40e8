import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as http2 from 'node:http2';
import { Http2ConnectionPool, Http2PoolConfig, PoolConfig, UsePool, type Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { closed, connect, FRAME, RawH2Peer, run, TestHttp2Server } from '../helpers/http2-fixtures';

/** TestHttp2Server plus `/stream`: writes 16 KiB chunks until the stream closes. */
@UsePool(Http2ConnectionPool)
class StreamingServer extends TestHttp2Server {
  writerStopped = 0;

  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }

  override handle(req: Parameters<TestHttp2Server['handle']>[0], res: Parameters<TestHttp2Server['handle']>[1]): void {
    if (req.url !== '/stream') return super.handle(req, res);
    const chunk = Buffer.alloc(16 * 1024, 0x61);
    const out = res as http2.Http2ServerResponse;
    const timer = setInterval(() => {
      if (!out.writableEnded && !out.destroyed) out.write(chunk);
    }, 2);
    res.once('close', () => {
      clearInterval(timer);
      this.writerStopped++;
    });
  }
}

describe('HTTP/2 accounting: connections and streams in flight return to 0 (h2load, nghttp, node http2)', () => {
  let certs: TlsFixtures;
  let app: Application | undefined;
  let child: ChildProcess | undefined;
  const peers: RawH2Peer[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const gone = new Promise((resolve) => c.once('exit', resolve));
      c.kill('SIGKILL');
      await gone;
    }
    child = undefined;
    for (const p of peers.splice(0)) p.socket.destroy();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(section: Record<string, unknown>, timeout = 10_000): Promise<{ port: number; server: StreamingServer }> {
    const tls = section.h2c ? {} : { tls: { cert: certs.cert, key: certs.key } };
    app = createTestApp({ servers: [StreamingServer], config: { http2: { ...tls, ...section }, shutdown: { timeout } } });
    await app.start();
    const server = app.server(StreamingServer);
    return { port: server.address()?.port as number, server };
  }

  it('after h2load -n 400 -c 4 -m 10 (TLS) the pool is back to 0 connections and 0 requests in flight, every request counted', async () => {
    const { port, server } = await start({});
    const r = await run('h2load', ['-n', '400', '-c', '4', '-m', '10', `https://127.0.0.1:${port}/`], 30_000);
    expect(r.stdout).to.match(/400 succeeded, 0 failed, 0 errored/);
    await waitFor(() => server.pool.size === 0, 5000, 'sessions closed');
    const m = server.pool.getMetrics();
    expect([m.active, m.requests.inFlight, m.http2.streamsOpen, m.requests.total]).to.deep.equal([0, 0, 0, 400]);
  });

  it('a client that vanishes mid-stream without GOAWAY (nghttp killed with SIGKILL on a hanging stream, h2c): 0 connections, 0 in flight', async () => {
    const { port, server } = await start({ h2c: true });
    child = spawn('nghttp', ['-n', `http://127.0.0.1:${port}/hang`], { stdio: 'ignore' });
    await waitFor(() => server.pool.getMetrics().requests.inFlight === 1, 5000, 'stream in flight');
    child.kill('SIGKILL');
    await waitFor(() => server.pool.size === 0, 5000, 'session removed');
    const m = server.pool.getMetrics();
    expect([m.active, m.requests.inFlight, m.http2.streamsOpen]).to.deep.equal([0, 0, 0]);
    expect(m.errors.byType.aborted).to.equal(1);
  });

  it('a stream the client resets while its response is being written (RST_STREAM CANCEL): the writer stops, 0 in flight, the session lives on', async () => {
    const { port, server } = await start({});
    const session = await connect(port, { ca: certs.certPem });
    try {
      const req = session.request({ ':path': '/stream' });
      await new Promise<void>((resolve) => req.once('data', () => resolve()));
      req.close(http2.constants.NGHTTP2_CANCEL);
      await waitFor(() => server.pool.getMetrics().requests.inFlight === 0 && server.writerStopped === 1, 5000, 'stream ended');
      const m = server.pool.getMetrics();
      expect([m.active, m.http2.streamsOpen, m.http2.resetsByCode.CANCEL]).to.deep.equal([1, 0, 1]);
    } finally {
      session.close();
      await closed(session);
    }
    await waitFor(() => server.pool.size === 0, 5000, 'session removed');
  });

  it('a session destroyed by the server mid-stream (app.stop with a 300 ms drain deadline on a streaming response): 0 connections, 0 in flight', async () => {
    const { port, server } = await start({}, 300);
    const session = await connect(port, { ca: certs.certPem });
    const req = session.request({ ':path': '/stream' });
    req.on('error', () => undefined);
    req.resume();
    await waitFor(() => server.pool.getMetrics().requests.inFlight === 1, 5000, 'stream in flight');
    const result = await (app as Application).stop();
    expect(result.forced).to.equal(1);
    await closed(session);
    const m = server.pool.getMetrics();
    expect([m.active, m.requests.inFlight, m.http2.streamsOpen, server.writerStopped]).to.deep.equal([0, 0, 0, 1]);
  });

  for (const answerPings of [true, false]) {
    it(`drain of a session with no stream whose peer ${answerPings ? 'answers' : 'never answers'} PINGs: graceful GOAWAY (2^31-1) and at once the final GOAWAY (last stream 0), no PING round trip (nghttp2 reads nothing more from a session with a GOAWAY out and no stream, so the ack would never count), closed gracefully well before the shutdown deadline`, async () => {
      const { port, server } = await start({ h2c: true }, 10_000);
      const peer = await RawH2Peer.open(port);
      peers.push(peer);
      peer.answerPings = answerPings;
      await waitFor(() => server.pool.size === 1 && peer.settings().size > 0, 5000, 'session up');
      const result = await (app as Application).stop();
      await waitFor(() => peer.closed, 5000, 'peer closed');
      expect([result.graceful, result.forced]).to.deep.equal([1, 0]);
      const order = peer.frames.filter((f) => f.type === FRAME.GOAWAY || (f.type === FRAME.PING && (f.flags & 1) === 0)).map((f) => f.type);
      // node's session.close() sends the final GOAWAY and its destroy (no stream left) sends nghttp2's own, the same: read as one.
      expect(order.filter((t, i) => i === 0 || t !== order[i - 1])).to.deep.equal([FRAME.GOAWAY]);
      const goaways = peer.goaways();
      expect(goaways[0]).to.deep.equal({ lastStreamId: 2 ** 31 - 1, code: 0 });
      expect(new Set(goaways.slice(1).map((g) => `${g.lastStreamId}/${g.code}`))).to.deep.equal(new Set(['0/0']));
      expect(server.pool.getMetrics().requests.inFlight).to.equal(0);
    });
  }
});
