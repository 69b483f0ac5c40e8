import 'reflect-metadata';
import { performance } from 'node:perf_hooks';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { createTestApp } from '../../src/testing';
import { ConnectionPoolEvent } from '../../src/core/pool-events';
import { PressureLevel } from '../../src/overload/pressure-level';
import { AdminTestServer, adminPort } from './admin-support';
import { run, samplesOf, scrapeWithCurl } from '../helpers/metrics-clients';

describe('overload protection in /metrics, /status, health and readiness (issue 14)', () => {
  let app: ReturnType<typeof createTestApp> | undefined;
  afterEach(async () => {
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  async function start(overload: Record<string, unknown>) {
    app = createTestApp({ servers: [AdminTestServer], config: { admin: {}, http: { overload } } });
    await app.start();
    const pool = app.pools[0];
    return { pool, admin: adminPort(app) };
  }

  it('issue 14: unipool_concurrency_limit, unipool_requests_queued, unipool_queue_wait_seconds, unipool_requests_shed_total{reason}, unipool_event_loop_delay_seconds and unipool_overload_state, scraped with curl and clean under promtool', async () => {
    const { pool, admin } = await start({ limiter: 'static', maxConcurrency: 1, queue: { size: 1, timeout: 5000 } });
    const now = performance.now();
    expect(pool.admitWork(null, 'normal', now)).to.equal('admit');
    const waiter = { waitPrev: null, waitNext: null, waitingSince: -1, onAdmitted: () => undefined, onShed: () => undefined };
    expect(pool.admitWork(waiter, 'normal', now)).to.equal('queued');
    expect(pool.admitWork(null, 'normal', now)).to.equal('limit');
    const samples = await scrapeWithCurl(admin);
    const labels = { protocol: 'http', pool: 'http' };
    expect(samplesOf(samples, 'unipool_concurrency_limit', labels)[0].value).to.equal(1);
    expect(samplesOf(samples, 'unipool_requests_queued', labels)[0].value).to.equal(1);
    expect(samplesOf(samples, 'unipool_requests_shed_total', { ...labels, reason: 'limit' })[0].value).to.equal(1);
    expect(samplesOf(samples, 'unipool_requests_shed_total', labels).map((s) => s.labels.reason).sort()).to.deep.equal(['limit', 'pressure', 'queue_full', 'queue_timeout']);
    expect(samplesOf(samples, 'unipool_overload_state', { ...labels, state: 'none' })[0].value).to.equal(1);
    expect(samplesOf(samples, 'unipool_overload_state', labels)).to.have.length(4);
    expect(samplesOf(samples, 'unipool_event_loop_delay_seconds', labels)).to.have.length(1);
    expect(samplesOf(samples, 'unipool_queue_wait_seconds_count', labels)[0].value).to.equal(0);
    expect(samplesOf(samples, 'unipool_connections_rejected_total', { ...labels, reason: 'overloaded' })[0].value).to.equal(0);

    const { stdout } = await run('/usr/bin/curl', ['-sf', `http://127.0.0.1:${admin}/metrics`]);
    const dir = mkdtempSync(join(tmpdir(), 'unipool-promtool-'));
    try {
      const file = join(dir, 'metrics.txt');
      writeFileSync(file, stdout);
      // promtool (Debian's prometheus package) prints lint problems and exits non-zero on any.
      const lint = await run('/bin/sh', ['-c', `/usr/bin/promtool check metrics < ${file}`]);
      expect(lint.stdout + lint.stderr).to.equal('');
      expect(lint.code).to.equal(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('issue 14: /status shows the overload block of a pool; a pool without one shows none', async () => {
    const { pool, admin } = await start({ limiter: 'gradient2', initialLimit: 8 });
    pool.admitWork(null, 'normal', performance.now());
    const { stdout } = await run('/usr/bin/curl', ['-sf', `http://127.0.0.1:${admin}/status`]);
    const status = JSON.parse(stdout) as { pools: Array<{ pool: string; metrics: { overload?: Record<string, unknown> } }> };
    const overload = status.pools.find((p) => p.pool === 'http')!.metrics.overload!;
    expect(overload).to.deep.include({ limiter: 'gradient2', limit: 8, inFlight: 1, queued: 0, state: 'none' });
    expect(overload.shed).to.deep.equal({ limit: 0, queue_full: 0, queue_timeout: 0, pressure: 0 });
    await app!.stop();
    app = createTestApp({ servers: [AdminTestServer], config: { admin: {} } });
    await app.start();
    const plain = JSON.parse((await run('/usr/bin/curl', ['-sf', `http://127.0.0.1:${adminPort(app)}/status`])).stdout) as typeof status;
    expect(plain.pools[0].metrics.overload).to.equal(undefined);
  });

  it('issue 14: while shedding, the pool is OVERLOADED and the metrics say so, but /readyz stays 200: readiness does not follow overload', async () => {
    const { pool, admin } = await start({ limiter: 'static', maxConcurrency: 4 });
    const changes: string[] = [];
    pool.events.on(ConnectionPoolEvent.HealthChanged, ({ current }) => changes.push(current.status));
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);
    expect(pool.admitWork(null, 'normal', performance.now())).to.equal('pressure');
    expect(pool.getHealth().status).to.equal('OVERLOADED');
    const ready = await run('/usr/bin/curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${admin}/readyz`]);
    expect(ready.stdout).to.equal('200');
    const samples = await scrapeWithCurl(admin);
    expect(samplesOf(samples, 'unipool_pool_health', { pool: 'http', status: 'OVERLOADED' })[0].value).to.equal(1);
    expect(samplesOf(samples, 'unipool_overload_state', { pool: 'http', state: 'shedWork' })[0].value).to.equal(1);
    expect(samplesOf(samples, 'unipool_requests_shed_total', { pool: 'http', reason: 'pressure' })[0].value).to.equal(1);
    expect(samplesOf(samples, 'unipool_ready')[0].value).to.equal(1);
    expect(changes).to.include('OVERLOADED');
  });
});
