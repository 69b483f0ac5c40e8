import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { expect } from 'chai';
import { ConfigValidationError, HttpConnectionPool, HttpPoolConfig, HttpsConnectionPool, HttpServer, HttpsPoolConfig, HttpsServer, PoolConfig, UsePool, type Application, type SectionName, type ServerClass } from '../../src';
import { createTestApp } from '../../src/testing';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { WsEchoServer } from '../../samples/multi-protocol/ws-echo-server';
import { closeClients } from '../helpers/grpc';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { curlStatus, run, samplesOf, scrapeWithCurl } from '../helpers/metrics-clients';
import { adminPort, get } from './admin-support';

/** What a Koa-shaped middleware sees. */
interface Ctx {
  req: IncomingMessage;
  status: number;
  body: string;
}
type Middleware = (ctx: Ctx, next: () => Promise<void>) => Promise<void>;

/**
 * A Koa-shaped framework: middleware set `ctx.status` and `ctx.body`, an error is caught by the
 * framework's own error middleware and becomes a 500, and the framework writes the response.
 * Nothing ever throws out of `handle`: the pool sees only the status code.
 */
function koaLike(...stack: Middleware[]): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const errors: Middleware = async (ctx, next) => {
    try {
      await next();
    } catch {
      ctx.status = 500;
      ctx.body = 'Internal Server Error';
    }
  };
  const all = [errors, ...stack];
  return async (req, res) => {
    const ctx: Ctx = { req, status: 404, body: 'Not Found' };
    const dispatch = async (i: number): Promise<void> => {
      if (i < all.length) await all[i](ctx, () => dispatch(i + 1));
    };
    await dispatch(0);
    res.statusCode = ctx.status;
    res.setHeader('Content-Type', 'text/plain');
    res.end(ctx.body);
  };
}

/** `/ok` 200, `/moved` 301, `/broken` a route that fails (500 written by the framework), anything else 404. */
const routes: Middleware = async (ctx, next) => {
  if (ctx.req.url === '/ok') {
    ctx.status = 200;
    ctx.body = 'ok';
  } else if (ctx.req.url === '/moved') {
    ctx.status = 301;
    ctx.body = '';
  } else if (ctx.req.url === '/broken') {
    throw new Error('database unreachable');
  } else {
    await next();
  }
};
const app_ = koaLike(routes);

/** An HTTP server class running the Koa-shaped app on `pool`, configured from `section`. */
function koaHttpServer(pool: new () => HttpConnectionPool, section: SectionName): ServerClass<HttpServer> {
  @UsePool(pool)
  class KoaHttpServer extends HttpServer {
    constructor(@PoolConfig(HttpPoolConfig, section) config: HttpPoolConfig) {
      super(config);
    }
    handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
      return app_(req, res);
    }
  }
  return KoaHttpServer;
}

/** A second HTTP pool class, for an internal listener with its own limit. */
class InternalPool extends HttpConnectionPool {}
/** The public HTTP server, on the default pool (section `http`), and the internal one. */
const PublicServer = koaHttpServer(HttpConnectionPool, 'http');
const InternalServer = koaHttpServer(InternalPool, 'internal');
/** A second server on section `http`, with a pool of its own. */
const SecondOnHttp = koaHttpServer(InternalPool, 'http');

@UsePool(HttpsConnectionPool)
class KoaHttpsServer extends HttpsServer {
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }
  handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    return app_(req, res);
  }
}

const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** `{ label value: sample value }` of one family, for the samples matching `labels`. */
function byLabel(samples: Awaited<ReturnType<typeof scrapeWithCurl>>, name: string, label: string, labels: Record<string, string>): Record<string, number> {
  return Object.fromEntries(samplesOf(samples, name, labels).map((s) => [s.labels[label], s.value]));
}

