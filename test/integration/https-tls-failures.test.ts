import { expect } from 'chai';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { createTestApp } from '../../src/testing';
import { ConnectionPoolEvent, type Application, type HttpsConnectionPool } from '../../src';
import { get, makeTlsFixtures, nextEvent, TestHttpsServer, type TlsFixtures } from '../helpers/https-fixtures';
import { readUntilClose } from '../helpers/http-fixtures';

describe('HTTPS handshake failures (counted, never fatal)', () => {
  let certs: TlsFixtures;
  let app: Application | undefined;
  const sockets: net.Socket[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(https: Record<string, unknown> = {}): Promise<{ port: number; pool: HttpsConnectionPool }> {
    const { tls: tlsExtra, ...rest } = https as { tls?: Record<string, unknown> };
    app = createTestApp({ servers: [TestHttpsServer], config: { https: { tls: { cert: certs.cert, key: certs.key, ...tlsExtra }, ...rest } } });
    await app.start();
    const server = app.server(TestHttpsServer);
    return { port: server.address()?.port as number, pool: server.pool };
  }

  function rawConnect(port: number): Promise<net.Socket> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
      sockets.push(socket);
      socket.once('error', reject);
    });
  }

  it('counts TLS garbage and plain HTTP on the port by reason and keeps serving', async () => {
    const { port, pool } = await start();
    const failed = nextEvent(pool, ConnectionPoolEvent.ConnectionError, (e) => e.type === 'tls_handshake');
    const garbage = await rawConnect(port);
    const closedGarbage = readUntilClose(garbage);
    garbage.write(Buffer.from('16030100ff0100fffb0303deadbeef'.repeat(20), 'hex'));
    await failed;
    await closedGarbage;

    const plain = await rawConnect(port);
    const closedPlain = readUntilClose(plain);
    plain.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
    await closedPlain;

    const reply = await get(port, '/', { ca: certs.certPem });
    expect(reply.status).to.equal(200);
    const m = pool.getMetrics();
    expect(m.tls.handshakes.failed).to.equal(2);
    const reasons = Object.keys(m.tls.handshakes.failuresByReason);
    expect(reasons.every((r) => r.startsWith('ERR_SSL_')), reasons.join()).to.equal(true);
    expect(m.errors.byType.tls_handshake).to.equal(2);
    // Counted once, as a handshake failure: not again as an HTTP client error.
    expect(m.errors.byType.client_error ?? 0).to.equal(0);
    expect(m.totalConnections).to.equal(1);
    expect(m.tls.handshakes.completed).to.equal(1);
  });

  it('bounds a handshake by connectionTimeout and counts it as a handshake timeout', async () => {
    const { port, pool } = await start({ connectionTimeout: 200 });
    const silent = await rawConnect(port);
    const started = Date.now();
    await readUntilClose(silent);
    const elapsed = Date.now() - started;
    expect(elapsed).to.be.at.least(150);
    expect(elapsed).to.be.below(5000);
    const m = pool.getMetrics();
    expect(m.tls.handshakes.failuresByReason).to.deep.equal({ ERR_TLS_HANDSHAKE_TIMEOUT: 1 });
    expect(m.timeouts.handshake).to.equal(1);
    expect(m.active).to.equal(0);
  });

  it('applies a live connectionTimeout change to later handshakes', async () => {
    const { port, pool } = await start({ connectionTimeout: 60_000 });
    pool.updateConfig({ connectionTimeout: 150 });
    const silent = await rawConnect(port);
    await readUntilClose(silent);
    expect(pool.getMetrics().timeouts.handshake).to.equal(1);
  });

  it('refuses a TLS 1.2 client when minVersion is TLSv1.3, counted by reason', async () => {
    const { port, pool } = await start({ tls: { minVersion: 'TLSv1.3' } });
    const failed = nextEvent(pool, ConnectionPoolEvent.ConnectionError, (e) => e.type === 'tls_handshake');
    const clientError = await new Promise<Error>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.certPem, maxVersion: 'TLSv1.2' });
      socket.once('error', resolve);
      socket.once('secureConnect', () => resolve(new Error('unexpected handshake success')));
    });
    expect(clientError.message).to.not.equal('unexpected handshake success');
    await failed;
    const m = pool.getMetrics();
    expect(m.tls.handshakes.failed).to.equal(1);
    expect(Object.keys(m.tls.handshakes.failuresByReason)[0]).to.match(/^ERR_SSL_/);
    const ok = await get(port, '/', { ca: certs.certPem });
    expect(ok.status).to.equal(200);
    expect(pool.getMetrics().tls.protocolVersions).to.deep.equal({ 'TLSv1.3': 1 });
  });

  it('destroys sockets still in their handshake when the app stops', async () => {
    const { port } = await start({ connectionTimeout: 60_000 });
    const silent = await rawConnect(port);
    const closed = readUntilClose(silent);
    const current = app as Application;
    app = undefined;
    const result = await current.stop();
    await closed;
    expect(result.ok).to.equal(true);
  });
});
