import { expect } from 'chai';
import type { Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { run, TestHttp2Server } from '../helpers/http2-fixtures';
import { OtlpReceiver } from '../helpers/otlp-receiver';

describe('HTTP/2 in OpenTelemetry: url.scheme follows the pool\'s transport', () => {
  let receiver: OtlpReceiver;
  let app: Application | undefined;
  let certs: TlsFixtures | undefined;

  beforeEach(async () => {
    receiver = await new OtlpReceiver().listen();
  });
  afterEach(async () => {
    if (app?.state === 'running') await app.stop();
    app = undefined;
    await receiver.close();
  });
  after(() => certs?.cleanup());

  async function serveOne(section: Record<string, unknown>, curlArgs: (port: number) => string[]): Promise<void> {
    app = createTestApp({ servers: [TestHttp2Server], config: { http2: section, metrics: { otlp: { endpoint: receiver.url, protocol: 'http/protobuf', exportInterval: 60_000 } } } });
    await app.start();
    const port = app.server(TestHttp2Server).address()?.port as number;
    const r = await run('curl', curlArgs(port));
    expect(r.stdout).to.equal('200 2');
    await app.stop(); // the shutdown's export holds the request
  }

  it('an h2c pool (curl --http2-prior-knowledge) exports url.scheme http, HTTP version 2', async () => {
    await serveOne({ h2c: true }, (p) => ['--http2-prior-knowledge', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `http://127.0.0.1:${p}/`]);
    const points = receiver.points('http.server.request.duration');
    expect(points.map((x) => [x.attributes['url.scheme'], x.attributes['network.protocol.version'], x.count])).to.deep.equal([['http', '2', 1]]);
    expect(receiver.points('http.server.active_requests').map((x) => x.attributes['url.scheme'])).to.deep.equal(['http']);
  });

  it('an HTTP/2 pool over TLS (curl --http2 -k) exports url.scheme https', async () => {
    certs ??= await makeTlsFixtures();
    const tls = { cert: certs.cert, key: certs.key };
    await serveOne({ tls }, (p) => ['--http2', '-k', '-sS', '-o', '/dev/null', '-w', '%{http_code} %{http_version}', `https://127.0.0.1:${p}/`]);
    expect(receiver.points('http.server.request.duration').map((x) => x.attributes['url.scheme'])).to.deep.equal(['https']);
  });
});