describe('metrics that add up: per-pool series, HTTP status classes, zero series', function () {
  this.timeout(20_000);
  let certs: TlsFixtures;
  let app: Application | undefined;

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    closeClients();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  const portOf = (a: Application, cls: { name: string }): number => a.servers.find((s) => s.constructor === cls)!.address()!.port;

  async function status(a: Application): Promise<{ pools: Array<{ protocol: string; pool: string; poolClass: string; metrics: { requests: { total: number; failed: number; errorRate: number } } }> }> {
    const reply = await get(adminPort(a), '/status');
    expect(reply.status).to.equal(200);
    return JSON.parse(reply.body);
  }

  it('item 16: two HTTP pools with limits 100 and 5 are two series labelled by pool, not one of 105', async () => {
    app = createTestApp({
      servers: [PublicServer, InternalServer],
      sections: { internal: HttpPoolConfig },
      config: { http: { maxConnections: 100 }, internal: { maxConnections: 5 }, admin: {} },
    });
    await app.start();
    expect(await curlStatus(`http://127.0.0.1:${portOf(app, PublicServer)}/ok`)).to.equal(200);
    expect(await curlStatus(`http://127.0.0.1:${portOf(app, PublicServer)}/ok`)).to.equal(200);
    expect(await curlStatus(`http://127.0.0.1:${portOf(app, InternalServer)}/ok`)).to.equal(200);

    const samples = await scrapeWithCurl(adminPort(app));
    expect(byLabel(samples, 'unipool_pool_max_connections', 'pool', { protocol: 'http' })).to.deep.equal({ http: 100, internal: 5 });
    expect(byLabel(samples, 'unipool_connections_total', 'pool', { protocol: 'http' })).to.deep.equal({ http: 2, internal: 1 });
    expect(byLabel(samples, 'unipool_request_duration_seconds_count', 'pool', { protocol: 'http' })).to.deep.equal({ http: 2, internal: 1 });
    expect(samplesOf(samples, 'unipool_pool_health', { protocol: 'http', status: 'HEALTHY' }).map((s) => s.labels.pool).sort()).to.deep.equal(['http', 'internal']);
    // Every series that belongs to a pool says which one.
    const perPool = samples.filter((s) => s.labels.protocol !== undefined);
    expect(perPool.length).to.be.greaterThan(20);
    for (const s of perPool) expect(s.labels.pool, `${s.name} ${JSON.stringify(s.labels)}`).to.be.oneOf(['http', 'internal']);

    const report = await status(app);
    expect(report.pools.map((p) => [p.protocol, p.pool, p.poolClass])).to.deep.equal([
      ['http', 'http', 'HttpConnectionPool'],
      ['http', 'internal', 'InternalPool'],
    ]);
    expect(app.pools.map((p) => p.name)).to.deep.equal(['http', 'internal']);
  });

  it('item 16: /readyz names the pool that is unavailable (curl), not only its protocol', async () => {
    app = createTestApp({
      servers: [PublicServer, InternalServer],
      sections: { internal: HttpPoolConfig },
      config: { admin: {} },
    });
    await app.start();
    const url = `http://127.0.0.1:${adminPort(app)}/readyz`;
    const ready = await run('/usr/bin/curl', ['-s', '-w', '\n%{http_code}', url]);
    expect(ready.stdout.trim().split('\n')).to.deep.equal(['{"status":"ready","state":"running"}', '200']);
    // The internal listener stops accepting (its pool turns UNAVAILABLE); the public one still serves.
    await app.server(InternalServer).stopAccepting();
    const notReady = await run('/usr/bin/curl', ['-s', '-w', '\n%{http_code}', url]);
    const [body, code] = notReady.stdout.trim().split('\n');
    expect(code).to.equal('503');
    expect(JSON.parse(body)).to.deep.equal({ status: 'not ready', state: 'running', unavailable: ['internal'] });
  });

  it('item 16: two pools configured from one section get distinct names', async () => {
    app = createTestApp({ servers: [PublicServer, SecondOnHttp], config: { admin: {} } });
    await app.start();
    expect(app.pools.map((p) => p.name)).to.deep.equal(['http', 'http-2']);
    const samples = await scrapeWithCurl(adminPort(app));
    expect(byLabel(samples, 'unipool_pool_max_connections', 'pool', { protocol: 'http' })).to.deep.equal({ http: 1000, 'http-2': 1000 });
  });

  it('item 17: a 500 written by a Koa-shaped framework (no throw) is counted in unipool_http_requests_total and in the error rate', async () => {
    app = createTestApp({ servers: [PublicServer], config: { admin: {} } });
    await app.start();
    const base = `http://127.0.0.1:${portOf(app, PublicServer)}`;
    expect(await curlStatus(`${base}/ok`)).to.equal(200);
    expect(await curlStatus(`${base}/ok`)).to.equal(200);
    expect(await curlStatus(`${base}/moved`)).to.equal(301);
    expect(await curlStatus(`${base}/nothing-here`)).to.equal(404);
    expect(await curlStatus(`${base}/broken`)).to.equal(500);

    const samples = await scrapeWithCurl(adminPort(app));
    expect(byLabel(samples, 'unipool_http_requests_total', 'status_class', { protocol: 'http', pool: 'http' })).to.deep.equal({ '1xx': 0, '2xx': 2, '3xx': 1, '4xx': 1, '5xx': 1 });
    expect(samplesOf(samples, 'unipool_errors_total', { protocol: 'http', type: 'handler' })[0].value, 'the framework caught the error: no throw reached unipool').to.equal(0);
    const [pool] = (await status(app)).pools;
    expect(pool.metrics.requests).to.include({ total: 5, failed: 1 });
    expect(pool.metrics.requests.errorRate).to.be.closeTo(1 / 5, 1e-9);
  });

  it('item 17: health.countHttp5xxAsError false keeps 5xx out of the error rate, still counted by status class', async () => {
    app = createTestApp({ servers: [PublicServer], config: { http: { health: { countHttp5xxAsError: false } }, admin: {} } });
    await app.start();
    const base = `http://127.0.0.1:${portOf(app, PublicServer)}`;
    expect(await curlStatus(`${base}/ok`)).to.equal(200);
    expect(await curlStatus(`${base}/broken`)).to.equal(500);
    const samples = await scrapeWithCurl(adminPort(app));
    expect(byLabel(samples, 'unipool_http_requests_total', 'status_class', { protocol: 'http' })).to.deep.include({ '2xx': 1, '5xx': 1 });
    const [pool] = (await status(app)).pools;
    expect(pool.metrics.requests).to.include({ total: 2, failed: 0, errorRate: 0 });
  });

  it('item 17: HTTPS responses are counted by status class too', async () => {
    app = createTestApp({ servers: [KoaHttpsServer], config: { https: { tls: { cert: certs.cert, key: certs.key } }, admin: {} } });
    await app.start();
    const base = `https://127.0.0.1:${portOf(app, KoaHttpsServer)}`;
    expect(await curlStatus(`${base}/ok`)).to.equal(200);
    expect(await curlStatus(`${base}/broken`)).to.equal(500);
    expect(await curlStatus(`${base}/broken`)).to.equal(500);
    const samples = await scrapeWithCurl(adminPort(app));
    expect(byLabel(samples, 'unipool_http_requests_total', 'status_class', { protocol: 'https', pool: 'https' })).to.deep.equal({ '1xx': 0, '2xx': 1, '3xx': 0, '4xx': 0, '5xx': 2 });
    const [pool] = (await status(app)).pools;
    expect(pool.metrics.requests).to.include({ total: 3, failed: 2 });
  });

  it('item 17: health.countHttp5xxAsError is validated, and only HTTP and HTTPS sections have it', async () => {
    for (const [config, path] of [
      [{ http: { health: { countHttp5xxAsError: 'yes' } } }, 'http.health.countHttp5xxAsError'],
      [{ ws: { health: { countHttp5xxAsError: true } } }, 'ws.health.countHttp5xxAsError'],
    ] as const) {
      const bad = createTestApp({ servers: [PublicServer, WsEchoServer], config });
      const err = await bad.start().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(ConfigValidationError);
      expect((err as ConfigValidationError).problems.map((p) => p.path)).to.include(path);
    }
  });

  it('item 18: a fresh application reports every label value known in advance at 0', async () => {
    app = createTestApp({
      servers: [PublicServer, KoaHttpsServer, GrpcEchoServer, WsEchoServer],
      config: { https: { tls: { cert: certs.cert, key: certs.key } }, admin: {} },
    });
    await app.start();
    const samples = await scrapeWithCurl(adminPort(app));
    const zeros = (name: string, label: string, protocol: string): string[] =>
      samplesOf(samples, name, { protocol })
        .filter((s) => s.value === 0)
        .map((s) => s.labels[label])
        .sort();
    for (const protocol of ['http', 'https', 'grpc', 'ws']) {
      expect(zeros('unipool_connections_rejected_total', 'reason', protocol), `${protocol} reasons`).to.include.members(['draining', 'max_connections']);
      expect(zeros('unipool_connection_timeouts_total', 'kind', protocol), `${protocol} kinds`).to.include.members(['connection', 'idle']);
    }
    for (const protocol of ['http', 'https']) {
      expect(zeros('unipool_connection_timeouts_total', 'kind', protocol)).to.include.members(['headers', 'request']);
      expect(zeros('unipool_errors_total', 'type', protocol)).to.include.members(['aborted', 'client_error', 'handler']);
      expect(zeros('unipool_http_requests_total', 'status_class', protocol)).to.deep.equal(CLASSES);
    }
    expect(zeros('unipool_connections_rejected_total', 'reason', 'https')).to.include.members(['client_certificate', 'handshake_backlog']);
    expect(zeros('unipool_connection_timeouts_total', 'kind', 'https')).to.include('handshake');
    expect(zeros('unipool_errors_total', 'type', 'https')).to.include('tls_handshake');
    expect(zeros('unipool_connections_rejected_total', 'reason', 'ws')).to.include.members(['bad_path', 'handshake_backlog']);
    expect(zeros('unipool_connection_timeouts_total', 'kind', 'ws')).to.include.members(['close_handshake', 'handshake', 'pong']);
    expect(zeros('unipool_errors_total', 'type', 'ws')).to.include.members(['handler', 'handshake', 'message_too_big', 'protocol', 'slow_consumer']);
    expect(zeros('unipool_ws_close_total', 'code', 'ws')).to.include.members(['1000', '1001', '1002', '1006', '1007', '1008', '1009']);
    expect(samplesOf(samples, 'unipool_http_requests_total', { protocol: 'ws' }), 'status classes are HTTP(S) only').to.have.length(0);
  });
});
