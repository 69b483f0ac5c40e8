import 'reflect-metadata';
import { expect } from 'chai';
import * as http from 'node:http';
import * as net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigValidationError,
  HookFailedError,
  HookTimeoutError,
  HttpConnectionPool,
  HttpPoolConfig,
  HttpServer,
  LifecycleStateError,
  ListenError,
  PoolConfig,
  UsePool,
  type Application,
} from '../../src';
import { createTestApp, overridePool } from '../../src/testing';
import { TestHttpServer, request, waitFor } from '../helpers/http-fixtures';

const order: string[] = [];

class AuditProvider {
  onInit() {
    order.push('provider.onInit');
  }
  onReady() {
    order.push('provider.onReady');
  }
  beforeShutdown() {
    order.push('provider.beforeShutdown');
  }
  onShutdown() {
    order.push('provider.onShutdown');
    throw new Error('provider cleanup failed');
  }
}

class StuckProvider {
  onShutdown(): Promise<void> {
    order.push('stuck.onShutdown');
    return new Promise(() => undefined);
  }
}

class FailingInitProvider {
  onInit(): void {
    throw new Error('database unreachable');
  }
}

class SecondPool extends HttpConnectionPool {}

@UsePool(SecondPool)
class SecondServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'api2') config: HttpPoolConfig) {
    super(config);
  }
  handle(_req: unknown, res: { end(b: string): void }): void {
    res.end('second');
  }
  onShutdown(): void {
    order.push('second.onShutdown');
  }
}

@UsePool(HttpConnectionPool)
class SharingServer extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'api3') config: HttpPoolConfig) {
    super(config);
  }
  handle(_req: unknown, res: { end(b: string): void }): void {
    res.end('sharing');
  }
}

class CountingPool extends HttpConnectionPool {
  admitted = 0;
  override add(...args: Parameters<HttpConnectionPool['add']>) {
    this.admitted++;
    return super.add(...args);
  }
}

