import 'reflect-metadata';
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import type { RequestListener } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import * as sinon from 'sinon';
import {
  HttpsConnectionPool,
  HttpsPoolConfig,
  HttpsServer,
  PoolConfig,
  UsePool,
  type Application,
  type HttpConnectionPool,
  type ServerClass,
  type StatusReport,
} from '../../src';
import { createTestApp } from '../../src/testing';
import { FRAMEWORK_SECTIONS } from '../../samples/frameworks/app';
import { expressApp } from '../../samples/frameworks/express-app';
import { ExpressServer } from '../../samples/frameworks/express-server';
import { fastifyRoutes } from '../../samples/frameworks/fastify-routes';
import { FastifyServer } from '../../samples/frameworks/fastify-server';
import { koaApp } from '../../samples/frameworks/koa-app';
import { KoaServer } from '../../samples/frameworks/koa-server';
import { connect, waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { run, samplesOf, scrapeWithCurl } from '../helpers/metrics-clients';

/** The same Express app as the handler of an HTTPS server. */
@UsePool(HttpsConnectionPool)
class ExpressTlsServer extends HttpsServer {
  handle = expressApp;
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }
}

/** The same Koa app as the handler of an HTTPS server. */
@UsePool(HttpsConnectionPool)
class KoaTlsServer extends HttpsServer {
  handle = koaApp.callback();
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }
}

/** The same Fastify routes on an HTTPS server, through its serverFactory. */
@UsePool(HttpsConnectionPool)
class FastifyTlsServer extends HttpsServer {
  declare handle: RequestListener;
  readonly fastify = Fastify({ serverFactory: this.serverFactory }).register(fastifyRoutes);
  constructor(@PoolConfig(HttpsPoolConfig, 'https') config: HttpsPoolConfig) {
    super(config);
  }
  async onInit(): Promise<void> {
    await this.fastify.ready();
  }
  async onShutdown(): Promise<void> {
    await this.fastify.close();
  }
}

interface Framework {
  name: string;
  /** The sample's HTTP server class and the section it reads. */
  server: ServerClass;
  section: string;
  tlsServer: ServerClass;
  /** Body of `GET /`. */
  hello: string;
}

const FRAMEWORKS: Framework[] = [
  { name: 'Express 5', server: ExpressServer, section: 'express', tlsServer: ExpressTlsServer, hello: 'hello from express\n' },
  { name: 'Koa 3', server: KoaServer, section: 'koa', tlsServer: KoaTlsServer, hello: 'hello from koa\n' },
  { name: 'Fastify 5', server: FastifyServer, section: 'fastify', tlsServer: FastifyTlsServer, hello: 'hello from fastify\n' },
];

const BODY = 16 * 1024 * 1024;

