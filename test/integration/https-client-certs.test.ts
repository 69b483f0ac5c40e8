import { expect } from 'chai';
import { createTestApp } from '../../src/testing';
import type { Application, HttpsConnectionPool, TlsConnectionInfo } from '../../src';
import { get, makeTlsFixtures, TestHttpsServer, untilEmpty, type TlsFixtures } from '../helpers/https-fixtures';

describe('HTTPS client certificates', () => {
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

  async function start(rejectUnauthorized: boolean): Promise<{ port: number; pool: HttpsConnectionPool }> {
    app = createTestApp({
      servers: [TestHttpsServer],
      config: { https: { tls: { cert: certs.cert, key: certs.key, ca: certs.clientCa, requestCert: true, rejectUnauthorized } } },
    });
    await app.start();
    const server = app.server(TestHttpsServer);
    return { port: server.address()?.port as number, pool: server.pool };
  }

  it('records per connection whether the client certificate verified, and counts each outcome', async () => {
    const { port, pool } = await start(false);
    const trusted = await get(port, '/tls', { ca: certs.certPem, cert: certs.clientCertPem, key: certs.clientKeyPem });
    const stray = await get(port, '/tls', { ca: certs.certPem, cert: certs.strayClientCertPem, key: certs.strayClientKeyPem });
    const none = await get(port, '/tls', { ca: certs.certPem });
    const infos = [trusted, stray, none].map((r) => JSON.parse(r.body) as TlsConnectionInfo);
    expect(infos[0]).to.include({ peerCertificate: 'verified', protocol: 'TLSv1.3' });
    expect(infos[0].authorizationError).to.equal(undefined);
    expect(infos[1].peerCertificate).to.equal('unverified');
    expect(infos[1].authorizationError).to.be.a('string').and.not.equal('no_certificate');
    expect(infos[2]).to.include({ peerCertificate: 'unverified', authorizationError: 'no_certificate' });
    await untilEmpty(pool);
    const c = pool.getMetrics().tls.clientCertificates;
    expect(c.verified).to.equal(1);
    expect(c.unverified).to.equal(2);
    expect(c.unverifiedByReason).to.deep.equal({ [infos[1].authorizationError as string]: 1, no_certificate: 1 });
    expect(c.rejected).to.equal(0);
  });

  it('with rejectUnauthorized, closes unverified clients before any request and counts the refusal by reason', async () => {
    const { port, pool } = await start(true);
    const ok = await get(port, '/', { ca: certs.certPem, cert: certs.clientCertPem, key: certs.clientKeyPem });
    expect(ok.status).to.equal(200);
    const refusedNone = await get(port, '/', { ca: certs.certPem }).then(
      () => undefined,
      (err: NodeJS.ErrnoException) => err,
    );
    expect(refusedNone, 'a client without certificate must not be served').to.be.instanceOf(Error);
    const refusedStray = await get(port, '/', { ca: certs.certPem, cert: certs.strayClientCertPem, key: certs.strayClientKeyPem }).then(
      () => undefined,
      (err: NodeJS.ErrnoException) => err,
    );
    expect(refusedStray).to.be.instanceOf(Error);
    await untilEmpty(pool);
    const m = pool.getMetrics();
    expect(m.tls.clientCertificates.rejected).to.equal(2);
    expect(m.tls.clientCertificates.rejectedByReason.no_certificate).to.equal(1);
    expect(Object.keys(m.tls.clientCertificates.rejectedByReason)).to.have.length(2);
    expect(m.rejected.byReason).to.deep.equal({ client_certificate: 2 });
    expect(m.totalConnections).to.equal(1);
    expect(m.requests.total).to.equal(1);
  });
});
