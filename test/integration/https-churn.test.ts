import { expect } from 'chai';
import * as https from 'node:https';
import { createTestApp } from '../../src/testing';
import type { Application, HttpsConnectionPool } from '../../src';
import { get, makeTlsFixtures, TestHttpsServer, untilEmpty, type TlsFixtures } from '../helpers/https-fixtures';

const CYCLES = 1000;
const BATCH = 20;

describe('HTTPS connection churn', () => {
  let certs: TlsFixtures;
  let app: Application | undefined;
  let agent: https.Agent | undefined;

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    agent?.destroy();
    agent = undefined;
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(): Promise<{ port: number; pool: HttpsConnectionPool }> {
    app = createTestApp({ servers: [TestHttpsServer], config: { https: { maxConnections: BATCH, tls: { cert: certs.cert, key: certs.key } } } });
    await app.start();
    const server = app.server(TestHttpsServer);
    return { port: server.address()?.port as number, pool: server.pool };
  }

  it(`returns active to 0 after ${CYCLES} connect/request/disconnect cycles (batches of ${BATCH})`, async function () {
    this.timeout(60_000);
    const { port, pool } = await start();
    for (let done = 0; done < CYCLES; done += BATCH) {
      const replies = await Promise.all(Array.from({ length: BATCH }, () => get(port, '/', { ca: certs.certPem })));
      expect(replies.every((r) => r.status === 200)).to.equal(true);
      await untilEmpty(pool);
    }
    await untilEmpty(pool);
    const m = pool.getMetrics();
    expect(m.active).to.equal(0);
    expect(m.idle).to.equal(0);
    expect(m.totalConnections).to.equal(CYCLES);
    expect(m.rejected.total).to.equal(0);
    expect(m.requests.total).to.equal(CYCLES);
    expect(m.tls.handshakes.completed).to.equal(CYCLES);
    expect(m.tls.handshakes.durationMs.count).to.equal(CYCLES);
    expect(m.tls.handshakes.failed).to.equal(0);
  });

  it('counts resumed TLS sessions', async () => {
    const { port, pool } = await start();
    agent = new https.Agent({ keepAlive: false, maxCachedSessions: 10 });
    for (let i = 0; i < 3; i++) {
      const reply = await get(port, '/', { ca: certs.certPem, agent });
      expect(reply.status).to.equal(200);
      await untilEmpty(pool);
    }
    const m = pool.getMetrics().tls;
    expect(m.handshakes.completed).to.equal(3);
    expect(m.sessionsReused).to.equal(2);
  });
});
