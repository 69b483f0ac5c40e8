import 'reflect-metadata';
import * as net from 'node:net';
import { performance } from 'node:perf_hooks';
import { expect } from 'chai';
import type { Application } from '../../src';
import { createTestApp } from '../../src/testing';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { HttpApiServer } from '../../samples/multi-protocol/http-api-server';
import { HttpsApiServer } from '../../samples/multi-protocol/https-api-server';
import { WsEchoServer } from '../../samples/multi-protocol/ws-echo-server';
import { echoRequest, killPythonClients, pythonCalls } from '../helpers/grpc-python';
import { TestHttpServer, waitFor } from '../helpers/http-fixtures';
import { makeTlsFixtures, type TlsFixtures } from '../helpers/https-fixtures';
import { curlStatus, run } from '../helpers/metrics-clients';
import { OtlpReceiver, type Point } from '../helpers/otlp-receiver';
import { pythonWsClient, stopPythonClients } from '../helpers/ws-python';

const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

function only(points: Point[], what: string): Point {
  expect(points, what).to.have.length(1);
  return points[0];
}

describe('OpenTelemetry: the official OTLP exporter, decoded by a test receiver', function () {
  this.timeout(20_000);
  let receiver: OtlpReceiver;
  let app: Application | undefined;
  let certs: TlsFixtures | undefined;

  beforeEach(async () => {
    receiver = await new OtlpReceiver().listen();
  });
  afterEach(async () => {
    killPythonClients();
    await stopPythonClients();
    if (app?.state === 'running') await app.stop();
    app = undefined;
    await receiver.close();
  });
  after(() => certs?.cleanup());

  function otlp(protocol: 'http/protobuf' | 'http/json', exportInterval = 60_000): Record<string, unknown> {
    return { endpoint: receiver.url, protocol, exportInterval };
  }

  function port(server: { address(): { port: number } | undefined }): number {
    return server.address()!.port;
  }

  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    it(`http.server.request.duration over ${protocol}: 3 curl requests export count 3, status 200 (an int attribute), method GET, version 1.1, unit s and the recommended buckets; counters are int sums`, async () => {
      app = createTestApp({ servers: [HttpApiServer], config: { metrics: { otlp: otlp(protocol) } } });
      await app.start();
      const url = `http://127.0.0.1:${port(app.server(HttpApiServer))}/`;
      for (let i = 0; i < 3; i++) expect(await curlStatus(url)).to.equal(200);
      await app.stop(); // the last export is the shutdown's

      expect(receiver.failures).to.deep.equal([]);
      expect(receiver.paths).to.deep.equal(['POST /v1/metrics']);
      expect(receiver.exports[0].contentType).to.match(protocol === 'http/json' ? /^application\/json/ : /^application\/x-protobuf/);
      expect(receiver.exports[0].scope).to.equal('unipool');
      expect(receiver.exports[0].resource['service.name']).to.equal('unknown_service:node');
      expect(receiver.exports[0].resource['telemetry.sdk.language']).to.equal('nodejs');
      const duration = receiver.latest('http.server.request.duration')!;
      expect(duration).to.include({ unit: 's', kind: 'histogram' });
      const p = only(duration.points, 'one series: GET 200 on pool http');
      expect(p.attributes).to.deep.equal({
        'unipool.pool': 'http',
        'unipool.protocol': 'http',
        'network.protocol.name': 'http',
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'network.protocol.version': '1.1',
        'url.scheme': 'http',
      });
      // The wire types: the status code an int attribute (intValue), not a double or a string.
      expect(p.types['http.response.status_code'], 'http.response.status_code wire type').to.equal('int');
      expect(p.types['http.request.method']).to.equal('string');
      expect(p.count).to.equal(3);
      expect(p.explicitBounds).to.deep.equal(REQUEST_BUCKETS);
      expect(p.sum).to.be.greaterThan(0).and.lessThan(3);

      // Each curl process opened and closed one connection.
      const closed = only(receiver.points('unipool.connection.duration'), 'closed normally: no error.type');
      expect(closed.attributes).to.deep.equal({ 'unipool.pool': 'http', 'unipool.protocol': 'http', 'network.protocol.name': 'http' });
      expect(closed.count).to.equal(3);
      expect(receiver.latest('unipool.connection.duration')!.unit).to.equal('s');
      expect(only(receiver.points('unipool.active_connections'), 'active').value).to.equal(0);
      expect(receiver.latest('unipool.active_connections')).to.include({ unit: '{connection}', kind: 'sum', monotonic: false });
      expect(only(receiver.points('http.server.active_requests', { 'url.scheme': 'http' }), 'active requests').value).to.equal(0);
      const bytesIn = only(receiver.points('unipool.network.io', { 'network.io.direction': 'receive' }), 'bytes in');
      expect(bytesIn.value).to.be.greaterThan(0);
      // Counters and up-down counters are integer sums (asInt), as Kestrel's are.
      expect(bytesIn.valueType, 'unipool.network.io point type').to.equal('int');
      expect(only(receiver.points('unipool.active_connections'), 'active').valueType, 'unipool.active_connections point type').to.equal('int');
      expect(receiver.points('unipool.rejected_connections').map((x) => x.valueType)).to.include('int').and.not.include('double');
      expect(only(receiver.points('unipool.connection.max'), 'limit').value).to.equal(app.server(HttpApiServer).pool.config.maxConnections);
    });
  }

  it('http.request.method: a method outside the known set is _OTHER; a 5xx carries error.type with its status code', async () => {
    app = createTestApp({ servers: [TestHttpServer], config: { metrics: { otlp: otlp('http/json') } } });
    await app.start();
    const base = `http://127.0.0.1:${port(app.server(TestHttpServer))}`;
    expect((await run('/usr/bin/curl', ['-s', '-o', '/dev/null', '-X', 'PROPFIND', `${base}/`])).code).to.equal(0);
    expect(await curlStatus(`${base}/fail`)).to.equal(502);
    expect(await curlStatus(`${base}/throw`)).to.equal(500);
    await app.stop();
    const other = receiver.points('http.server.request.duration', { 'http.request.method': '_OTHER' });
    expect(only(other, '_OTHER').count).to.equal(1);
    expect(only(receiver.points('http.server.request.duration', { 'http.response.status_code': 502 }), '502').attributes['error.type']).to.equal('502');
    expect(only(receiver.points('http.server.request.duration', { 'http.response.status_code': 500 }), '500').attributes['error.type']).to.equal('500');
    expect(only(other, '_OTHER').attributes).to.not.have.property('error.type');
  });

  it('a request cut before any response was sent carries no http.response.status_code, and error.type aborted (a raw socket destroyed while /hang is pending)', async () => {
    app = createTestApp({ servers: [TestHttpServer], config: { metrics: { otlp: otlp('http/protobuf') } } });
    await app.start();
    const server = app.server(TestHttpServer);
    const socket = net.connect(port(server), '127.0.0.1', () => socket.write('GET /hang HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => undefined);
    await waitFor(() => server.pool.getMetrics().requests.inFlight === 1, 5000, 'the request in its handler');
    socket.destroy();
    await waitFor(() => server.pool.size === 0, 5000, 'the connection closed');
    await app.stop();
    const cut = only(receiver.points('http.server.request.duration', { 'error.type': 'aborted' }), 'the cut request');
    expect(cut.attributes).to.not.have.property('http.response.status_code');
    expect(cut.attributes).to.deep.equal({ 'unipool.pool': 'http', 'unipool.protocol': 'http', 'network.protocol.name': 'http', 'http.request.method': 'GET', 'network.protocol.version': '1.1', 'url.scheme': 'http', 'error.type': 'aborted' });
    expect(cut.count).to.equal(1);
  });

  it('unipool.rejected_connections: a connection refused at maxConnections counts 1 with reason max_connections', async () => {
    app = createTestApp({ servers: [HttpApiServer], config: { http: { maxConnections: 1 }, metrics: { otlp: otlp('http/protobuf') } } });
    await app.start();
    const p = port(app.server(HttpApiServer));
    const holder = net.connect(p, '127.0.0.1');
    try {
      await waitFor(() => app!.server(HttpApiServer).pool.size === 1, 5000, 'the first connection admitted');
      expect(await curlStatus(`http://127.0.0.1:${p}/`)).to.equal(503);
    } finally {
      holder.destroy();
    }
    await app.stop();
    const refused = only(receiver.points('unipool.rejected_connections', { 'unipool.rejection.reason': 'max_connections' }), 'max_connections');
    expect(refused.value).to.equal(1);
    expect(receiver.latest('unipool.rejected_connections')).to.include({ unit: '{connection}', kind: 'sum', monotonic: true });
    expect(only(receiver.points('unipool.rejected_connections', { 'unipool.rejection.reason': 'draining' }), 'draining reported from 0').value).to.equal(0);
  });

  it('issue 14: overload protection exports unipool.concurrency.limit, unipool.requests.queued, unipool.requests.shed{unipool.shed.reason}, unipool.overload.state and nodejs.eventloop.delay.p99 (s) for a pool that has it', async () => {
    app = createTestApp({ servers: [HttpApiServer], config: { http: { overload: { limiter: 'static', maxConcurrency: 1 } }, metrics: { otlp: otlp('http/protobuf') } } });
    await app.start();
    const pool = app.server(HttpApiServer).pool;
    pool.admitWork(null, 'normal', performance.now());
    expect(pool.admitWork(null, 'normal', performance.now())).to.equal('limit');
    await app.stop();
    expect(only(receiver.points('unipool.concurrency.limit'), 'limit').value).to.equal(1);
    expect(only(receiver.points('unipool.requests.queued'), 'queued').value).to.equal(0);
    expect(only(receiver.points('unipool.requests.shed', { 'unipool.shed.reason': 'limit' }), 'shed limit').value).to.equal(1);
    expect(receiver.points('unipool.requests.shed')).to.have.length(4);
    expect(only(receiver.points('unipool.overload.state', { 'unipool.overload.state': 'none' }), 'state none').value).to.equal(1);
    expect(receiver.latest('nodejs.eventloop.delay.p99')).to.include({ unit: 's' });
  });

  it('unipool.connection.duration carries error.type when a connection ended in error: a client that sends nothing is cut at connectionTimeout (connection_timeout)', async () => {
    app = createTestApp({ servers: [HttpApiServer], config: { http: { connectionTimeout: 150 }, metrics: { otlp: otlp('http/protobuf') } } });
    await app.start();
    const p = port(app.server(HttpApiServer));
    await new Promise<void>((resolve) => net.connect(p, '127.0.0.1').on('error', () => undefined).once('close', () => resolve()).resume());
    expect(await curlStatus(`http://127.0.0.1:${p}/`)).to.equal(200);
    await app.stop();
    const cut = only(receiver.points('unipool.connection.duration', { 'error.type': 'connection_timeout' }), 'cut');
    expect(cut.count).to.equal(1);
    expect(cut.sum).to.be.within(0.1, 5);
    const normal = receiver.points('unipool.connection.duration').filter((x) => !('error.type' in x.attributes));
    expect(only(normal, 'the curl connection').count).to.equal(1);
  });

  it('rpc.server.call.duration: a grpcio call exports rpc.system grpc, rpc.service, rpc.method and rpc.grpc.status_code 0 (an int); network.protocol.name http (gRPC runs over HTTP/2), unipool.protocol grpc', async () => {
    app = createTestApp({ servers: [GrpcEchoServer], config: { metrics: { otlp: otlp('http/protobuf') } } });
    await app.start();
    const [outcome] = await pythonCalls(port(app.server(GrpcEchoServer)), [{ path: '/demo.Echo/Echo', request: echoRequest('hi') }]);
    expect(outcome.code).to.equal(0);
    await app.stop();
    const call = only(receiver.points('rpc.server.call.duration', { 'rpc.method': 'Echo' }), 'Echo');
    expect(call.attributes).to.deep.equal({ 'unipool.pool': 'grpc', 'unipool.protocol': 'grpc', 'network.protocol.name': 'http', 'rpc.system': 'grpc', 'rpc.service': 'demo.Echo', 'rpc.method': 'Echo', 'rpc.grpc.status_code': 0 });
    expect(call.types['rpc.grpc.status_code']).to.equal('int');
    expect(call.count).to.equal(1);
    expect(receiver.latest('rpc.server.call.duration')!.unit).to.equal('s');
    expect(receiver.points('http.server.active_requests', { 'unipool.pool': 'grpc' })).to.deep.equal([]);
  });

  it('unipool.active_connections and unipool.upgraded_connections: an open Python websockets client shows 1 while open (network.protocol.name websocket, unipool.protocol ws), then its connection.duration', async () => {
    app = createTestApp({ servers: [WsEchoServer], config: { metrics: { otlp: otlp('http/protobuf', 200) } } });
    await app.start();
    const client = pythonWsClient(`ws://127.0.0.1:${port(app.server(WsEchoServer))}/ws`);
    expect(await client.line(/^echo/)).to.equal('echo hi');
    const before = receiver.exports.length;
    await waitFor(() => receiver.exports.length > before && receiver.points('unipool.upgraded_connections')[0]?.value === 1, 5000, 'an export with the open connection');
    expect(only(receiver.points('unipool.active_connections'), 'ws active').attributes).to.deep.equal({ 'unipool.pool': 'ws', 'unipool.protocol': 'ws', 'network.protocol.name': 'websocket' });
    expect(receiver.points('unipool.active_connections')[0].value).to.equal(1);
    await app.stop(); // close 1001 to the client
    expect(await client.line(/^close/)).to.equal('close 1001');
    expect(only(receiver.points('unipool.upgraded_connections'), 'upgraded').value).to.equal(0);
    expect(only(receiver.points('unipool.connection.duration'), 'drained: no error.type').count).to.equal(1);
  });

  it('unipool.tls_handshake.duration: curl over TLS 1.3 exports tls.protocol.version 1.3 (network.protocol.name http, unipool.protocol https); a plain-text client exports a failed handshake with error.type', async () => {
    certs ??= await makeTlsFixtures();
    app = createTestApp({ servers: [HttpsApiServer], config: { https: { tls: { cert: certs.cert, key: certs.key } }, metrics: { otlp: otlp('http/protobuf') } } });
    await app.start();
    const p = port(app.server(HttpsApiServer));
    expect(await curlStatus(`https://127.0.0.1:${p}/`)).to.equal(200);
    await new Promise<void>((resolve) => {
      const socket = net.connect(p, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.on('error', () => undefined).once('close', () => resolve()).resume();
    });
    await app.stop();
    const ok = only(receiver.points('unipool.tls_handshake.duration', { 'tls.protocol.version': '1.3' }), 'TLS 1.3');
    expect(ok.attributes).to.deep.equal({ 'unipool.pool': 'https', 'unipool.protocol': 'https', 'network.protocol.name': 'http', 'tls.protocol.name': 'tls', 'tls.protocol.version': '1.3' });
    expect(ok.count).to.equal(1);
    const failed = receiver.points('unipool.tls_handshake.duration').filter((x) => 'error.type' in x.attributes);
    expect(only(failed, 'failed handshake').count).to.equal(1);
    expect(String(failed[0].attributes['error.type'])).to.match(/^ERR_SSL_|^ECONNRESET/);
    expect(only(receiver.points('unipool.active_tls_handshakes'), 'handshakes').value).to.equal(0);
    expect(only(receiver.points('http.server.request.duration'), 'https request').attributes['url.scheme']).to.equal('https');
  });

  it('shutdown flushes the last export: with a 60 s interval nothing is sent before stop(), and stop() sends the request made just before', async () => {
    app = createTestApp({ servers: [HttpApiServer], config: { metrics: { otlp: otlp('http/protobuf', 60_000) } } });
    await app.start();
    expect(await curlStatus(`http://127.0.0.1:${port(app.server(HttpApiServer))}/`)).to.equal(200);
    expect(receiver.exports).to.have.length(0);
    const result = await app.stop();
    expect(result.ok).to.equal(true);
    expect(receiver.exports).to.have.length(1);
    expect(only(receiver.points('http.server.request.duration'), 'the request').count).to.equal(1);
    // The exporter's kept-alive socket is closed with the provider: no handle left behind.
    const deadline = Date.now() + 1000;
    while ((await receiver.openConnections()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await receiver.openConnections()).to.equal(0);
  });

  it('a failing endpoint is logged once through the app logger (not once per interval), and its recovery once', async () => {
    receiver.status = 400;
    const testApp = createTestApp({ servers: [HttpApiServer], config: { metrics: { otlp: otlp('http/protobuf', 100) } } });
    app = testApp;
    await app.start();
    await waitFor(() => receiver.paths.length >= 3, 5000, 'three exports refused');
    expect(testApp.logs.find('OpenTelemetry: metrics export failed (logged again only after an export succeeds)')).to.have.length(1);
    receiver.status = 200;
    await waitFor(() => testApp.logs.find('OpenTelemetry: metrics export works again').length === 1, 5000, 'the recovery logged');
  });

  it('shutdown waits for an endpoint that stopped answering at most shutdown.hookTimeout, logs it, and still stops ok', async () => {
    receiver.hang = true;
    app = createTestApp({ servers: [HttpApiServer], config: { shutdown: { hookTimeout: 300 }, metrics: { otlp: { ...otlp('http/protobuf', 60_000), exportTimeout: 5000 } } } });
    await app.start();
    const started = Date.now();
    const result = await app.stop();
    const elapsed = Date.now() - started;
    expect(result.ok).to.equal(true);
    expect(elapsed).to.be.lessThan(3000);
    await waitFor(() => receiver.paths.length === 1, 5000, 'the export request arrived');
    expect((app as ReturnType<typeof createTestApp>).logs.find('OpenTelemetry: the last metrics export did not finish in time')).to.have.length(1);
    // No handle left behind: the late request's socket is cut when stop() gives up on it, not at exportTimeout.
    const deadline = Date.now() + 1000;
    while ((await receiver.openConnections()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await receiver.openConnections(), 'the exporter connection still open 1 s after stop()').to.equal(0);
  });
});
