import 'reflect-metadata';
import * as http from 'node:http';
import { expect } from 'chai';
import { HttpConnectionPool, histogramSampleSeconds, LatencyHistogram, type ProtocolMetricFamily } from '../../src';
import { createTestApp } from '../../src/testing';
import { AdminTestServer, adminPort, get, httpPort, parseMetrics, valueOf } from './admin-support';

/** A pool that reports protocol-specific families the way HTTPS/gRPC/WS pools will. */
class PoolWithExtras extends HttpConnectionPool {
  readonly handshakes = new LatencyHistogram([1, 10, 100]);
  override protocolMetrics(): ProtocolMetricFamily[] {
    return [
      { name: 'unipool_test_handshakes_total', help: 'Handshakes by result.', type: 'counter', samples: [{ labels: { result: 'ok' }, value: 3 }] },
      { name: 'unipool_test_certificate_expiry_seconds', help: 'Seconds left.', type: 'gauge', aggregate: 'min', samples: [{ value: 86_400 }] },
      { name: 'unipool_test_handshake_duration_seconds', help: 'Handshake time.', type: 'histogram', samples: [histogramSampleSeconds(this.handshakes)] },
      { name: 'unipool_connections_active', help: 'clash', type: 'gauge', samples: [{ value: 99 }] },
      { name: 'not-a-metric name', help: 'bad', type: 'gauge', samples: [{ value: 1 }] },
    ];
  }
}

