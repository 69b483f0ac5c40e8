import { expect } from 'chai';
import type * as http2 from 'node:http2';
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import Koa from 'koa';
import { createTestApp } from '../../src/testing';
import { Http2ConnectionPool, Http2PoolConfig, Http2Server, PoolConfig, UsePool, type Application } from '../../src';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { closed, connect, h2request, run, TestHttp2Server } from '../helpers/http2-fixtures';
import { connect as wsConnect, TestWsServer } from './ws-support';

/** A server on node's core API: streams go to handleStream, HTTP/1.1 fallback requests to handle. */
@UsePool(Http2ConnectionPool)
class StreamApi extends Http2Server {
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }
  handle(_req: unknown, res: { end(body: string): void }): void {
    res.end('http1 via handle');
  }
  override handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    if (headers[':path'] === '/throw') throw new Error('stream boom');
    stream.respond({ ':status': 200, 'x-api': 'core' });
    stream.end(`core ${headers[':path']}`);
  }
}

const koa = new Koa();
koa.use((ctx) => {
  ctx.body = `koa over HTTP/${ctx.req.httpVersion}`;
});

/** A Koa 3 app as the handler, unchanged from HttpServer. */
@UsePool(Http2ConnectionPool)
class KoaOnHttp2 extends Http2Server {
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }
  handle = koa.callback();
}

