import 'reflect-metadata';
import * as http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { ConnectionPoolEvent, HttpConnectionPool, HttpPoolConfig, HttpServer, PoolConfig, UsePool, type ReloadResult } from '../../src';
import { createTestApp } from '../../src/testing';
import { AdminTestServer, adminPort, get, httpPort, parseMetrics, valueOf } from './admin-support';

/** A second pool that refuses maxConnections 13 in applyConfig, to test all-or-nothing reloads. */
class PickyPool extends HttpConnectionPool {
  protected override applyConfig(previous: HttpPoolConfig, next: HttpPoolConfig): void {
    if (next.maxConnections === 13) throw new Error('13 connections is unlucky');
    super.applyConfig(previous, next);
  }
}

@UsePool(PickyPool)
class PickyServer extends HttpServer<PickyPool> {
  constructor(@PoolConfig(HttpPoolConfig, 'extra') config: HttpPoolConfig) {
    super(config);
  }
  handle(_req: http.IncomingMessage, res: http.ServerResponse): void {
    res.end('extra');
  }
}

describe('live reload', () => {
  let dir: string;
  let file: string;
  let app: ReturnType<typeof createTestApp> | undefined;
  const agents: http.Agent[] = [];

  function write(config: unknown): void {
    writeFileSync(file, typeof config === 'string' ? config : JSON.stringify(config));
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'unipool-reload-'));
    file = join(dir, 'config.json');
  });

  afterEach(async () => {
    for (const agent of agents.splice(0)) agent.destroy();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  const base = { http: { host: '127.0.0.1', port: 0, maxConnections: 3, retryAfter: 1 }, admin: { port: 0 }, shutdown: { drainDelay: 0 } };

  it('rejects an invalid file: every problem logged, the old config kept, the server up, the failure counted', async () => {
    write(base);
    app = createTestApp({ servers: [AdminTestServer], config: file });
    await app.start();
    const failed: ReloadResult[] = [];
    app.events.on('configReloadFailed', (r) => failed.push(r));
    write({ http: { ...base.http, maxConnections: 0, headersTimeout: -5, bogus: true }, admin: base.admin, nosuch: {} });

    const result = await app.reload();
    expect(result.ok).to.equal(false);
    expect(result.error?.code).to.equal('UNIPOOL_CONFIG_INVALID');
    const paths = result.problems.map((p) => p.path);
    expect(paths).to.include.members(['http.maxConnections', 'http.headersTimeout', 'http.bogus', 'nosuch']);
    expect(failed).to.have.length(1);
    const logged = app.logs.find('config reload rejected: running config unchanged');
    expect(logged).to.have.length(1);
    expect(logged[0].level).to.equal('error');
    expect(logged[0].fields.problems).to.have.length(result.problems.length);
    expect((logged[0].fields.problems as string[]).join('\n')).to.match(/http\.maxConnections: must not be less than 1 \(got 0\)/);

    expect(app.pools[0].config.maxConnections).to.equal(3);
    expect(app.state).to.equal('running');
    expect((await get(httpPort(app), '/')).status).to.equal(200);

    write('{ "http": ');
    const broken = await app.reload();
    expect(broken.ok).to.equal(false);
    expect(broken.error?.code).to.equal('UNIPOOL_CONFIG_LOAD');
    expect(broken.problems[0].rule).to.equal('load');

    const { samples } = parseMetrics((await get(adminPort(app), '/metrics')).body);
    expect(valueOf(samples, 'unipool_config_reloads_total', { result: 'failure' })).to.equal(2);
    expect(valueOf(samples, 'unipool_config_last_reload_successful')).to.equal(0);
  });

  it('lowers maxConnections for the next connection (503) without closing existing keep-alive connections', async () => {
    write(base);
    app = createTestApp({ servers: [AdminTestServer], config: file });
    await app.start();
    const port = httpPort(app);
    const a = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const b = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(a, b);
    expect((await get(port, '/', { agent: a })).status).to.equal(200);
    expect((await get(port, '/', { agent: b })).status).to.equal(200);
    expect(app.pools[0].size).to.equal(2);

    const events: ReloadResult[] = [];
    app.events.on('configReloaded', (r) => events.push(r));
    const poolEvents: unknown[] = [];
    app.pools[0].events.on(ConnectionPoolEvent.ConfigUpdated, (r) => poolEvents.push(r));
    write({ ...base, http: { ...base.http, maxConnections: 2, retryAfter: 7, port: 1 }, shutdown: { drainDelay: 250 } });

    const result = await app.reload();
    expect(result.ok).to.equal(true);
    expect(result.applied).to.have.members(['http.maxConnections', 'http.retryAfter', 'shutdown.drainDelay']);
    expect(result.restartRequired).to.deep.equal(['http.port']);
    expect(events).to.have.length(1);
    expect(poolEvents).to.have.length(1);
    expect(app.pools[0].config.maxConnections).to.equal(2);
    expect((app.config?.get('shutdown') as { drainDelay: number }).drainDelay).to.equal(250);
    expect(app.server(AdminTestServer).config.port).to.equal(0);
    expect(app.logs.find('config reloaded')[0].fields).to.deep.include({ restartRequired: ['http.port'] });

    const refused = await get(port, '/');
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('7');

    for (const agent of [a, b]) {
      const again = await get(port, '/', { agent });
      expect(again.status).to.equal(200);
      expect(again.reusedSocket).to.equal(true);
    }
    expect(app.pools[0].size).to.equal(2);
    const { samples } = parseMetrics((await get(adminPort(app), '/metrics')).body);
    expect(valueOf(samples, 'unipool_pool_max_connections', { protocol: 'http' })).to.equal(2);
    expect(valueOf(samples, 'unipool_config_reloads_total', { result: 'success' })).to.equal(1);
  });

  it('takes an object, applies the admin token live, and reports a new section as needing a restart', async () => {
    app = createTestApp({ servers: [AdminTestServer], config: { admin: {} } });
    await app.start();
    const port = adminPort(app);
    expect((await get(port, '/status')).status).to.equal(200);
    const token = 'fresh-token-0123456789';
    const result = await app.reload({ http: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0, token }, vaultless: undefined });
    expect(result.ok, JSON.stringify(result.problems)).to.equal(true);
    expect(result.applied).to.deep.equal(['admin.token']);
    expect((await get(port, '/status')).status).to.equal(401);
    expect((await get(port, '/status', { headers: { authorization: `Bearer ${token}` } })).status).to.equal(200);
    expect(JSON.stringify(app.logs.records)).not.to.include(token);

    const dropped = await app.reload({ http: { host: '127.0.0.1', port: 0 } });
    expect(dropped.ok).to.equal(true);
    expect(dropped.restartRequired).to.deep.equal(['admin']);
    expect(app.adminAddress()).not.to.equal(undefined);
  });

  it('applies all pools or none: a pool refusing its change rolls back the pools already changed', async () => {
    app = createTestApp({ servers: [AdminTestServer, PickyServer], sections: { extra: HttpPoolConfig }, config: { http: { maxConnections: 5 }, extra: { maxConnections: 6 } } });
    await app.start();
    const [httpPool, picky] = app.pools;
    const result = await app.reload({ http: { host: '127.0.0.1', port: 0, maxConnections: 10 }, extra: { host: '127.0.0.1', port: 0, maxConnections: 13 } });
    expect(result.ok).to.equal(false);
    expect(result.problems[0]).to.include({ path: 'extra', rule: 'apply' });
    expect(result.problems[0].message).to.include('unlucky');
    expect(httpPool.config.maxConnections).to.equal(5);
    expect(picky.config.maxConnections).to.equal(6);
    expect(app.stats.reloads).to.deep.equal({ success: 0, failure: 1 });

    const ok = await app.reload({ http: { host: '127.0.0.1', port: 0, maxConnections: 10 }, extra: { host: '127.0.0.1', port: 0, maxConnections: 12 } });
    expect(ok.applied).to.have.members(['http.maxConnections', 'extra.maxConnections']);
    expect(httpPool.config.maxConnections).to.equal(10);
    expect(picky.config.maxConnections).to.equal(12);
  });

  it('refuses to reload an application that is not running', async () => {
    app = createTestApp({ servers: [AdminTestServer] });
    const err = await app.reload().then(
      () => undefined,
      (e: { code?: string }) => e,
    );
    expect(err?.code).to.equal('UNIPOOL_LIFECYCLE_STATE');
  });
});