describe('admin /metrics', () => {
  let app: ReturnType<typeof createTestApp> | undefined;
  const agents: http.Agent[] = [];

  afterEach(async () => {
    for (const agent of agents.splice(0)) agent.destroy();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  function keepAlive(): http.Agent {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(agent);
    return agent;
  }

  it('reports every family with live keep-alive connections, a refusal and a handler error, and passes lint-relevant naming', async () => {
    app = createTestApp({ servers: [AdminTestServer], config: { http: { maxConnections: 2 }, admin: {} } });
    await app.start();
    const port = httpPort(app);
    const a = keepAlive();
    const b = keepAlive();
    expect((await get(port, '/', { agent: a })).status).to.equal(200);
    expect((await get(port, '/', { agent: b })).status).to.equal(200);
    const refused = await get(port, '/');
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('1');
    const failed = await get(port, '/fail', { agent: b });
    expect(failed.status).to.equal(500);
    expect(failed.reusedSocket).to.equal(true);

    const reply = await get(adminPort(app), '/metrics');
    expect(reply.status).to.equal(200);
    expect(reply.headers['content-type']).to.match(/^text\/plain; version=0\.0\.4/);
    const { samples, types } = parseMetrics(reply.body);
    const http_ = { protocol: 'http' };

    expect(valueOf(samples, 'unipool_connections_active', http_)).to.be.at.least(1);
    expect(valueOf(samples, 'unipool_connections_total', http_)).to.be.at.least(2);
    expect(valueOf(samples, 'unipool_connections_rejected_total', { protocol: 'http', reason: 'max_connections' })).to.equal(1);
    expect(valueOf(samples, 'unipool_pool_max_connections', http_)).to.equal(2);
    expect(valueOf(samples, 'unipool_errors_total', { protocol: 'http', type: 'handler' })).to.equal(1);
    expect(valueOf(samples, 'unipool_request_duration_seconds_count', http_)).to.equal(3);
    expect(valueOf(samples, 'unipool_request_duration_seconds_bucket', { protocol: 'http', le: '+Inf' })).to.equal(3);
    expect(valueOf(samples, 'unipool_request_duration_seconds_bucket', { protocol: 'http', le: '0.00005' })).to.be.a('number');
    expect(valueOf(samples, 'unipool_connection_duration_seconds_count', http_)).to.be.a('number');
    expect(valueOf(samples, 'unipool_network_io_bytes_total', { protocol: 'http', direction: 'receive' })).to.be.greaterThan(0);
    expect(valueOf(samples, 'unipool_ready')).to.equal(1);
    expect(valueOf(samples, 'unipool_config_reloads_total', { result: 'failure' })).to.equal(0);

    const health = samples.filter((s) => s.name === 'unipool_pool_health');
    expect(health.map((s) => s.labels.status).sort()).to.deep.equal(['DEGRADED', 'HEALTHY', 'OVERLOADED', 'UNAVAILABLE']);
    expect(health.reduce((n, s) => n + s.value, 0)).to.equal(1);

    for (const [name, type] of types) {
      expect(name, name).to.match(/^unipool_[a-z0-9_]+$/);
      if (type === 'counter') expect(name, name).to.match(/_total$/);
      else expect(name, name).not.to.match(/_total$/);
    }
    for (const name of ['unipool_connection_timeouts_total', 'unipool_shutdown_phase_duration_seconds', 'unipool_requests_in_flight']) {
      expect(types.has(name), name).to.equal(true);
    }
  });

  it('turns a pool\'s protocolMetrics() into families with the protocol label and skips clashing or invalid names', async () => {
    app = createTestApp({ servers: [AdminTestServer], config: { admin: {} }, pools: [[HttpConnectionPool, PoolWithExtras]] });
    await app.start();
    (app.pools[0] as PoolWithExtras).handshakes.observe(5);
    const { samples, types } = parseMetrics((await get(adminPort(app), '/metrics')).body);
    expect(types.get('unipool_test_handshakes_total')).to.equal('counter');
    expect(valueOf(samples, 'unipool_test_handshakes_total', { protocol: 'http', result: 'ok' })).to.equal(3);
    expect(valueOf(samples, 'unipool_test_certificate_expiry_seconds', { protocol: 'http' })).to.equal(86_400);
    expect(valueOf(samples, 'unipool_test_handshake_duration_seconds_bucket', { protocol: 'http', le: '0.01' })).to.equal(1);
    expect(valueOf(samples, 'unipool_test_handshake_duration_seconds_bucket', { protocol: 'http', le: '0.001' })).to.equal(0);
    expect(valueOf(samples, 'unipool_test_handshake_duration_seconds_sum', { protocol: 'http' })).to.equal(0.005);
    expect(valueOf(samples, 'unipool_connections_active', { protocol: 'http' })).to.equal(0);
    expect(types.has('not-a-metric name')).to.equal(false);
    expect(app.logs.records.filter((r) => r.level === 'warn' && /protocol metric/.test(r.msg ?? ''))).to.have.length(2);
  });

  it('gives each application its own registry, so two apps run side by side', async () => {
    app = createTestApp({ servers: [AdminTestServer], config: { admin: {} } });
    const other = createTestApp({ servers: [AdminTestServer], config: { admin: {}, http: { maxConnections: 7 } } });
    await app.start();
    await other.start();
    try {
      const mine = parseMetrics((await get(adminPort(app), '/metrics')).body).samples;
      const theirs = parseMetrics((await get(adminPort(other), '/metrics')).body).samples;
      expect(valueOf(mine, 'unipool_pool_max_connections', { protocol: 'http' })).to.equal(1000);
      expect(valueOf(theirs, 'unipool_pool_max_connections', { protocol: 'http' })).to.equal(7);
    } finally {
      await other.stop();
    }
  });

  it('answers /healthz, 404 on unknown paths, 405 on other methods, and HEAD without a body', async () => {
    app = createTestApp({ servers: [AdminTestServer], config: { admin: {} } });
    await app.start();
    const port = adminPort(app);
    const live = await get(port, '/healthz');
    expect(live.status).to.equal(200);
    expect(JSON.parse(live.body)).to.deep.include({ status: 'ok', state: 'running' });
    expect((await get(port, '/nope')).status).to.equal(404);
    const post = await get(port, '/metrics', { method: 'POST' });
    expect(post.status).to.equal(405);
    expect(post.headers.allow).to.equal('GET, HEAD');
    const head = await get(port, '/metrics', { method: 'HEAD' });
    expect(head.status).to.equal(200);
    expect(head.body).to.equal('');
  });

  it('runs no admin server without an admin section, and none with enabled: false', async () => {
    app = createTestApp({ servers: [AdminTestServer] });
    await app.start();
    expect(app.adminAddress()).to.equal(undefined);
    await app.stop();
    app = createTestApp({ servers: [AdminTestServer], config: { admin: { enabled: false } } });
    await app.start();
    expect(app.adminAddress()).to.equal(undefined);
  });
});