describe('HTTP/2 serving (node http2, curl, nghttp)', () => {
  let certs: TlsFixtures;
  let app: Application | undefined;
  const sessions: http2.ClientHttp2Session[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.destroy();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(section: Record<string, unknown>, server: typeof TestHttp2Server | typeof StreamApi | typeof KoaOnHttp2 = TestHttp2Server): Promise<{ port: number; pool: Http2ConnectionPool }> {
    const tls = section.h2c ? {} : { tls: { cert: certs.cert, key: certs.key } };
    app = createTestApp({ servers: [server], config: { http2: { ...tls, ...section } } });
    await app.start();
    const s = app.server(server);
    return { port: s.address()?.port as number, pool: s.pool };
  }

  it('serves HTTP/2 over TLS (ALPN h2) to node http2: a session is one connection, each stream a request', async () => {
    const { port, pool } = await start({});
    const session = await connect(port, { ca: certs.certPem });
    sessions.push(session);
    const replies = await Promise.all([h2request(session, '/'), h2request(session, '/'), h2request(session, '/')]);
    expect(replies.map((r) => [r.status, r.body])).to.deep.equal([[200, 'hello h2'], [200, 'hello h2'], [200, 'hello h2']]);
    expect((session.socket as unknown as { alpnProtocol: string }).alpnProtocol).to.equal('h2');
    const m = pool.getMetrics();
    expect(m.protocol).to.equal('http2');
    expect(m.totalConnections).to.equal(1);
    expect(m.requests.total).to.equal(3);
    expect(m.http2.sessions).to.equal(1);
    expect(m.tls.handshakes.completed).to.equal(1);
    session.close();
    await closed(session);
    await waitFor(() => pool.size === 0, 5000, 'session removed');
    expect(pool.getMetrics().http2.streamsPerSession).to.include({ count: 1, max: 3 });
  });

  it('curl --http2 -k gets HTTP/2 and curl --http1.1 -k falls back to HTTP/1.1 on the same port, both tracked by the pool', async () => {
    const { port, pool } = await start({});
    const h2 = await run('curl', ['--http2', '-k', '-sS', '-o', '-', '-w', '\n%{http_version}', `https://127.0.0.1:${port}/`]);
    expect(h2.stdout).to.equal('hello h2\n2');
    const h1 = await run('curl', ['--http1.1', '-k', '-sS', '-o', '-', '-w', '\n%{http_version}', `https://127.0.0.1:${port}/`]);
    expect(h1.stdout).to.equal('hello h1\n1.1');
    await waitFor(() => pool.size === 0, 5000, 'connections closed');
    const m = pool.getMetrics();
    expect(m.totalConnections).to.equal(2);
    expect(m.requests.total).to.equal(2);
    expect(m.tls.handshakes.completed).to.equal(2);
  });

  it('h2c: curl --http2-prior-knowledge gets cleartext HTTP/2', async () => {
    const { port, pool } = await start({ h2c: true });
    const reply = await run('curl', ['--http2-prior-knowledge', '-sS', '-o', '-', '-w', '\n%{http_version}', `http://127.0.0.1:${port}/`]);
    expect(reply.stdout).to.equal('hello h2\n2');
    expect(pool.getMetrics().requests.total).to.equal(1);
  });

  it('nghttp -nv: SETTINGS advertise maxConcurrentStreams and maxHeaderListSize, the request is answered', async () => {
    const { port } = await start({ maxConcurrentStreams: 7, maxHeaderListSize: 4096 });
    const out = await run('nghttp', ['-nv', `https://127.0.0.1:${port}/`]);
    expect(out.stdout).to.match(/recv SETTINGS frame[\s\S]*SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):7/);
    expect(out.stdout).to.match(/SETTINGS_MAX_HEADER_LIST_SIZE\(0x06\):4096/);
    expect(out.stdout).to.match(/:status: 200/);
  });

  it('allowHTTP1: false: a client that offers only http/1.1 fails the TLS handshake (alert no_application_protocol), counted by reason (curl --http1.1)', async () => {
    const { port, pool } = await start({ allowHTTP1: false });
    const h1 = await run('curl', ['--http1.1', '-k', '-sS', '-o', '/dev/null', `https://127.0.0.1:${port}/`]);
    expect(h1.stderr).to.match(/no application protocol/);
    await waitFor(() => pool.getMetrics().tls.handshakes.failed === 1, 5000, 'handshake failure counted');
    expect(pool.getMetrics().tls.handshakes.failuresByReason).to.deep.equal({ ERR_SSL_NO_APPLICATION_PROTOCOL: 1 });
    expect(pool.getMetrics().totalConnections).to.equal(0);
  });

  it('a TLS client that negotiates no ALPN protocol reads a 403 and is refused as unknown_protocol (openssl s_client)', async () => {
    const { port, pool } = await start({ allowHTTP1: false });
    const out = await run('sh', ['-c', `printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | openssl s_client -connect 127.0.0.1:${port} -quiet 2>/dev/null`]);
    expect(out.stdout).to.match(/^HTTP\/1\.1 403 Forbidden/);
    expect(out.stdout).to.match(/HTTP\/2 \(ALPN h2\) only/);
    expect(pool.getMetrics().rejected.byReason.unknown_protocol).to.equal(1);
    expect(pool.getMetrics().totalConnections).to.equal(0);
  });

  it('a WebSocket server attached to the HTTP/2 port (ws.attachTo: http2) takes upgrades of HTTP/1.1 fallback connections (wss, no ALPN h2)', async () => {
    app = createTestApp({ servers: [TestHttp2Server, TestWsServer], config: { http2: { tls: { cert: certs.cert, key: certs.key } }, ws: { attachTo: 'http2', path: '/ws' } } });
    await app.start();
    const port = app.server(TestHttp2Server).address()?.port as number;
    const ws = await wsConnect(`wss://localhost:${port}/ws`, { ca: certs.certPem });
    const echoed = new Promise<string>((resolve) => ws.once('message', (data) => resolve(String(data))));
    ws.send('over the HTTP/2 port');
    expect(await echoed).to.equal('over the HTTP/2 port');
    expect(app.server(TestWsServer).pool.size).to.equal(1);
    ws.close();
    await waitFor(() => app?.server(TestWsServer).pool.size === 0, 5000, 'ws closed');
  });

  it('a Koa app moves from HttpServer to Http2Server unchanged: served over HTTP/2 (curl --http2) and HTTP/1.1 on the same port', async () => {
    const { port, pool } = await start({}, KoaOnHttp2);
    const h2 = await run('curl', ['--http2', '-k', '-sS', `https://127.0.0.1:${port}/`]);
    expect(h2.stdout).to.equal('koa over HTTP/2.0');
    const h1 = await run('curl', ['--http1.1', '-k', '-sS', `https://127.0.0.1:${port}/`]);
    expect(h1.stdout).to.equal('koa over HTTP/1.1');
    expect(pool.getMetrics().requests.total).to.equal(2);
  });

  it('a handler that throws answers 500 and is counted as a handler error', async () => {
    const { port, pool } = await start({});
    const session = await connect(port, { ca: certs.certPem });
    sessions.push(session);
    const reply = await h2request(session, '/throw');
    expect(reply.status).to.equal(500);
    expect(pool.getMetrics().errors.byType.handler).to.equal(1);
  });

  it('handleStream serves HTTP/2 streams on the core API while handle serves the HTTP/1.1 fallback', async () => {
    const { port, pool } = await start({}, StreamApi);
    const session = await connect(port, { ca: certs.certPem });
    sessions.push(session);
    const reply = await h2request(session, '/x');
    expect([reply.status, reply.headers['x-api'], reply.body]).to.deep.equal([200, 'core', 'core /x']);
    const failed = await h2request(session, '/throw');
    expect(failed.status).to.equal(500);
    const h1 = await run('curl', ['--http1.1', '-k', '-sS', `https://127.0.0.1:${port}/`]);
    expect(h1.stdout).to.equal('http1 via handle');
    expect(pool.getMetrics().errors.byType.handler).to.equal(1);
  });
});
