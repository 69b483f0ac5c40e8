import { expect } from 'chai';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createTestApp } from '../../src/testing';
import { MAX_STREAM_ID, type Application, type Http2ConnectionPool } from '../../src';
import { closeGate } from '../helpers/gate';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { connect, FRAME, h2request, RawH2Peer, run, TestHttp2Server } from '../helpers/http2-fixtures';

/**
 * The GOAWAYs of a graceful close: first the notice (last stream 2^31-1), then the final one
 * naming `lastStreamId` (node repeats it when it closes a session with no stream left), all NO_ERROR.
 */
function expectGoawaysEndingAt(goaways: Array<{ lastStreamId: number; code: number }>, lastStreamId: number): void {
  expect(goaways[0]).to.deep.equal({ lastStreamId: MAX_STREAM_ID, code: 0 });
  const finals = goaways.slice(1);
  expect(finals.length).to.be.above(0);
  expect(finals.every((g) => g.lastStreamId === lastStreamId && g.code === 0), JSON.stringify(finals)).to.equal(true);
}

describe('HTTP/2 drain: graceful GOAWAY, in-flight streams complete, zero loss', () => {
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

  async function start(section: Record<string, unknown>, timeout = 10_000): Promise<{ port: number; pool: Http2ConnectionPool; app: Application }> {
    const tls = section.h2c ? {} : { tls: { cert: certs.cert, key: certs.key } };
    const started = createTestApp({ servers: [TestHttp2Server], config: { http2: { ...tls, ...section }, shutdown: { timeout } } });
    app = started;
    await started.start();
    const s = started.server(TestHttp2Server);
    return { port: s.address()?.port as number, pool: s.pool, app: started };
  }

  /** An h2c session (a raw peer that answers PINGs) whose stream 1 was just answered. */
  async function sessionAnsweredOneStream(): Promise<{ peer: RawH2Peer; pool: Http2ConnectionPool; app: Application }> {
    const { port, pool, app } = await start({ h2c: true });
    const peer = await RawH2Peer.open(port);
    peers.push(peer);
    peer.answerPings = true;
    await waitFor(() => peer.settings().size > 0, 5000, 'server SETTINGS');
    peer.write(peer.get(1, '/slow?ms=1'));
    await waitFor(() => peer.answered().includes(1), 5000, 'stream 1 answered');
    return { peer, pool, app };
  }

  it('drain (app.stop): the client reads the graceful GOAWAY (last-stream-id 2^31-1), its 5 in-flight streams complete, the session closes with its last stream, two GOAWAYs counted', async () => {
    const { port, pool, app } = await start({});
    release = closeGate();
    const session = await connect(port, { ca: certs.certPem });
    sessions.push(session);
    const goaways: Array<{ code: number; last: number }> = [];
    session.on('goaway', (code: number, last: number) => goaways.push({ code, last }));
    const replies = Array.from({ length: 5 }, () => h2request(session, '/gated?ms=10'));
    await waitFor(() => pool.getMetrics().http2.streamsOpen === 5, 5000, 'five streams in flight');
    const stopping = app.stop();
    await waitFor(() => goaways.length >= 1, 5000, 'graceful GOAWAY');
    expect(goaways[0]).to.deep.equal({ code: 0, last: MAX_STREAM_ID });
    release();
    release = undefined;
    const answered = await Promise.all(replies);
    expect(answered.map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200]);
    const result = await stopping;
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(0);
    expect(goaways.length).to.be.at.least(1);
    const m = pool.getMetrics();
    expect(m.requests.total).to.equal(5);
    expect(m.requests.failed).to.equal(0);
    expect(m.errors.byType.aborted ?? 0).to.equal(0);
    expect(m.http2.goawaysSent.NO_ERROR).to.equal(2);
  });

  it('a stream sent after the graceful GOAWAY is not run, and the final GOAWAY (after the PING round trip) names the last stream taken, so the client knows to retry it elsewhere', async () => {
    const { port, pool, app } = await start({ h2c: true });
    release = closeGate();
    const peer = await RawH2Peer.open(port);
    peers.push(peer);
    peer.answerPings = true;
    await waitFor(() => peer.settings().size > 0, 5000, 'server SETTINGS');
    peer.write(peer.get(1, '/gated'));
    await waitFor(() => pool.getMetrics().http2.streamsOpen === 1, 5000, 'stream 1 in flight');
    // Stream 3 leaves right behind the graceful GOAWAY, before the PING ack.
    peer.onFrame = (f) => {
      if (f.type === FRAME.GOAWAY && peer.goaways().length === 1) peer.write(peer.get(3, '/slow?ms=1'));
    };
    const stopping = app.stop();
    await waitFor(() => peer.goaways().length === 2, 5000, 'final GOAWAY');
    const kinds = peer.frames.filter((f) => f.type === FRAME.GOAWAY || f.type === FRAME.PING).map((f) => f.type);
    expect(kinds.slice(0, 3)).to.deep.equal([FRAME.GOAWAY, FRAME.PING, FRAME.GOAWAY]);
    expect(peer.goaways()).to.deep.equal([
      { lastStreamId: MAX_STREAM_ID, code: 0 },
      { lastStreamId: 1, code: 0 },
    ]);
    release();
    release = undefined;
    const result = await stopping;
    expect(peer.answered()).to.deep.equal([1]);
    expect(result.forced).to.equal(0);
    expect(result.graceful).to.equal(1);
    expect(pool.getMetrics().requests.total).to.equal(1);
  });

  it('a session idle at drain start but active just before gets a grace: the next stream of a one-at-a-time client (curl) is run, and the GOAWAYs go with it, so no stream is refused', async () => {
    const { peer, pool, app } = await sessionAnsweredOneStream();
    // The client's next stream leaves as the drain starts: before the fix it met a GOAWAY already
    // sent, was not run, and a client that does not retry refused streams failed it.
    const stopping = app.stop();
    await waitFor(() => pool.isDraining, 5000, 'drain started');
    expect(peer.goaways(), 'no GOAWAY while the next stream may be on its way').to.deep.equal([]);
    peer.write(peer.get(3, '/slow?ms=1'));
    const result = await stopping;
    expect(peer.answered()).to.deep.equal([1, 3]);
    expectGoawaysEndingAt(peer.goaways(), 3);
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(0);
    expect(pool.getMetrics().requests.total).to.equal(2);
  });

  it('a recently active session that sends nothing more gets its GOAWAYs when the grace ends (500 ms), and the drain ends gracefully', async () => {
    const { peer, pool, app } = await sessionAnsweredOneStream();
    const stopping = app.stop();
    await waitFor(() => pool.isDraining, 5000, 'drain started');
    expect(peer.goaways(), 'the session waits out the grace').to.deep.equal([]);
    const result = await stopping;
    expectGoawaysEndingAt(peer.goaways(), 1);
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(0);
    expect(result.durationMs).to.be.at.least(400);
    // No PING round trip for a session with no stream open: nghttp2 would not read its ack, and
    // the drain would wait out GOAWAY_PING_BOUND_MS (1 s) for it.
    expect(peer.frames.filter((f) => f.type === FRAME.PING)).to.deep.equal([]);
  });

  it('a TLS connection accepted just before the listener closed, whose handshake and first stream come after it, is admitted before the drain starts: its stream is answered 200 (not 503), then the GOAWAYs', async () => {
    const { port, pool, app } = await start({});
    const node = (app.server(TestHttp2Server) as unknown as { server: tls.Server }).server;
    const accepted = new Promise((resolve) => node.once('connection', resolve));
    const raw = net.connect(port, '127.0.0.1');
    raw.on('error', () => undefined);
    await accepted;
    const stopping = app.stop();
    await waitFor(() => !node.listening, 2000, 'listener closed');
    expect(pool.isDraining, 'the drain waits for the handshake in progress').to.equal(false);
    const session = http2.connect(`https://localhost:${port}`, { createConnection: () => tls.connect({ socket: raw, servername: 'localhost', ca: certs.certPem, ALPNProtocols: ['h2'] }) });
    sessions.push(session);
    session.on('error', () => undefined);
    const goaways: number[] = [];
    session.on('goaway', (_code: number, last: number) => goaways.push(last));
    const reply = await h2request(session, '/slow?ms=1');
    expect(reply.status).to.equal(200);
    const result = await stopping;
    expect(result.graceful).to.equal(1);
    expect(result.forced).to.equal(0);
    expect(goaways[0]).to.equal(MAX_STREAM_ID);
    expect(pool.getMetrics().requests.total).to.equal(1);
  });

  it('the deadline forces a stream that never ends: counted as forced, the client stream is reset', async () => {
    const { port, pool, app } = await start({}, 300);
    const session = await connect(port, { ca: certs.certPem });
    sessions.push(session);
    const hung = h2request(session, '/hang').then(
      (reply) => (reply.status === 200 ? 'answered' : 'cut'),
      (err: NodeJS.ErrnoException) => err.code ?? 'error',
    );
    await waitFor(() => pool.getMetrics().http2.streamsOpen === 1, 5000, 'stream in flight');
    const result = await app.stop();
    expect(result.forced).to.equal(1);
    expect(result.graceful).to.equal(0);
    expect(await hung).to.not.equal('answered');
    expect(pool.getMetrics().requests.failed).to.equal(1);
  });

  it('zero loss under h2load: a drain in the middle of 4 sessions x 5 streams answers every stream the server took', async () => {
    const { port, pool, app } = await start({});
    const load = run('h2load', ['-n', '400', '-c', '4', '-m', '5', `https://127.0.0.1:${port}/slow?ms=20`], 30_000);
    await waitFor(() => pool.getMetrics().requests.total >= 40, 10_000, 'load running');
    const result = await app.stop();
    const out = await load;
    expect(result.forced).to.equal(0);
    const m = pool.getMetrics();
    expect(m.requests.failed).to.equal(0);
    expect(m.errors.byType.aborted ?? 0).to.equal(0);
    const done = /(\d+) succeeded/.exec(out.stdout);
    expect(Number(done?.[1])).to.equal(m.requests.total);
    expect(out.stdout).to.match(new RegExp(`status codes: ${m.requests.total} 2xx, 0 3xx, 0 4xx, 0 5xx`));
  });
});
