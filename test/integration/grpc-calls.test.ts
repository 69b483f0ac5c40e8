import * as net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { ConnectionPoolEvent, ListenError, type Application, type GrpcConnectionPool } from '../../src';
import { createTestApp } from '../../src/testing';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { OutcomeServer, bootError, closeClients, echoClient, portOf, unary, until } from '../helpers/grpc';

function readStream(client: grpc.Client, request: object): Promise<{ messages: string[]; code: grpc.status }> {
  return new Promise((resolve) => {
    const messages: string[] = [];
    const call = (client as unknown as { EchoStream(req: object): grpc.ClientReadableStream<{ message: string }> }).EchoStream(request);
    call.on('data', (m: { message: string }) => messages.push(m.message));
    call.on('error', (err: grpc.ServiceError) => resolve({ messages, code: err.code }));
    call.on('status', (s: grpc.StatusObject) => {
      if (s.code === grpc.status.OK) resolve({ messages, code: s.code });
    });
  });
}

describe('gRPC server: calls, metrics, limits', () => {
  let app: Application | undefined;

  afterEach(async () => {
    closeClients();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  async function start(servers: Parameters<typeof createTestApp>[0]['servers'], grpcConfig: Record<string, unknown> = {}): Promise<{ app: Application; pool: GrpcConnectionPool; port: number }> {
    app = createTestApp({ servers, config: { grpc: grpcConfig, shutdown: { timeout: 2000 } } });
    await app.start();
    return { app, pool: app.servers[0].pool as GrpcConnectionPool, port: portOf(app) };
  }

  it('counts every call per method by status code; client mistakes are not errors, server faults are', async () => {
    const { pool, port } = await start([OutcomeServer]);
    const client = echoClient(port);
    const outcomes = [];
    for (const message of ['a', 'b', 'c', 'bad', 'missing', 'boom']) outcomes.push((await unary(client, 'Echo', { message })).code);
    expect(outcomes).to.deep.equal([0, 0, 0, grpc.status.INVALID_ARGUMENT, grpc.status.NOT_FOUND, grpc.status.INTERNAL]);
    const stream = await readStream(client, { message: 'm', count: 5 });
    expect(stream.messages).to.have.length(5);

    await until(() => (pool.getMethod('demo.Echo', 'EchoStream')?.calls ?? 0) === 1, 5000, 'stream call recorded');
    await until(() => (pool.getMethod('/demo.Echo/Echo')?.calls ?? 0) === 6, 5000, 'unary calls recorded');
    const echo = pool.getMethod('/demo.Echo/Echo');
    expect(echo?.codes).to.deep.equal({ OK: 3, INVALID_ARGUMENT: 1, NOT_FOUND: 1, INTERNAL: 1 });
    expect(echo).to.include({ calls: 6, inFlight: 0, errors: 1, messagesIn: 6, messagesOut: 3, type: 'unary' });
    expect(echo?.latency.count).to.equal(6);
    expect(echo?.latency.maxMs).to.be.greaterThan(0);
    const streamStats = pool.getMethod('demo.Echo', 'EchoStream');
    expect(streamStats).to.include({ calls: 1, messagesIn: 1, messagesOut: 5, type: 'serverStream' });
    expect(streamStats?.codes).to.deep.equal({ OK: 1 });

    const metrics = pool.getMetrics();
    // The server stream is measured apart from the six unary calls (item 6).
    expect(metrics.requests).to.include({ total: 6, failed: 1, inFlight: 0 });
    expect(metrics.latency.count).to.equal(6);
    expect(metrics.streams).to.include({ total: 1, failed: 0, inFlight: 0 });
    expect(metrics.active).to.equal(1);
    const [conn] = [...pool.values()];
    expect(conn.requests).to.equal(7);
    expect(conn.messages).to.equal(6 + 3 + 1 + 5);
    expect(metrics.bytes.in).to.be.greaterThan(100);
    expect(metrics.bytes.out).to.be.greaterThan(100);
  });

  it('lists the registered services and methods, health included', async () => {
    const { pool } = await start([GrpcEchoServer]);
    const services = pool.services();
    expect(services.map((s) => s.name)).to.have.members(['demo.Echo', 'grpc.health.v1.Health']);
    const echo = services.find((s) => s.name === 'demo.Echo');
    expect(echo?.methods).to.deep.equal([
      { name: 'Echo', path: '/demo.Echo/Echo', type: 'unary' },
      { name: 'EchoStream', path: '/demo.Echo/EchoStream', type: 'serverStream' },
    ]);
  });

  it('answers an oversized request with RESOURCE_EXHAUSTED and keeps serving the others', async () => {
    const { pool, port } = await start([GrpcEchoServer], { maxReceiveMessageLength: 1024 });
    const client = echoClient(port);
    const other = echoClient(port);
    const [big, small, elsewhere] = await Promise.all([
      unary(client, 'Echo', { message: 'x'.repeat(4096) }),
      unary(client, 'Echo', { message: 'small' }),
      unary(other, 'Echo', { message: 'fine' }),
    ]);
    expect(big.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(small).to.deep.include({ code: grpc.status.OK, message: 'small' });
    expect(elsewhere).to.deep.include({ code: grpc.status.OK, message: 'fine' });
    expect((await unary(client, 'Echo', { message: 'after' })).message).to.equal('after');
    await until(() => pool.getMethod('/demo.Echo/Echo')?.calls === 4, 5000, 'calls recorded');
    expect(pool.getMethod('/demo.Echo/Echo')?.codes).to.deep.equal({ OK: 3, RESOURCE_EXHAUSTED: 1 });
    expect(pool.getMetrics().requests.failed).to.equal(0);
  });

  it('refuses a connection over maxConnections before its HTTP/2 session starts (client sees UNAVAILABLE)', async () => {
    const { pool, port } = await start([GrpcEchoServer], { maxConnections: 2 });
    const rejected: string[] = [];
    pool.events.on(ConnectionPoolEvent.ConnectionRejected, ({ reason }) => rejected.push(reason));
    const first = echoClient(port);
    const second = echoClient(port);
    expect((await unary(first, 'Echo', { message: '1' })).code).to.equal(grpc.status.OK);
    expect((await unary(second, 'Echo', { message: '2' })).code).to.equal(grpc.status.OK);

    const third = echoClient(port);
    const refused = await unary(third, 'Echo', { message: '3' }, { deadline: Date.now() + 5000 });
    expect(refused.code).to.equal(grpc.status.UNAVAILABLE);
    expect(rejected[0]).to.equal('max_connections');
    const metrics = pool.getMetrics();
    expect(metrics.active).to.equal(2);
    expect(metrics.rejected.byReason.max_connections).to.be.at.least(1);
    expect(metrics.requests.total).to.equal(2);

    // A freed slot admits the next client.
    const removed = new Promise((resolve) => pool.events.once(ConnectionPoolEvent.ConnectionRemoved, resolve));
    first.close();
    await removed;
    const fourth = echoClient(port);
    expect((await unary(fourth, 'Echo', { message: '4' })).code).to.equal(grpc.status.OK);
  });

  it('sends keepalive PINGs at keepAliveTime and drops a peer that never answers them', async () => {
    const { pool, port } = await start([GrpcEchoServer], { keepAliveTime: 100, keepAliveTimeout: 100 });
    const removed = new Promise<{ reason: string }>((resolve) => pool.events.once(ConnectionPoolEvent.ConnectionRemoved, resolve));
    // A bare HTTP/2 peer: preface and an empty SETTINGS frame, then silence (no PING ACK ever).
    const socket = net.connect(port, '127.0.0.1');
    socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    const frameTypes: number[] = [];
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 9) {
        const length = buffered.readUIntBE(0, 3);
        if (buffered.length < 9 + length) break;
        frameTypes.push(buffered[3]);
        buffered = buffered.subarray(9 + length);
      }
    });
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => {});
    await closed;
    await removed;
    const PING = 6;
    expect(frameTypes).to.include(PING);
    expect(pool.size).to.equal(0);
  });

  it('closes a connection idle for maxConnectionIdle with GOAWAY; the client reconnects for its next call', async () => {
    const { pool, port } = await start([GrpcEchoServer], { maxConnectionIdle: 150 });
    const client = echoClient(port);
    const removed = new Promise((resolve) => pool.events.once(ConnectionPoolEvent.ConnectionRemoved, resolve));
    const started = Date.now();
    expect((await unary(client, 'Echo', { message: 'x' })).code).to.equal(grpc.status.OK);
    await removed;
    expect(Date.now() - started).to.be.at.least(140);
    expect(pool.size).to.equal(0);
    expect((await unary(client, 'Echo', { message: 'again' })).code).to.equal(grpc.status.OK);
    expect(pool.getMetrics().totalConnections).to.equal(2);
  });

  it('fails the boot with a ListenError when the port is taken, leaving nothing open', async () => {
    const { port } = await start([GrpcEchoServer]);
    const second = createTestApp({ servers: [GrpcEchoServer], config: { grpc: { port } } });
    const error = await bootError(second);
    expect(error).to.be.instanceOf(ListenError);
    expect((error as ListenError).message).to.contain(`:${port}`);
    expect(second.state).to.equal('failed');
  });
  it('connectionTimeout bounds the HTTP/2 handshake, not the first call: a quiet channel stays, a silent socket goes', async () => {
    const { pool, port } = await start([GrpcEchoServer], { connectionTimeout: 200 });
    const timeouts: string[] = [];
    pool.events.on(ConnectionPoolEvent.ConnectionTimeout, (e) => timeouts.push(e.kind));
    const client = echoClient(port);
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 5000, (err) => (err ? reject(err) : resolve())));
    const silent = net.connect(port, '127.0.0.1');
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));
    silent.on('error', () => undefined);
    await silentClosed;
    expect(timeouts).to.deep.equal(['connection']);
    // The quiet channel outlived connectionTimeout: its session counted as the handshake.
    await until(() => pool.size === 1, 5000, 'silent socket removed');
    expect(pool.getMetrics().timeouts.connection).to.equal(1);
    expect((await unary(client, 'Echo', { message: 'still here' })).code).to.equal(grpc.status.OK);
  });
});
