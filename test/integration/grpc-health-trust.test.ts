import { execFile } from 'node:child_process';
import * as http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { ConfigValidationError, PoolHealthStatus, type Application, type GrpcConnectionPool } from '../../src';
import { createTestApp } from '../../src/testing';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { OutcomeServer, bootError, closeClients, echoClient, portOf, unary, until } from '../helpers/grpc';
import { adminPort, get, parseMetrics, valueOf } from './admin-support';
import { echoRequest, echoStreamRequest, encodeMessage, killPythonClients, pythonCalls, servingStatus, type PythonCall } from '../helpers/grpc-python';

const ECHO = '/demo.Echo/Echo';
const ECHO_STREAM = '/demo.Echo/EchoStream';
const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

/** A gRPC frame (uncompressed) around protobuf bytes. */
function grpcFrame(message: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** One call over node's HTTP/2 client with a `grpc-timeout` header of our choosing; resolves with the grpc-status. */
function rawCall(session: http2.ClientHttp2Session, path: string, message: Buffer, grpcTimeout: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let status = -1;
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'grpc-timeout': grpcTimeout });
    const note = (headers: http2.IncomingHttpHeaders): void => {
      if (headers['grpc-status'] !== undefined) status = Number(headers['grpc-status']);
    };
    req.on('response', note);
    req.on('trailers', note);
    req.on('data', () => undefined);
    req.on('error', reject);
    req.on('close', () => resolve(status));
    req.end(grpcFrame(message));
  });
}

function h2Connect(port: number): Promise<http2.ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.once('remoteSettings', () => resolve(session));
    session.once('error', reject);
  });
}