describe('Application lifecycle with real servers', () => {
  let app: Application | undefined;
  const exitCode = process.exitCode;

  beforeEach(() => {
    order.length = 0;
  });

  afterEach(async () => {
    if (app && app.state === 'running') await app.stop({ force: true });
    app = undefined;
    process.exitCode = exitCode;
  });

  it("review: createTestApp keeps a config file's shutdown.exitDelay, and defaults it to false only when neither file nor env sets it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'unipool-exit-delay-'));
    try {
      const withDelay = join(dir, 'with.json');
      const without = join(dir, 'without.json');
      writeFileSync(withDelay, JSON.stringify({ http: { host: '127.0.0.1', port: 0 }, shutdown: { exitDelay: 250 } }));
      writeFileSync(without, JSON.stringify({ http: { host: '127.0.0.1', port: 0 } }));
      for (const [file, expected] of [[withDelay, 250], [without, false]] as const) {
        app = createTestApp({ servers: [TestHttpServer], config: file });
        await app.start();
        expect((app.config!.get('shutdown') as { exitDelay: number | false }).exitDelay, file).to.equal(expected);
        expect((await request(app.server(TestHttpServer).address()!.port, '/')).status).to.equal(200);
        await app.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs hooks in order, onShutdown in reverse, and collects hook errors without skipping later hooks', async () => {
    app = createTestApp({ servers: [TestHttpServer], providers: [AuditProvider, StuckProvider], config: { shutdown: { hookTimeout: 100 } } });
    await app.start();
    const server = app.server(TestHttpServer);
    expect(order).to.deep.equal(['provider.onInit', 'provider.onReady']);
    expect(server.calls).to.deep.equal(['onInit', 'onReady']);
    const result = await app.stop();
    expect(server.calls).to.deep.equal(['onInit', 'onReady', 'beforeShutdown', 'onShutdown']);
    expect(order).to.deep.equal(['provider.onInit', 'provider.onReady', 'provider.beforeShutdown', 'stuck.onShutdown', 'provider.onShutdown']);
    expect(result.ok).to.equal(false);
    expect(result.errors).to.have.length(2);
    expect(result.errors[0]).to.be.instanceOf(HookTimeoutError);
    expect(result.errors[0].code).to.equal('UNIPOOL_HOOK_TIMEOUT');
    expect(result.errors[1]).to.be.instanceOf(HookFailedError);
    expect(result.errors[1].message).to.contain('provider cleanup failed');
  });

  it('refuses an invalid config before any port opens, listing every problem with its path', async () => {
    app = createTestApp({
      servers: [TestHttpServer],
      config: { http: { maxConnections: 0, headersTimeout: 5000, requestTimeout: 1000, bogus: true }, shutdown: { timeout: -1 }, htp: {} },
    });
    const err = await app.start().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ConfigValidationError);
    const e = err as ConfigValidationError;
    expect(e.code).to.equal('UNIPOOL_CONFIG_INVALID');
    expect(e.message).to.contain('http.maxConnections: must not be less than 1 (got 0)');
    expect(e.message).to.contain('http.bogus: is not a known key (got true)');
    expect(e.message).to.contain('shutdown.timeout: must not be less than 0 (got -1)');
    expect(e.message).to.contain('htp: is not a known section');
    expect(e.problems.length).to.be.at.least(4);
    expect(app.state).to.equal('failed');
    expect(app.servers).to.have.length(0);
  });

  it('reports a cross-field problem (headersTimeout > requestTimeout)', async () => {
    app = createTestApp({ servers: [TestHttpServer], config: { http: { headersTimeout: 5000, requestTimeout: 1000 } } });
    const err = (await app.start().catch((e: unknown) => e)) as ConfigValidationError;
    expect(err.message).to.contain('http.headersTimeout: must not be greater than requestTimeout (1000) (got 5000)');
  });

  it('closes what it opened when a later server cannot bind its port', async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const taken = (blocker.address() as net.AddressInfo).port;
    try {
      app = createTestApp({ servers: [TestHttpServer, SecondServer], sections: { api2: HttpPoolConfig }, config: { api2: { port: taken } } });
      const err = await app.start().catch((e: unknown) => e);
      expect(err).to.be.instanceOf(ListenError);
      expect((err as ListenError).code).to.equal('UNIPOOL_LISTEN_FAILED');
      expect((err as Error).message).to.contain(`127.0.0.1:${taken}`);
      const first = app.servers[0];
      expect(first.address()).to.equal(undefined);
      expect(order).to.deep.equal(['second.onShutdown']);
      expect(app.state).to.equal('failed');
    } finally {
      await new Promise((r) => blocker.close(r));
    }
  });

  it('fails boot when an onInit hook throws, before listening', async () => {
    app = createTestApp({ servers: [TestHttpServer], providers: [FailingInitProvider] });
    const err = await app.start().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(HookFailedError);
    expect((err as Error).message).to.contain('FailingInitProvider.onInit() failed: database unreachable');
    expect(app.servers[0].address()).to.equal(undefined);
  });

  it('lets a test swap the pool through the container; the server receives the replacement', async () => {
    app = createTestApp({ servers: [TestHttpServer], pools: [[HttpConnectionPool, CountingPool]] });
    await app.start();
    const server = app.server(TestHttpServer);
    expect(server.pool).to.be.instanceOf(CountingPool);
    expect((await request(server.address()!.port)).status).to.equal(200);
    expect((server.pool as CountingPool).admitted).to.equal(1);
  });

  it('overridePool also takes an instance', async () => {
    const instance = new CountingPool();
    app = createTestApp({ servers: [TestHttpServer] });
    overridePool(app, HttpConnectionPool, instance);
    await app.start();
    expect(app.server(TestHttpServer).pool).to.equal(instance);
  });

  it('gives two servers that name the same pool class one shared instance', async () => {
    app = createTestApp({ servers: [TestHttpServer, SharingServer], sections: { api3: HttpPoolConfig } });
    await app.start();
    const a = app.server(TestHttpServer);
    const b = app.server(SharingServer);
    expect(a.pool).to.equal(b.pool);
    expect(app.pools).to.have.length(1);
    await request(a.address()!.port);
    await request(b.address()!.port);
    expect(a.pool.getMetrics().totalConnections).to.equal(2);
  });

  it('refuses two servers sharing a pool with different pool limits', async () => {
    app = createTestApp({ servers: [TestHttpServer, SharingServer], sections: { api3: HttpPoolConfig }, config: { api3: { maxConnections: 5 } } });
    const err = await app.start().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ConfigValidationError);
    expect((err as Error).message).to.contain('http.maxConnections (1000) differs from api3.maxConnections (5): servers TestHttpServer and SharingServer share HttpConnectionPool');
  });

  it('applies environment overrides UNIPOOL_<SECTION>_<KEY>', async () => {
    app = createTestApp({ servers: [TestHttpServer], env: { UNIPOOL_HTTP_MAX_CONNECTIONS: '3', UNIPOOL_HTTP_HEALTH_DEGRADED_UTILIZATION: '0.5' } });
    await app.start();
    expect(app.server(TestHttpServer).pool.config.maxConnections).to.equal(3);
    expect(app.server(TestHttpServer).pool.config.health.degradedUtilization).to.equal(0.5);
  });

  it('guards its state: no double start, no stop before start', async () => {
    app = createTestApp({ servers: [TestHttpServer] });
    await app.start();
    const err = await app.start().catch((e: unknown) => e);
    expect(err).to.be.instanceOf(LifecycleStateError);
  });

  it('item 23: stop() and reload() on an application that is not running return rejected promises (LifecycleStateError), never throw synchronously', async () => {
    app = createTestApp({ servers: [TestHttpServer] });
    let stopped: Promise<unknown> | undefined;
    expect(() => (stopped = app!.stop())).to.not.throw();
    expect(stopped).to.be.instanceOf(Promise);
    const err = await stopped!.then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(LifecycleStateError);
    expect(err).to.have.property('code', 'UNIPOOL_LIFECYCLE_STATE');
    let reloaded: Promise<unknown> | undefined;
    expect(() => (reloaded = app!.reload())).to.not.throw();
    expect(await reloaded!.then(() => undefined, (e: unknown) => e)).to.be.instanceOf(LifecycleStateError);
    // A stopped application refuses again, the same way.
    await app.start();
    await app.stop();
    const again = app.stop();
    expect(again).to.be.instanceOf(Promise);
    // The first stop() promise is returned to every later caller while it is the same shutdown.
    expect(await again.then((r) => r.ok)).to.equal(true);
  });

  it('item 14: shutdown.timeout 0 means no drain wait: idle sockets close as at any drain start, busy ones are destroyed at once and counted as forced', async () => {
    app = createTestApp({ servers: [TestHttpServer], config: { shutdown: { timeout: 0 } } });
    await app.start();
    const server = app.server(TestHttpServer);
    const port = server.address()!.port;
    const agent = new http.Agent({ keepAlive: true });
    try {
      expect((await request(port, '/', { agent })).body).to.equal('ok'); // leaves one idle keep-alive socket
      const hanging = request(port, '/hang').catch((err: Error) => err);
      await waitFor(() => server.pool.getMetrics().requests.inFlight === 1 && server.pool.size === 2, 5000, 'one idle and one busy connection');
      const result = await app.stop();
      // The idle socket is closed by the drain start (graceful, or forced if its close comes after the 0 ms deadline).
      expect(result.ok).to.equal(false);
      expect(result.forced).to.be.at.least(1);
      expect(result.graceful + result.forced).to.equal(2);
      expect(await hanging).to.be.instanceOf(Error); // the busy request was cut, not answered
    } finally {
      agent.destroy();
    }
  });

  it('SIGTERM starts a graceful stop, sets exit code 0, and removes its handlers', async () => {
    const before = process.listenerCount('SIGTERM');
    const beforeInt = process.listenerCount('SIGINT');
    app = createTestApp({ servers: [TestHttpServer], handleSignals: true });
    await app.start();
    expect(process.listenerCount('SIGTERM')).to.equal(before + 1);
    const stopped = new Promise((r) => app!.events.once('stopped', r));
    process.emit('SIGTERM', 'SIGTERM');
    await stopped;
    await new Promise((r) => setImmediate(r));
    expect(app.state).to.equal('stopped');
    expect(process.exitCode).to.equal(0);
    expect(process.listenerCount('SIGTERM')).to.equal(before);
    expect(process.listenerCount('SIGINT')).to.equal(beforeInt);
  });

  it('a second SIGINT forces the shutdown and the exit code is non-zero', async () => {
    app = createTestApp({ servers: [TestHttpServer], handleSignals: true, config: { shutdown: { timeout: 60_000 } } });
    await app.start();
    const port = app.server(TestHttpServer).address()!.port;
    void request(port, '/hang').catch(() => undefined);
    const pool = app.server(TestHttpServer).pool;
    while (pool.getMetrics().requests.inFlight === 0) await new Promise((r) => setTimeout(r, 5));
    const stopped = new Promise<{ forced: number }>((r) => app!.events.once('stopped', r));
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGINT', 'SIGINT');
    const result = await stopped;
    await new Promise((r) => setImmediate(r));
    expect(result.forced).to.equal(1);
    expect(process.exitCode).to.equal(1);
  });
});
