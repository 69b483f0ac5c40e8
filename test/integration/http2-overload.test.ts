import { expect } from 'chai';
import * as http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import { Http2ConnectionPool, Http2PoolConfig, PoolConfig, UsePool, type Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { PressureLevel } from '../../src/overload/pressure-level';
import { closeGate, passGate } from '../helpers/gate';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { closed, connect, h2request, run, TestHttp2Server } from '../helpers/http2-fixtures';

/** Serves HTTP/2 streams on node's core API: `/gated` waits for the gate; every path its handler ran for is recorded. */
@UsePool(Http2ConnectionPool)
class CoreStreamServer extends TestHttp2Server {
  readonly streamed: string[] = [];
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }

  override handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = String(headers[':path']);
    this.streamed.push(path);
    const answer = (): void => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end(`core ${path}`);
    };
    if (path === '/gated') void passGate().then(answer);
    else answer();
  }
}

describe('HTTP/2 server: overload protection (issue 14) with h2load, nghttp and node http2 (h2c)', () => {
  let app: Application | undefined;
  let release: (() => void) | undefined;
  const sessions: http2.ClientHttp2Session[] = [];

  async function start(overload: Record<string, unknown>, type: typeof TestHttp2Server = TestHttp2Server): Promise<{ port: number; server: TestHttp2Server; url: string }> {
    app = createTestApp({ servers: [type], config: { http2: { h2c: true, overload } } });
    await app.start();
    const server = app.server(type);
    const port = server.address()!.port;
    return { port, server, url: `http://127.0.0.1:${port}` };
  }

  /** Opens a node h2c session and starts a `/gated` stream that holds the one slot of a static limit 1 until `release()`. */
  async function holdSlot(port: number, server: TestHttp2Server): Promise<{ session: http2.ClientHttp2Session; reply: ReturnType<typeof h2request> }> {
    release = closeGate();
    const session = await connect(port, { h2c: true });
    sessions.push(session);
    const reply = h2request(session, '/gated');
    await waitFor(() => server.pool.getMetrics().overload?.inFlight === 1, 5000, 'held stream admitted');
    return { session, reply };
  }

  afterEach(async () => {
    release?.();
    release = undefined;
    for (const s of sessions.splice(0)) s.destroy();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  it('issue 14: h2load -n 200 -c 1 -m 50 against a static limit of 1: some streams shed 503 and the rest 200, none reset or errored (h2load counts the 503s as failed), streams open and in flight back to 0', async () => {
    const { server, url } = await start({ limiter: 'static', maxConcurrency: 1 });
    const r = await run('h2load', ['-n', '200', '-c', '1', '-m', '50', `${url}/slow?ms=2`], 60_000);
    // h2load counts a non-2xx/3xx answer as "failed": every failure must be a 503 answer, no stream reset or error.
    const counts = /200 done, (\d+) succeeded, (\d+) failed, 0 errored, 0 timeout/.exec(r.stdout);
    expect(counts, r.stdout).not.to.equal(null);
    const status = /status codes: (\d+) 2xx, 0 3xx, 0 4xx, (\d+) 5xx/.exec(r.stdout)!;
    const [ok, shed] = [Number(status[1]), Number(status[2])];
    expect(shed).to.be.greaterThan(0);
    expect(ok + shed).to.equal(200);
    expect([Number(counts![1]), Number(counts![2])]).to.deep.equal([ok, shed]);
    await waitFor(() => server.pool.size === 0, 5000, 'session closed');
    const m = server.pool.getMetrics();
    expect([m.requests.inFlight, m.http2.streamsOpen, m.overload!.inFlight, m.overload!.queued]).to.deep.equal([0, 0, 0, 0]);
    expect(m.requests.total).to.equal(ok);
    expect(m.overload!.shed.limit).to.equal(shed);
  });

  it('issue 14: with the one slot held, nghttp gets :status 503 + retry-after before the handler, and a critical path gets 200', async () => {
    const { port, server, url } = await start({ limiter: 'static', maxConcurrency: 1, criticalPaths: ['/healthz'], shed: { retryAfter: 5 } });
    const held = await holdSlot(port, server);
    const shed = await run('nghttp', ['-v', `${url}/`]);
    expect(shed.stdout).to.match(/:status: 503/);
    expect(shed.stdout).to.match(/retry-after: 5/);
    expect(shed.stdout).to.contain('limit');
    expect(shed.stdout).not.to.contain('hello h2');
    const health = await run('nghttp', ['-v', `${url}/healthz`]);
    expect(health.stdout).to.match(/:status: 200/);
    expect(health.stdout).to.contain('hello h2');
    release!();
    expect((await held.reply).status).to.equal(200);
    expect(server.pool.getMetrics().overload!.shed.limit).to.equal(1);
  });

  it('issue 14: shed.httpStatus 429 answers HTTP/2 streams :status 429, without retry-after when retryAfter is 0', async () => {
    const { port, server, url } = await start({ limiter: 'static', maxConcurrency: 1, shed: { httpStatus: 429, retryAfter: 0 } });
    await holdSlot(port, server);
    const shed = await run('nghttp', ['-v', `${url}/`]);
    expect(shed.stdout).to.match(/:status: 429/);
    expect(shed.stdout).not.to.match(/retry-after/);
  });

  it('issue 14: a queued HTTP/2 stream waits and gets 200 once the slot frees (nghttp)', async () => {
    const { port, server, url } = await start({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 15_000 } });
    const held = await holdSlot(port, server);
    const queued = run('nghttp', ['-v', `${url}/`], 20_000);
    await waitFor(() => server.pool.getMetrics().overload?.queued === 1, 5000, 'stream queued');
    release!();
    const r = await queued;
    expect(r.stdout).to.match(/:status: 200/);
    expect(r.stdout).to.contain('hello h2');
    expect((await held.reply).status).to.equal(200);
    const m = server.pool.getMetrics();
    expect(m.overload!.queueWait.count).to.equal(1);
    await waitFor(() => server.pool.getMetrics().requests.total === 2, 5000, 'both streams ended');
    expect(server.pool.getMetrics().overload!.inFlight).to.equal(0);
  });

  it('issue 14: a queued stream the client resets leaves the queue, counted as nothing; nothing leaks', async () => {
    const { port, server } = await start({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 60_000 } });
    const held = await holdSlot(port, server);
    const req = held.session.request({ ':path': '/queued' });
    req.on('error', () => undefined);
    await waitFor(() => server.pool.getMetrics().overload?.queued === 1, 5000, 'stream queued');
    req.close(http2.constants.NGHTTP2_CANCEL);
    await waitFor(() => server.pool.getMetrics().overload?.queued === 0, 5000, 'queue emptied');
    release!();
    expect((await held.reply).status).to.equal(200);
    await waitFor(() => server.pool.getMetrics().requests.total === 1, 5000, 'held stream ended');
    const m = server.pool.getMetrics();
    expect([m.requests.inFlight, m.http2.streamsOpen, m.overload!.inFlight]).to.deep.equal([0, 0, 0]);
    expect(m.errors.total).to.equal(0);
  });

  it('issue 14: a stream still queued at the queue timeout is shed 503 (queue_timeout)', async () => {
    const { port, server } = await start({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 200 } });
    const held = await holdSlot(port, server);
    const reply = await h2request(held.session, '/late');
    expect(reply.status).to.equal(503);
    expect(reply.body).to.contain('queue_timeout');
    expect(server.pool.getMetrics().overload!.shed.queue_timeout).to.equal(1);
  });

  it('issue 14: at level CloseKeepAlive a session gets a graceful GOAWAY after its current stream, which is served', async () => {
    const { port, server } = await start({ limiter: 'static', maxConcurrency: 100 });
    const session = await connect(port, { h2c: true });
    sessions.push(session);
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
    server.pool.workAdmission!.setPressureLevel(PressureLevel.CloseKeepAlive);
    const reply = await h2request(session, '/');
    expect(reply.status).to.equal(200);
    expect(await goaway).to.equal(http2.constants.NGHTTP2_NO_ERROR);
    await closed(session);
    await waitFor(() => server.pool.size === 0, 5000, 'session closed');
    expect(server.pool.getMetrics().http2.goawaysSent.NO_ERROR).to.be.at.least(1);
  });

  it('issue 14: a live update of the overload block takes effect on the next stream (none -> static 1 -> none)', async () => {
    const { port, server, url } = await start({ limiter: 'none' });
    expect((await run('nghttp', ['-v', `${url}/`])).stdout).to.match(/:status: 200/);
    server.pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1 } });
    const held = await holdSlot(port, server);
    expect((await run('nghttp', ['-v', `${url}/`])).stdout).to.match(/:status: 503/);
    server.pool.updateConfig({ overload: { limiter: 'none' } });
    expect((await run('nghttp', ['-v', `${url}/`])).stdout).to.match(/:status: 200/);
    release!();
    expect((await held.reply).status).to.equal(200);
  });

  it('issue 14: with handleStream (core API), a shed stream gets 503 before the handler and a queued one is handed to it once admitted', async () => {
    const { port, server, url } = await start({ limiter: 'static', maxConcurrency: 1, queue: { size: 1, timeout: 15_000 } }, CoreStreamServer);
    const core = server as CoreStreamServer;
    const held = await holdSlot(port, server);
    const queued = run('nghttp', ['-v', `${url}/queued`], 20_000);
    await waitFor(() => server.pool.getMetrics().overload?.queued === 1, 5000, 'stream queued');
    const shed = await run('nghttp', ['-v', `${url}/full`]);
    expect(shed.stdout).to.match(/:status: 503/);
    expect(shed.stdout).to.contain('queue_full');
    expect(core.streamed).to.deep.equal(['/gated']);
    release!();
    expect((await held.reply).body).to.equal('core /gated');
    const r = await queued;
    expect(r.stdout).to.match(/:status: 200/);
    expect(r.stdout).to.contain('core /queued');
    expect(core.streamed).to.deep.equal(['/gated', '/queued']);
  });

  it('issue 14: a drain that starts while a stream is queued serves it (not shed) before the session closes', async () => {
    const { port, server } = await start({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 15_000 } });
    const held = await holdSlot(port, server);
    const queued = h2request(held.session, '/queued');
    await waitFor(() => server.pool.getMetrics().overload?.queued === 1, 5000, 'stream queued');
    const drain = server.pool.drain(15_000);
    await new Promise((resolve) => setTimeout(resolve, 100)); // the graceful GOAWAY and its PING round trip
    expect(server.pool.getMetrics().overload!.queued).to.equal(1);
    release!();
    expect((await held.reply).status).to.equal(200);
    const reply = await queued;
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal('hello h2');
    const result = await drain;
    expect(result.forced).to.equal(0);
    expect(server.pool.getMetrics().overload!.shed.queue_timeout).to.equal(0);
  });

  it('issue 14: at level RefuseConnections a new session is refused: nghttp reads 503 + retry-after and a body that says overloaded', async () => {
    const { server, url } = await start({ limiter: 'static', maxConcurrency: 100 });
    server.pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
    const r = await run('nghttp', ['-v', `${url}/`]);
    expect(r.stdout).to.match(/:status: 503/);
    expect(r.stdout).to.match(/retry-after: 1/);
    expect(r.stdout).to.contain('overloaded');
    expect(server.pool.getMetrics().rejected.byReason.overloaded).to.equal(1);
  });

  describe('over TLS', () => {
    let certs: TlsFixtures;
    before(async () => {
      certs = await makeTlsFixtures();
    });
    after(() => certs.cleanup());

    it('issue 14: with the one slot held, curl --http2 -k gets 503 and curl --http1.1 -k (the HTTP/1.1 fallback) gets 503 + Retry-After too; both served once it frees', async () => {
      app = createTestApp({ servers: [TestHttp2Server], config: { http2: { tls: { cert: certs.cert, key: certs.key }, overload: { limiter: 'static', maxConcurrency: 1, shed: { retryAfter: 6 } } } } });
      await app.start();
      const server = app.server(TestHttp2Server);
      const url = `https://127.0.0.1:${server.address()!.port}/`;
      const fmt = ['-k', '-sS', '-i', '-w', '\n%{http_code} %{http_version}\n'];
      release = closeGate();
      const held = run('curl', ['--http1.1', ...fmt, `${url}gated`], 20_000);
      await waitFor(() => server.pool.getMetrics().overload?.inFlight === 1, 5000, 'held request admitted');
      const h2 = (await run('curl', ['--http2', ...fmt, url])).stdout;
      expect(h2).to.match(/503 2\n$/);
      expect(h2).to.match(/retry-after: 6/i);
      expect(h2).to.contain('limit');
      const h1 = (await run('curl', ['--http1.1', ...fmt, url])).stdout;
      expect(h1).to.match(/503 1.1\n$/);
      expect(h1).to.match(/retry-after: 6/i);
      expect(h1).to.contain('limit');
      release();
      expect((await held).stdout).to.match(/200 1.1\n$/);
      expect((await run('curl', ['--http2', ...fmt, url])).stdout).to.match(/200 2\n$/);
      expect(server.pool.getMetrics().overload!.shed.limit).to.equal(2);
    });
  });
});