describe('gRPC server: health a probe can trust', () => {
  let app: Application | undefined;
  const sessions: http2.ClientHttp2Session[] = [];

  afterEach(async () => {
    killPythonClients();
    closeClients();
    for (const s of sessions.splice(0)) s.destroy();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  async function start(servers: Parameters<typeof createTestApp>[0]['servers'], grpcConfig: Record<string, unknown> = {}, admin = false): Promise<{ pool: GrpcConnectionPool; port: number }> {
    app = createTestApp({ servers, config: { grpc: grpcConfig, shutdown: { timeout: 2000 }, ...(admin ? { admin: {} } : {}) } });
    await app.start();
    return { pool: app.servers[0].pool as GrpcConnectionPool, port: portOf(app) };
  }

  async function healthCheck(port: number): Promise<string> {
    const [outcome] = await pythonCalls(port, [{ path: HEALTH_CHECK, request: encodeMessage({}), timeout: 5 }]);
    expect(outcome.code).to.equal(0);
    return servingStatus(outcome.replies[0]);
  }

  it('item 5: 30 client-caused failures (client deadlines, malformed grpc-timeout) leave health HEALTHY and Health/Check SERVING', async () => {
    const { pool, port } = await start([GrpcEchoServer]);
    // 20 Python grpcio calls whose 300 ms deadline is shorter than the handler's 2 s delay.
    const late: PythonCall[] = Array.from({ length: 20 }, (_, i) => ({ path: ECHO, request: echoRequest(`late ${i}`, 2000), timeout: 0.3 }));
    const outcomes = await pythonCalls(port, late);
    expect(outcomes.map((o) => o.code)).to.deep.equal(new Array(20).fill(grpc.status.DEADLINE_EXCEEDED));
    // 10 calls with a grpc-timeout header grpc-js cannot parse: it answers them itself.
    const session = await h2Connect(port);
    sessions.push(session);
    const malformed = await Promise.all(Array.from({ length: 10 }, () => rawCall(session, ECHO, echoRequest('x'), 'soon')));
    expect(malformed).to.deep.equal(new Array(10).fill(grpc.status.INTERNAL));

    await until(() => pool.getMethod(ECHO)?.calls === 30, 5000, '30 calls recorded');
    const echo = pool.getMethod(ECHO);
    // Per method every status is still counted...
    expect(echo?.codes).to.deep.equal({ DEADLINE_EXCEEDED: 20, INTERNAL: 10 });
    // ...but none of them is the server's fault.
    expect(echo?.errors).to.equal(0);
    const metrics = pool.getMetrics();
    expect(metrics.requests).to.include({ total: 30, failed: 0, errorRate: 0 });
    const health = pool.getHealth();
    expect(health.status, health.reason).to.equal(PoolHealthStatus.Healthy);
    expect(await healthCheck(port)).to.equal('SERVING');
  });

  it('item 5: faults of the server still count: a handler that threw, INTERNAL returned by the handler', async () => {
    const { pool, port } = await start([OutcomeServer]);
    const calls: PythonCall[] = [
      ...Array.from({ length: 12 }, (_, i) => ({ path: ECHO, request: echoRequest(`ok ${i}`), timeout: 5 })),
      ...Array.from({ length: 4 }, () => ({ path: ECHO, request: echoRequest('throw'), timeout: 5 })),
      ...Array.from({ length: 4 }, () => ({ path: ECHO, request: echoRequest('boom'), timeout: 5 })),
    ];
    const outcomes = await pythonCalls(port, calls);
    expect(outcomes.filter((o) => o.code === grpc.status.UNKNOWN)).to.have.length(4);
    expect(outcomes.filter((o) => o.code === grpc.status.INTERNAL)).to.have.length(4);
    await until(() => pool.getMethod(ECHO)?.calls === 20, 10_000, '20 calls recorded');
    expect(pool.getMethod(ECHO)).to.include({ errors: 8 });
    expect(pool.getMetrics().requests).to.include({ total: 20, failed: 8 });
    const health = pool.getHealth();
    expect(health.status, health.reason).to.equal(PoolHealthStatus.Overloaded);
    expect(health.errorRate).to.equal(0.4);
    expect(await healthCheck(port)).to.equal('NOT_SERVING');
  });

  it('item 6: server streams next to instant unary calls do not enter request latency; health is judged on unary calls', async () => {
    const { pool, port } = await start([GrpcEchoServer], { health: { degradedLatencyMs: 400, overloadedLatencyMs: 500, minRequests: 20 } }, true);
    // 5 streams of about 900 ms (3 replies, one every 300 ms) and 20 instant unary calls, all at once.
    const calls: PythonCall[] = [
      ...Array.from({ length: 5 }, (_, i) => ({ path: ECHO_STREAM, request: echoStreamRequest(`s${i}`, 3, 300), stream: true, timeout: 10 })),
      ...Array.from({ length: 20 }, (_, i) => ({ path: ECHO, request: echoRequest(`u${i}`), timeout: 10 })),
    ];
    const outcomes = await pythonCalls(port, calls);
    expect(outcomes.map((o) => o.code)).to.deep.equal(new Array(25).fill(0));
    expect(outcomes[0].replies).to.have.length(3);
    await until(() => pool.getMethod(ECHO_STREAM)?.calls === 5, 5000, 'streams recorded');

    const metrics = pool.getMetrics();
    // Request figures are the 20 unary calls only...
    expect(metrics.requests).to.include({ total: 20, failed: 0 });
    expect(metrics.latency.count).to.equal(20);
    expect(metrics.latency.p95Ms).to.be.below(400);
    // ...the streams have their own.
    expect(metrics.streams).to.include({ total: 5, failed: 0, inFlight: 0 });
    expect(metrics.streams.duration.count).to.equal(5);
    expect(metrics.streams.duration.maxMs).to.be.at.least(800);
    const health = pool.getHealth();
    expect(health.status, health.reason).to.equal(PoolHealthStatus.Healthy);
    expect(health.p95LatencyMs).to.be.below(400);
    // Per method, each keeps its own latency.
    expect(pool.getMethod(ECHO_STREAM)?.latency.maxMs).to.be.at.least(800);
    // Prometheus and /status show the two apart too.
    const { samples } = parseMetrics((await get(adminPort(app!), '/metrics')).body);
    expect(valueOf(samples, 'unipool_request_duration_seconds_count', { protocol: 'grpc' })).to.equal(20);
    expect(valueOf(samples, 'unipool_stream_duration_seconds_count', { protocol: 'grpc' })).to.equal(5);
    expect(valueOf(samples, 'unipool_streams_in_flight', { protocol: 'grpc' })).to.equal(0);
    const status = JSON.parse((await get(adminPort(app!), '/status')).body) as { pools: Array<{ protocol: string; metrics: { streams: { total: number } } }> };
    expect(status.pools.find((p) => p.protocol === 'grpc')?.metrics.streams.total).to.equal(5);
  });

  it('item 6: a stream in flight counts as a stream, not as a request in flight', async () => {
    const { pool, port } = await start([GrpcEchoServer]);
    const client = echoClient(port);
    const stream = (client as unknown as { EchoStream(req: object): grpc.ClientReadableStream<unknown> }).EchoStream({ message: 'm', count: 0, interval_ms: 20 });
    const ended = new Promise((resolve) => stream.on('error', resolve));
    await new Promise((resolve) => stream.once('data', resolve));
    expect((await unary(client, 'Echo', { message: 'x' })).code).to.equal(grpc.status.OK);
    const during = pool.getMetrics();
    expect(during.streams.inFlight).to.equal(1);
    expect(during.requests.inFlight).to.equal(0);
    stream.cancel();
    await ended;
    await until(() => pool.getMetrics().streams.total === 1, 5000, 'stream recorded');
    // A stream the client cancelled is not a server fault either.
    expect(pool.getMetrics().streams).to.include({ inFlight: 0, failed: 0 });
    expect(pool.getMethod(ECHO_STREAM)?.codes).to.deep.equal({ CANCELLED: 1 });
  });

  it('item 7: a call that ended because the client deadline passed is recorded as DEADLINE_EXCEEDED, not CANCELLED (grpcio and grpc-js clients)', async () => {
    const { pool, port } = await start([GrpcEchoServer]);
    // 500 ms deadlines: long enough that a call reaches the server before its client gives up, even
    // on a loaded machine (at 100 ms, grpcio calls under load expired before they were sent).
    const outcomes = await pythonCalls(port, Array.from({ length: 10 }, (_, i) => ({ path: ECHO, request: echoRequest(`late ${i}`, 3000), timeout: 0.5 })));
    expect(outcomes.map((o) => o.code)).to.deep.equal(new Array(10).fill(grpc.status.DEADLINE_EXCEEDED));
    const client = echoClient(port);
    const js = await Promise.all(Array.from({ length: 10 }, () => unary(client, 'Echo', { message: 'late', delay_ms: 3000 }, { deadline: Date.now() + 500 })));
    expect(js.map((o) => o.code)).to.deep.equal(new Array(10).fill(grpc.status.DEADLINE_EXCEEDED));
    await until(() => pool.getMethod(ECHO)?.calls === 20, 5000, '20 calls recorded');
    expect(pool.getMethod(ECHO)?.codes).to.deep.equal({ DEADLINE_EXCEEDED: 20 });
    // A call the client really cancelled long before its deadline stays CANCELLED.
    const cancelled = (client as unknown as { Echo(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: () => void): grpc.ClientUnaryCall }).Echo(
      { message: 'stop', delay_ms: 1000 },
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      () => undefined,
    );
    await until(() => pool.getMethod(ECHO)?.inFlight === 1, 5000, 'call started');
    cancelled.cancel();
    await until(() => pool.getMethod(ECHO)?.calls === 21, 5000, 'cancelled call recorded');
    expect(pool.getMethod(ECHO)?.codes).to.deep.equal({ DEADLINE_EXCEEDED: 20, CANCELLED: 1 });
  });

  it('review: a cancel long before a long deadline stays CANCELLED (the deadline slack is capped, not a quarter of the timeout)', async () => {
    const { pool, port } = await start([GrpcEchoServer]);
    const client = echoClient(port);
    const deadline = Date.now() + 4000;
    const call = (client as unknown as { Echo(req: object, md: grpc.Metadata, opts: grpc.CallOptions, cb: () => void): grpc.ClientUnaryCall }).Echo(
      { message: 'stop', delay_ms: 10_000 },
      new grpc.Metadata(),
      { deadline },
      () => undefined,
    );
    await until(() => pool.getMethod(ECHO)?.inFlight === 1, 5000, 'call started');
    // 600 ms before a 4 s deadline: within the old slack (100 ms + 25 % of 4 s = 1.1 s), well past the cap.
    await new Promise((r) => setTimeout(r, Math.max(0, deadline - 600 - Date.now())));
    call.cancel();
    await until(() => pool.getMethod(ECHO)?.calls === 1, 5000, 'cancelled call recorded');
    expect(pool.getMethod(ECHO)?.codes).to.deep.equal({ CANCELLED: 1 });
  });

  it('item 8: grpc.maxConcurrentStreams defaults to 100 and SETTINGS advertise it (node http2 client and nghttp)', async () => {
    const { port } = await start([GrpcEchoServer]);
    const session = await h2Connect(port);
    sessions.push(session);
    expect(session.remoteSettings.maxConcurrentStreams).to.equal(100);
    const nghttp = await new Promise<string>((resolve, reject) => {
      execFile('/usr/bin/nghttp', ['-nv', `http://127.0.0.1:${port}/`], { timeout: 10_000 }, (err, stdout) => (err && !stdout ? reject(err) : resolve(stdout)));
    });
    expect(nghttp).to.match(/recv SETTINGS frame[\s\S]*SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):100/);
  });

  it('item 8: a configured grpc.maxConcurrentStreams is advertised; one connection cannot open more calls than that', async () => {
    const { port } = await start([GrpcEchoServer], { maxConcurrentStreams: 3 });
    const session = await h2Connect(port);
    sessions.push(session);
    expect(session.remoteSettings.maxConcurrentStreams).to.equal(3);
    const client = echoClient(port);
    const started = Date.now();
    // 6 calls of 300 ms on one connection: at most 3 at once, so two rounds.
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => unary(client, 'Echo', { message: 'x', delay_ms: 300 })));
    expect(outcomes.map((o) => o.code)).to.deep.equal(new Array(6).fill(grpc.status.OK));
    expect(Date.now() - started).to.be.at.least(590);
  });

  it('item 8: grpc.maxConcurrentStreams is validated at boot (0 would refuse every call)', async () => {
    const bad = createTestApp({ servers: [GrpcEchoServer], config: { grpc: { maxConcurrentStreams: 0 } } });
    const error = await bootError(bad);
    expect(error).to.be.instanceOf(ConfigValidationError);
    expect((error as Error).message).to.contain('grpc.maxConcurrentStreams');
  });
});