/** A curl child started now; `done` resolves with what `-w` printed, stdout and how it exited. */
function curl(args: string[]): { child: ChildProcess; done: Promise<{ code: number | null; out: string; err: string }> } {
  const child = spawn('/usr/bin/curl', ['-sS', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const done = new Promise<{ code: number | null; out: string; err: string }>((resolve) => child.once('close', (code) => resolve({ code, out, err })));
  return { child, done };
}

/** curl arguments that print only the status of each of `urls` URLs (curl needs one `-o` per URL). */
function statusOnly(urls: number): string[] {
  return ['-w', '%{http_code}\n', ...Array.from({ length: urls }, () => ['-o', '/dev/null']).flat()];
}

describe('issue 12: every framework handler is measured (Express 5, Koa 3, Fastify 5 on real sockets, curl as the client)', function () {
  this.timeout(30_000);
  let app: Application | undefined;
  let certs: TlsFixtures;
  const children: ChildProcess[] = [];
  const sockets: Socket[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());

  afterEach(async () => {
    sinon.restore();
    for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    for (const s of sockets.splice(0)) s.destroy();
    if (app && app.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  /** Starts the sample's server of `fw` alone, with an admin endpoint; returns its port and pool. */
  async function boot(fw: Framework, section: Record<string, unknown> = {}, shutdown: Record<string, unknown> = {}) {
    app = createTestApp({ servers: [fw.server], sections: FRAMEWORK_SECTIONS, config: { [fw.section]: section, admin: {}, shutdown: { timeout: 20_000, ...shutdown } } });
    await app.start();
    const server = app.server(fw.server);
    return { app, port: server.address()!.port, pool: server.pool as HttpConnectionPool, admin: app.adminAddress()!.port };
  }

  /** Express and Koa log a failing handler's stack with console.error: kept out of the test output, and proof their error handling ran. */
  function silenceFrameworkErrorLog(): sinon.SinonStub {
    return sinon.stub(console, 'error');
  }

  for (const fw of FRAMEWORKS) {
    it(`issue 12 ${fw.name}: requests are counted and timed (three curl requests on one connection; /status and pool.getMetrics() agree, nothing aborted or left in flight)`, async () => {
      const { port, pool, admin } = await boot(fw);
      const base = `http://127.0.0.1:${port}`;
      const r = await run('/usr/bin/curl', ['-sS', `${base}/`, `${base}/`, `${base}/slow?ms=60`]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stdout).to.equal(`${fw.hello}${fw.hello}slept 60 ms\n`);
      await waitFor(() => pool.getMetrics().requests.total === 3, 5000, 'three requests counted');
      const status = JSON.parse((await run('/usr/bin/curl', ['-sSf', `http://127.0.0.1:${admin}/status`])).stdout) as StatusReport;
      const mine = status.pools.find((p) => p.pool === fw.section)!;
      for (const m of [mine.metrics, pool.getMetrics()]) {
        expect(m.totalConnections, 'curl reused one connection').to.equal(1);
        expect(m.requests.total).to.equal(3);
        expect(m.requests.failed).to.equal(0);
        expect(m.requests.inFlight).to.equal(0);
        expect(m.errors.byType.aborted ?? 0).to.equal(0);
        expect(m.latency.count).to.equal(3);
        expect(m.latency.maxMs).to.be.at.least(55);
      }
      const samples = await scrapeWithCurl(admin);
      expect(samplesOf(samples, 'unipool_http_requests_total', { pool: fw.section, status_class: '2xx' })[0]?.value).to.equal(3);
    });

    it(`issue 12 ${fw.name}: a 5xx written by the framework's own error handling is a failed request (status_class="5xx", error rate 0.5)`, async () => {
      const log = silenceFrameworkErrorLog();
      const { port, pool, admin } = await boot(fw);
      const base = `http://127.0.0.1:${port}`;
      const r = await run('/usr/bin/curl', ['-sS', ...statusOnly(2), `${base}/fail`, `${base}/`]);
      expect(r.stdout).to.equal('500\n200\n');
      await waitFor(() => pool.getMetrics().requests.total === 2, 5000, 'two requests counted');
      const m = pool.getMetrics();
      expect(m.requests.failed).to.equal(1);
      expect(m.requests.errorRate).to.equal(0.5);
      expect(m.requests.inFlight).to.equal(0);
      const samples = await scrapeWithCurl(admin);
      expect(samplesOf(samples, 'unipool_http_requests_total', { pool: fw.section, status_class: '5xx' })[0]?.value).to.equal(1);
      expect(samplesOf(samples, 'unipool_http_requests_total', { pool: fw.section, status_class: '2xx' })[0]?.value).to.equal(1);
      // The framework answered the error itself: unipool's own 500 (a handler throw) never ran.
      expect(m.errors.byType.handler ?? 0).to.equal(0);
      if (fw.server !== FastifyServer) expect(log.called, 'the framework logged the error it answered').to.equal(true);
    });

    it(`issue 12 ${fw.name}: an idle keep-alive socket is closed at idleTimeout after two requests (counted idle, nothing aborted)`, async () => {
      const idleTimeout = 400;
      const { pool } = await boot(fw, { idleTimeout, keepAliveTimeout: 60_000 });
      const port = app!.server(fw.server).address()!.port;
      const socket = await connect(port);
      sockets.push(socket);
      let data = '';
      let closedAt = 0;
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (data += c));
      socket.on('error', () => undefined);
      socket.once('close', () => (closedAt = performance.now()));
      const answers = () => data.split(fw.hello).length - 1;
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => answers() === 1, 5000, 'first answer');
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => answers() === 2, 5000, 'second answer');
      const idleFrom = performance.now();
      await waitFor(() => closedAt > 0, 5000, 'the server to close the idle socket');
      expect(closedAt - idleFrom).to.be.at.least(idleTimeout - 50);
      expect(data).to.not.match(/Connection: close/i);
      const m = pool.getMetrics();
      expect(m.timeouts.idle).to.equal(1);
      expect(m.requests.total).to.equal(2);
      expect(m.requests.inFlight).to.equal(0);
      expect(m.errors.byType.aborted ?? 0).to.equal(0);
    });

    it(`issue 12 ${fw.name}: drain loses nothing: an in-flight slow request is answered and a slow reader (curl --limit-rate) gets its whole 16 MiB body during app.stop()`, async () => {
      const { app, port, pool } = await boot(fw);
      const base = `http://127.0.0.1:${port}`;
      const slow = curl(['-D', '-', `${base}/slow?ms=700`]);
      const reader = curl(['--limit-rate', '8M', '-o', '/dev/null', '-w', '%{size_download}', `${base}/bytes?n=${BODY}`]);
      children.push(slow.child, reader.child);
      await waitFor(() => pool.getMetrics().requests.inFlight === 2, 5000, 'both requests in flight');
      const stopping = app.stop();
      expect(reader.child.exitCode, 'the reader is still reading when the drain starts').to.equal(null);
      const [result, slowDone, readerDone] = await Promise.all([stopping, slow.done, reader.done]);
      expect(slowDone.code, slowDone.err).to.equal(0);
      expect(slowDone.out).to.match(/^HTTP\/1\.1 200/);
      expect(slowDone.out).to.match(/^connection: close\r$/im);
      expect(slowDone.out).to.match(/slept 700 ms\n$/);
      expect(readerDone.code, readerDone.err).to.equal(0);
      expect(Number(readerDone.out)).to.equal(BODY);
      expect(result.ok).to.equal(true);
      expect(result.forced).to.equal(0);
      const m = pool.getMetrics();
      expect(m.requests.total).to.equal(2);
      expect(m.requests.failed).to.equal(0);
      expect(m.errors.byType.aborted ?? 0).to.equal(0);
    });

    it(`issue 12 ${fw.name} on an HttpsServer: requests are counted and a framework 5xx is failed (curl over TLS)`, async () => {
      silenceFrameworkErrorLog();
      app = createTestApp({ servers: [fw.tlsServer], config: { https: { tls: { cert: certs.cert, key: certs.key } } } });
      await app.start();
      const server = app.server(fw.tlsServer);
      const base = `https://127.0.0.1:${server.address()!.port}`;
      const r = await run('/usr/bin/curl', ['-sS', '-k', ...statusOnly(3), `${base}/`, `${base}/`, `${base}/fail`]);
      expect(r.stdout, r.stderr).to.equal('200\n200\n500\n');
      const pool = server.pool as HttpsConnectionPool;
      await waitFor(() => pool.getMetrics().requests.total === 3, 5000, 'three requests counted');
      const m = pool.getMetrics();
      expect(m.totalConnections).to.equal(1);
      expect(m.requests.failed).to.equal(1);
      expect(m.requests.inFlight).to.equal(0);
      expect(m.errors.byType.aborted ?? 0).to.equal(0);
    });
  }

  it('issue 12 Fastify 5: fastify.listen() is refused with a coded error (unipool listens), and fastify.server never listens', async () => {
    const { port } = await boot(FRAMEWORKS[2]);
    const server = app!.server(FastifyServer);
    let err: (Error & { code?: string }) | undefined;
    await server.fastify.listen({ port: 0, host: '127.0.0.1' }).catch((e: Error) => (err = e));
    expect(err?.code).to.equal('UNIPOOL_LIFECYCLE_STATE');
    expect(err?.message).to.match(/fastify\.ready\(\)/);
    expect(server.fastify.server.listening).to.equal(false);
    const r = await run('/usr/bin/curl', ['-sS', `http://127.0.0.1:${port}/`]);
    expect(r.stdout).to.equal('hello from fastify\n');
  });
});
