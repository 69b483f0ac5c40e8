import { expect } from 'chai';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { createTestApp } from '../../src/testing';
import type { Application, Http2ConnectionPool } from '../../src';
import { closeGate } from '../helpers/gate';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { closed, connect, h2request, RawH2Peer, run, TestHttp2Server } from '../helpers/http2-fixtures';

const ENHANCE_YOUR_CALM = 0xb;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;

describe('HTTP/2 limits: admission, streams, resets, idle, PING (real clients and a raw peer)', () => {
  let certs: TlsFixtures;
  let app: Application | undefined;
  const sessions: http2.ClientHttp2Session[] = [];
  const peers: RawH2Peer[] = [];
  let release: (() => void) | undefined;

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    release?.();
    release = undefined;
    for (const s of sessions.splice(0)) s.destroy();
    for (const p of peers.splice(0)) p.destroy();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(section: Record<string, unknown>): Promise<{ port: number; pool: Http2ConnectionPool }> {
    const tls = section.h2c ? {} : { tls: { cert: certs.cert, key: certs.key } };
    app = createTestApp({ servers: [TestHttp2Server], config: { http2: { ...tls, ...section } } });
    await app.start();
    const s = app.server(TestHttp2Server);
    return { port: s.address()?.port as number, pool: s.pool };
  }

  async function rawPeer(port: number): Promise<RawH2Peer> {
    const peer = await RawH2Peer.open(port);
    peers.push(peer);
    return peer;
  }

  it('admission at the limit: a session over maxConnections reads 503 + Retry-After on its first stream, then GOAWAY (node http2 and curl)', async () => {
    const { port, pool } = await start({ maxConnections: 1, retryAfter: 7 });
    const first = await connect(port, { ca: certs.certPem });
    sessions.push(first);
    expect((await h2request(first, '/')).status).to.equal(200);
    const second = await connect(port, { ca: certs.certPem });
    sessions.push(second);
    const goaway = new Promise<number>((resolve) => second.once('goaway', (code) => resolve(code)));
    const refused = await h2request(second, '/');
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('7');
    expect(refused.body).to.match(/connection limit/);
    expect(await goaway).to.equal(0);
    await closed(second);
    const viaCurl = await run('curl', ['--http2', '-k', '-sS', '-D', '-', '-o', '/dev/null', `https://127.0.0.1:${port}/`]);
    expect(viaCurl.stdout).to.match(/^HTTP\/2 503/);
    expect(viaCurl.stdout).to.match(/retry-after: 7/i);
    const m = pool.getMetrics();
    expect(m.rejected.byReason.max_connections).to.equal(2);
    expect(m.http2.goawaysSent.NO_ERROR).to.equal(2);
    expect(pool.size).to.equal(1);
    expect((await h2request(first, '/')).status).to.equal(200);
  });

  it('admission at the limit under h2load: 2 of 4 clients admitted, the others read 503', async () => {
    const { port, pool } = await start({ maxConnections: 2 });
    release = closeGate();
    // The first two sessions hold a gated stream each, so the next two are over the limit.
    const holders = [await connect(port, { ca: certs.certPem }), await connect(port, { ca: certs.certPem })];
    sessions.push(...holders);
    const held = holders.map((s) => h2request(s, '/gated'));
    await waitFor(() => pool.getMetrics().requests.inFlight + pool.getMetrics().http2.streamsOpen >= 2, 5000, 'holders in flight');
    const out = await run('h2load', ['-n', '4', '-c', '2', '-m', '1', `https://127.0.0.1:${port}/`]);
    expect(out.stdout).to.match(/status codes: 0 2xx, 0 3xx, 0 4xx, [1-4] 5xx/);
    release();
    release = undefined;
    expect((await Promise.all(held)).map((r) => r.status)).to.deep.equal([200, 200]);
    expect(pool.getMetrics().rejected.byReason.max_connections).to.equal(2);
  });

  it('stream limit advertised and enforced under h2load -m 10: never more than maxConcurrentStreams open; the burst h2load sends before reading SETTINGS is refused, the rest served', async () => {
    const { port, pool } = await start({ maxConcurrentStreams: 3 });
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, pool.getMetrics().http2.streamsOpen)), 2);
    try {
      const out = await run('h2load', ['-n', '30', '-c', '1', '-m', '10', `https://127.0.0.1:${port}/slow?ms=40`]);
      const done = /requests: 30 total, 30 started, 30 done, (\d+) succeeded, (\d+) failed/.exec(out.stdout);
      expect(done, out.stdout).to.not.equal(null);
      const [succeeded, failed] = [Number(done?.[1]), Number(done?.[2])];
      expect(succeeded + failed).to.equal(30);
      expect(succeeded).to.be.at.least(3);
      expect(out.stdout).to.match(new RegExp(`status codes: ${succeeded} 2xx, 0 3xx, 0 4xx, 0 5xx`));
      expect(pool.getMetrics().requests.total).to.equal(succeeded);
    } finally {
      clearInterval(sampler);
    }
    expect(peak).to.be.within(1, 3);
  });

  it('stream limit enforced: a peer that opens more streams than the SETTINGS it acked allows gets GOAWAY, counted as a session error; no handler runs past the limit', async () => {
    const { port, pool } = await start({ h2c: true, maxConcurrentStreams: 3 });
    release = closeGate();
    const peer = await rawPeer(port);
    await waitFor(() => peer.settings().has(SETTINGS_MAX_CONCURRENT_STREAMS), 5000, 'server SETTINGS');
    expect(peer.settings().get(SETTINGS_MAX_CONCURRENT_STREAMS)).to.equal(3);
    await waitFor(() => peer.frames.some((f) => f.type === 4 && (f.flags & 1) === 1), 5000, 'SETTINGS ack');
    peer.write(peer.get(1, '/gated'), peer.get(3, '/gated'), peer.get(5, '/gated'), peer.get(7, '/gated'), peer.get(9, '/gated'));
    await waitFor(() => peer.goaways().length > 0, 5000, 'GOAWAY');
    // nghttp2 treats a stream over an acknowledged limit as a connection error; node sends its GOAWAY.
    expect(peer.goaways()[0].lastStreamId).to.be.at.most(5);
    await waitFor(() => pool.size === 0, 5000, 'session removed');
    const m = pool.getMetrics();
    expect(Object.values(m.http2.sessionErrorsByCode).reduce((a, b) => a + b, 0)).to.equal(1);
    expect(m.errors.byType.session_error).to.equal(1);
    expect(m.requests.total).to.be.at.most(3);
    expect(peer.answered()).to.deep.equal([]);
  });

  it('rapid reset: a peer resetting streams faster than maxResetsPerSecond gets GOAWAY ENHANCE_YOUR_CALM, counted', async () => {
    const { port, pool } = await start({ h2c: true, maxResetsPerSecond: 20 });
    const peer = await rawPeer(port);
    await waitFor(() => peer.settings().size > 0, 5000, 'server SETTINGS');
    const frames: Buffer[] = [];
    for (let id = 1; id <= 199; id += 2) frames.push(peer.get(id, '/hang'), peer.reset(id));
    peer.write(...frames);
    await waitFor(() => peer.closed, 5000, 'session cut');
    const goaways = peer.goaways();
    expect(goaways.map((g) => g.code)).to.include(ENHANCE_YOUR_CALM);
    const m = pool.getMetrics();
    expect(m.http2.rapidResetSessions).to.equal(1);
    expect(m.http2.goawaysSent.ENHANCE_YOUR_CALM).to.equal(1);
    expect(m.errors.byType.rapid_reset).to.equal(1);
    expect(m.http2.resetsByCode.CANCEL).to.be.greaterThan(20);
    expect(m.http2.sessionErrorsByCode).to.deep.equal({});
    await waitFor(() => pool.size === 0, 5000, 'session removed');
  });

  it('a client that cancels a stream (node http2, RST_STREAM CANCEL) is counted by code, and a few cancels do not cut the session', async () => {
    const { port, pool } = await start({});
    const session = await connect(port, { ca: certs.certPem });
    sessions.push(session);
    for (let i = 0; i < 3; i++) {
      const req = session.request({ ':path': '/hang' });
      req.on('error', () => {});
      await waitFor(() => pool.getMetrics().http2.streamsOpen === 1, 5000, 'stream open');
      req.close(http2.constants.NGHTTP2_CANCEL);
      await waitFor(() => pool.getMetrics().http2.streamsOpen === 0, 5000, 'stream closed');
    }
    const m = pool.getMetrics();
    expect(m.http2.resetsByCode.CANCEL).to.equal(3);
    expect(m.errors.byType.aborted).to.equal(3);
    expect(m.http2.rapidResetSessions).to.equal(0);
    expect((await h2request(session, '/')).status).to.equal(200);
  });

  it('idle session close: a session with no open stream gets GOAWAY after idleTimeout, counted as an idle timeout', async () => {
    const { port, pool } = await start({ idleTimeout: 200 });
    const session = await connect(port, { ca: certs.certPem });
    sessions.push(session);
    const goaway = new Promise<number>((resolve) => session.once('goaway', (code) => resolve(code)));
    expect((await h2request(session, '/slow?ms=300')).status).to.equal(200); // busy longer than idleTimeout: not idle
    expect(await goaway).to.equal(0);
    await closed(session);
    await waitFor(() => pool.size === 0, 5000, 'session removed');
    expect(pool.getMetrics().timeouts.idle).to.equal(1);
  });

  it('connection timeout: a TCP peer that never sends the HTTP/2 preface is closed after connectionTimeout, counted as timeout connection', async () => {
    const { port, pool } = await start({ h2c: true, connectionTimeout: 150 });
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    const closedAt = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await waitFor(() => pool.size === 1, 5000, 'admitted');
    await closedAt;
    await waitFor(() => pool.size === 0, 5000, 'removed');
    expect(pool.getMetrics().timeouts.connection).to.equal(1);
  });

  it('PING timeout: a peer that completes the preface and SETTINGS then goes silent is destroyed, counted as a ping timeout', async () => {
    const { port, pool } = await start({ h2c: true, pingInterval: 100, pingTimeout: 50 });
    const live = await connect(port, { h2c: true });
    sessions.push(live);
    const silent = await rawPeer(port);
    await waitFor(() => silent.closed, 5000, 'silent peer cut');
    expect(silent.frames.some((f) => f.type === 6)).to.equal(true); // it was pinged
    const m = pool.getMetrics();
    expect(m.timeouts.ping).to.equal(1);
    expect(m.http2.pings.timeouts).to.equal(1);
    expect(m.http2.pings.sent).to.be.greaterThan(1);
    // node's client answers PING: still served.
    expect((await h2request(live, '/')).status).to.equal(200);
    expect(pool.size).to.equal(1);
  });
});
