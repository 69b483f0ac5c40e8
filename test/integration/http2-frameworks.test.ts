import { expect } from 'chai';
import * as http from 'node:http';
import type * as http2 from 'node:http2';
import express from 'express';
import { createTestApp } from '../../src/testing';
import { Http2ConnectionPool, Http2PoolConfig, Http2Server, PoolConfig, UsePool, type Application } from '../../src';
import { waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { run } from '../helpers/http2-fixtures';

/** An Express 5 app, unchanged from what an HttpServer would serve. */
function makeExpressApp(): express.Express {
  const ex = express();
  // Express's final handler logs route errors to stderr outside 'test'.
  ex.set('env', 'test');
  ex.use(express.json());
  ex.get('/', (req, res) => {
    res.set('x-route', 'root').status(201).send(`express over HTTP/${req.httpVersion} ${req.get('user-agent')?.split('/')[0] ?? ''}`);
  });
  ex.post('/echo', (req, res) => {
    res.json({ got: req.body as unknown, type: req.is('application/json') });
  });
  ex.get('/boom', () => {
    throw new Error('express route boom');
  });
  return ex;
}

@UsePool(Http2ConnectionPool)
class ExpressOnHttp2 extends Http2Server {
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }
  handle = makeExpressApp();
}

/** A handler that does what Express does to HTTP/1.1 objects: swaps the prototypes for its own, then reads the body. */
@UsePool(Http2ConnectionPool)
class PrototypeSwapper extends Http2Server {
  constructor(@PoolConfig(Http2PoolConfig, 'http2') config: Http2PoolConfig) {
    super(config);
  }
  handle(req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse): void {
    Object.setPrototypeOf(req, Object.create(http.IncomingMessage.prototype));
    Object.setPrototypeOf(res, Object.create(http.ServerResponse.prototype));
    req.on('data', () => undefined);
  }
}

describe('HTTP/2 with frameworks (Express 5, curl --http2)', () => {
  let certs: TlsFixtures;
  let app: Application | undefined;

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(server: typeof ExpressOnHttp2 | typeof PrototypeSwapper, section: Record<string, unknown> = {}): Promise<{ port: number; pool: Http2ConnectionPool }> {
    const tls = section.h2c ? {} : { tls: { cert: certs.cert, key: certs.key } };
    app = createTestApp({ servers: [server], config: { http2: { ...tls, ...section } } });
    await app.start();
    const s = app.server(server);
    return { port: s.address()?.port as number, pool: s.pool };
  }

  it('a handler that replaces the prototypes of node\'s HTTP/2 request and response does not crash the process: 500, counted as a handler error', async () => {
    const { port, pool } = await start(PrototypeSwapper);
    const r = await run('curl', ['--http2', '-k', '-sS', '-o', '-', '-w', '\n%{http_code} %{http_version}', `https://127.0.0.1:${port}/`]);
    expect(r.stdout.trim().split('\n').pop()).to.equal('500 2');
    expect(pool.getMetrics().errors.byType.handler).to.equal(1);
    await waitFor(() => pool.getMetrics().http2.streamsOpen === 0, 5000, 'stream ended');
  });

  it('Express 5 moves to HTTP/2 unchanged: GET with status and headers, POST JSON, a throwing route, over curl --http2 (TLS) and HTTP/1.1 fallback on the same port', async () => {
    const { port, pool } = await start(ExpressOnHttp2);
    const base = `https://127.0.0.1:${port}`;
    const get = await run('curl', ['--http2', '-k', '-sS', '-i', '-A', 'curl/8', '-w', '\n%{http_version}', `${base}/`]);
    expect(get.stdout).to.match(/^HTTP\/2 201/);
    expect(get.stdout).to.match(/^x-route: root\r$/m);
    expect(get.stdout).to.match(/^x-powered-by: Express\r$/m);
    expect(get.stdout).to.contain('express over HTTP/2.0 curl');
    const post = await run('curl', ['--http2', '-k', '-sS', '-H', 'content-type: application/json', '-d', '{"a":[1,2]}', '-w', '\n%{http_code} %{http_version}', `${base}/echo`]);
    expect(post.stdout.split('\n')).to.deep.equal(['{"got":{"a":[1,2]},"type":"application/json"}', '200 2']);
    const boom = await run('curl', ['--http2', '-k', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `${base}/boom`]);
    expect(boom.stdout).to.equal('500 2');
    const missing = await run('curl', ['--http2', '-k', '-sS', '-o', '/dev/null', '-w', '%{http_code}', `${base}/nowhere`]);
    expect(missing.stdout).to.equal('404');
    const h1 = await run('curl', ['--http1.1', '-k', '-sS', '-A', 'curl/8', '-w', '\n%{http_version}', `${base}/`]);
    expect(h1.stdout).to.equal('express over HTTP/1.1 curl\n1.1');
    const h1post = await run('curl', ['--http1.1', '-k', '-sS', '-H', 'content-type: application/json', '-d', '{"b":true}', `${base}/echo`]);
    expect(h1post.stdout).to.equal('{"got":{"b":true},"type":"application/json"}');
    expect(pool.getMetrics().errors.byType.handler).to.equal(undefined);
    await waitFor(() => pool.getMetrics().http2.streamsOpen === 0, 5000, 'streams ended');
  });

  it('Express 5 on h2c (curl --http2-prior-knowledge)', async () => {
    const { port } = await start(ExpressOnHttp2, { h2c: true });
    const r = await run('curl', ['--http2-prior-knowledge', '-sS', '-H', 'content-type: application/json', '-d', '{"c":3}', '-w', '\n%{http_version}', `http://127.0.0.1:${port}/echo`]);
    expect(r.stdout).to.equal('{"got":{"c":3},"type":"application/json"}\n2');
  });
});
