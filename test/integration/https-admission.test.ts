import { expect } from 'chai';
import * as https from 'node:https';
import { createTestApp } from '../../src/testing';
import type { Application } from '../../src';
import { get, makeTlsFixtures, TestHttpsServer, untilEmpty, type TlsFixtures } from '../helpers/https-fixtures';

describe('HTTPS admission (real node:https clients)', () => {
  let certs: TlsFixtures;
  let app: Application | undefined;
  let agents: https.Agent[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    for (const agent of agents) agent.destroy();
    agents = [];
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(https: Record<string, unknown>): Promise<{ port: number; pool: TestHttpsServer['pool'] }> {
    app = createTestApp({ servers: [TestHttpsServer], config: { https: { tls: { cert: certs.cert, key: certs.key }, ...https } } });
    await app.start();
    const server = app.server(TestHttpsServer);
    return { port: server.address()?.port as number, pool: server.pool };
  }

  it('serves a request over TLS and counts the connection from secureConnection', async () => {
    const { port, pool } = await start({});
    const reply = await get(port, '/', { ca: certs.certPem });
    expect(reply.status).to.equal(200);
    expect(reply.body).to.equal('hello');
    expect(reply.peer.fingerprint256).to.equal(pool.servedCertificate?.fingerprint256);
    await untilEmpty(pool);
    const m = pool.getMetrics();
    expect(m.protocol).to.equal('https');
    expect(m.totalConnections).to.equal(1);
    expect(m.tls.handshakes.completed).to.equal(1);
    expect(m.tls.handshakes.durationMs.count).to.equal(1);
    expect(m.tls.handshakes.durationMs.maxMs).to.be.greaterThan(0);
    expect(m.tls.protocolVersions).to.deep.equal({ 'TLSv1.3': 1 });
  });

  it('answers 503 with Retry-After over TLS to a connection over the limit', async () => {
    const { port, pool } = await start({ maxConnections: 1, retryAfter: 7 });
    const keepAlive = new https.Agent({ keepAlive: true, maxSockets: 1 });
    agents.push(keepAlive);
    const first = await get(port, '/', { ca: certs.certPem, agent: keepAlive });
    expect(first.status).to.equal(200);
    expect(pool.size).to.equal(1);
    const refused = await get(port, '/', { ca: certs.certPem });
    expect(refused.status).to.equal(503);
    expect(refused.headers['retry-after']).to.equal('7');
    expect(refused.headers.connection).to.equal('close');
    expect(refused.body).to.match(/connection limit/);
    expect(pool.getMetrics().rejected.byReason).to.deep.equal({ max_connections: 1 });
    const again = await get(port, '/', { ca: certs.certPem, agent: keepAlive });
    expect(again.status).to.equal(200);
    expect(again.reusedSocket).to.equal(true);
  });

  it('admits exactly maxConnections under 12 concurrent TLS connects', async () => {
    const { port, pool } = await start({ maxConnections: 5 });
    const agent = new https.Agent({ keepAlive: true, maxSockets: 12 });
    agents.push(agent);
    const replies = await Promise.all(Array.from({ length: 12 }, () => get(port, '/', { ca: certs.certPem, agent })));
    const statuses = replies.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 200)).to.have.length(5);
    expect(statuses.filter((s) => s === 503)).to.have.length(7);
    expect(replies.filter((r) => r.status === 503).every((r) => r.headers['retry-after'] === '1')).to.equal(true);
    expect(pool.getMetrics().rejected.byReason.max_connections).to.equal(7);
    expect(pool.getMetrics().tls.handshakes.completed).to.equal(12);
    expect(pool.size).to.equal(5);
  });
});
