import 'reflect-metadata';
import { X509Certificate } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import { expect } from 'chai';
import WebSocket from 'ws';
import { ConnectionPoolEvent, ConfigValidationError, type Application, type ConnectionPoolManager } from '../../src';
import { createTestApp } from '../../src/testing';
import { GrpcEchoServer } from '../../samples/multi-protocol/grpc-echo-server';
import { HttpApiServer } from '../../samples/multi-protocol/http-api-server';
import { HttpsApiServer } from '../../samples/multi-protocol/https-api-server';
import { WsEchoServer } from '../../samples/multi-protocol/ws-echo-server';
import { closeClients, echoClient, unary } from '../helpers/grpc';
import { request } from '../helpers/http-fixtures';
import { get as httpsGet, makeTlsFixtures, TestHttpsServer, type TlsFixtures } from '../helpers/https-fixtures';
import { adminPort, get, parseMetrics, valueOf, type Sample } from './admin-support';

const PROTOCOLS = ['http', 'https', 'grpc', 'ws'] as const;

/** Resolves when the pool next removes a connection. */
function nextRemoval(pool: ConnectionPoolManager<unknown>): Promise<void> {
  return new Promise((resolve) => pool.events.once(ConnectionPoolEvent.ConnectionRemoved, () => resolve()));
}

/** Opens a WebSocket client; resolves once open. */
function openWs(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve(ws)).once('error', reject);
  });
}

/** Sends each message and resolves once as many echoes came back. */
function echoAll(ws: WebSocket, messages: string[]): Promise<void> {
  return new Promise((resolve) => {
    let pending = messages.length;
    const onMessage = (): void => {
      if (--pending > 0) return;
      ws.off('message', onMessage);
      resolve();
    };
    ws.on('message', onMessage);
    for (const m of messages) ws.send(m);
  });
}

/** Writes plain HTTP to the TLS port and resolves when the server has hung up. */
function tlsGarbage(port: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    socket.on('error', () => undefined).once('close', () => resolve()).resume();
  });
}

function sum(samples: Sample[], name: string, labels: Record<string, string>): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((n, s) => n + s.value, 0);
}

describe('admin /metrics: protocol families with live HTTP, HTTPS, gRPC and WebSocket connections', function () {
  this.timeout(20_000);
  let certs: TlsFixtures;
  let app: Application | undefined;
  const agents: Array<http.Agent | https.Agent> = [];
  const sockets: WebSocket[] = [];

  before(async () => {
    certs = await makeTlsFixtures();
  });
  after(() => certs.cleanup());
  afterEach(async () => {
    closeClients();
    for (const ws of sockets.splice(0)) ws.terminate();
    for (const agent of agents.splice(0)) agent.destroy();
    if (app?.state === 'running') await app.stop();
    app = undefined;
  });

  function agent<A extends http.Agent>(a: A): A {
    agents.push(a);
    return a;
  }

  it('reports the generic families per protocol and each protocol\'s own families with the traffic sent', async () => {
    app = createTestApp({
      servers: [HttpApiServer, HttpsApiServer, GrpcEchoServer, WsEchoServer],
      config: { https: { tls: { cert: certs.cert, key: certs.key } }, ws: { maxPayload: 1024 }, admin: {} },
    });
    await app.start();
    const port = (cls: { name: string }): number => app!.servers.find((s) => s.constructor === cls)!.address()!.port;
    const wsPool = app.server(WsEchoServer).pool;

    // HTTP: two requests on one kept-alive connection.
    const httpAgent = agent(new http.Agent({ keepAlive: true, maxSockets: 1 }));
    for (let i = 0; i < 2; i++) expect((await request(port(HttpApiServer), '/', { agent: httpAgent })).status).to.equal(200);

    // HTTPS: two connections through one agent (the second resumes the first one's session),
    // one kept-alive connection left open, and a plain-HTTP request on the TLS port.
    const resuming = agent(new https.Agent({ keepAlive: false }));
    const first = await httpsGet(port(HttpsApiServer), '/', { ca: certs.certPem, agent: resuming });
    const second = await httpsGet(port(HttpsApiServer), '/', { ca: certs.certPem, agent: resuming });
    expect([first.status, second.status]).to.deep.equal([200, 200]);
    expect(second.socket.isSessionReused(), 'the client resumed the TLS session').to.equal(true);
    const kept = agent(new https.Agent({ keepAlive: true, maxSockets: 1 }));
    expect((await httpsGet(port(HttpsApiServer), '/', { ca: certs.certPem, agent: kept })).status).to.equal(200);
    await tlsGarbage(port(HttpsApiServer));

    // gRPC: three OK calls and one INVALID_ARGUMENT on one channel that stays open.
    const client = echoClient(port(GrpcEchoServer));
    for (let i = 0; i < 3; i++) expect((await unary(client, 'Echo', { message: `m${i}` })).code).to.equal(0);
    expect((await unary(client, 'Echo', { message: 'x', delay_ms: 1e9 })).code).to.equal(3);

    // WebSocket: three echoes on a client that stays open; another client closed with 1009 for an oversized message.
    const url = `ws://127.0.0.1:${port(WsEchoServer)}/ws`;
    const ws = await openWs(url);
    sockets.push(ws);
    await echoAll(ws, ['a', 'bb', 'ccc']);
    const big = await openWs(url);
    sockets.push(big);
    const removed = nextRemoval(wsPool);
    const closeCode = new Promise<number>((resolve) => big.once('close', resolve));
    big.send('x'.repeat(2048));
    expect(await closeCode).to.equal(1009);
    await removed;
    const leaving = await openWs(url);
    sockets.push(leaving);
    const left = nextRemoval(wsPool);
    leaving.close(4321, 'application reason');
    await left;

    const reply = await get(adminPort(app), '/metrics');
    expect(reply.status).to.equal(200);
    const { samples, types } = parseMetrics(reply.body);

    // Generic families, one series per protocol.
    for (const protocol of PROTOCOLS) {
      const p = { protocol };
      expect(valueOf(samples, 'unipool_connections_active', p), `${protocol} active`).to.be.at.least(1);
      expect(valueOf(samples, 'unipool_connections_total', p), `${protocol} admitted`).to.be.at.least(1);
      expect(valueOf(samples, 'unipool_pool_max_connections', p), `${protocol} max`).to.be.greaterThan(0);
      expect(valueOf(samples, 'unipool_pool_health', { protocol, status: 'HEALTHY' }), `${protocol} health`).to.equal(1);
      expect(valueOf(samples, 'unipool_network_io_bytes_total', { protocol, direction: 'receive' }), `${protocol} bytes in`).to.be.greaterThan(0);
      expect(valueOf(samples, 'unipool_request_duration_seconds_count', p), `${protocol} requests`).to.be.greaterThan(0);
    }
    expect(valueOf(samples, 'unipool_request_duration_seconds_count', { protocol: 'http' })).to.equal(2);
    expect(valueOf(samples, 'unipool_request_duration_seconds_count', { protocol: 'https' })).to.equal(3);
    expect(valueOf(samples, 'unipool_request_duration_seconds_count', { protocol: 'grpc' })).to.equal(4);
    expect(valueOf(samples, 'unipool_request_duration_seconds_count', { protocol: 'ws' })).to.equal(3);
    expect(valueOf(samples, 'unipool_connections_active', { protocol: 'grpc' })).to.equal(1);
    expect(valueOf(samples, 'unipool_connections_active', { protocol: 'ws' })).to.equal(1);
    expect(valueOf(samples, 'unipool_connections_total', { protocol: 'ws' })).to.equal(3);

    // TLS.
    const tls = { protocol: 'https' };
    expect(types.get('unipool_tls_handshake_duration_seconds')).to.equal('histogram');
    expect(valueOf(samples, 'unipool_tls_handshake_duration_seconds_count', tls)).to.equal(3);
    expect(valueOf(samples, 'unipool_tls_handshake_duration_seconds_bucket', { ...tls, le: '+Inf' })).to.equal(3);
    expect(valueOf(samples, 'unipool_tls_handshake_duration_seconds_sum', tls)).to.be.greaterThan(0);
    expect(valueOf(samples, 'unipool_tls_connections_total', { ...tls, version: 'TLSv1.3' })).to.equal(3);
    expect(valueOf(samples, 'unipool_tls_session_reused_total', tls)).to.equal(1);
    expect(valueOf(samples, 'unipool_tls_handshake_failures_total', { ...tls, reason: 'ERR_SSL_HTTP_REQUEST' })).to.equal(1);
    expect(valueOf(samples, 'unipool_errors_total', { ...tls, type: 'tls_handshake' })).to.equal(1);
    expect(valueOf(samples, 'unipool_tls_client_certificates_total', { ...tls, result: 'verified' })).to.equal(0);
    expect(valueOf(samples, 'unipool_tls_certificate_reloads_total', { ...tls, result: 'success' })).to.equal(0);
    const expectedExpiry = (Date.parse(new X509Certificate(certs.certPem).validTo) - Date.now()) / 1000;
    expect(valueOf(samples, 'unipool_tls_certificate_expiry_seconds', tls)).to.be.closeTo(expectedExpiry, 60);
    expect(valueOf(samples, 'unipool_tls_certificate_expiry_seconds', { protocol: 'grpc' }), 'insecure gRPC has no certificate').to.equal(undefined);

    // gRPC per method.
    const echo = { protocol: 'grpc', service: 'demo.Echo', method: 'Echo' };
    expect(valueOf(samples, 'unipool_grpc_calls_total', { ...echo, code: 'OK' })).to.equal(3);
    expect(valueOf(samples, 'unipool_grpc_calls_total', { ...echo, code: 'INVALID_ARGUMENT' })).to.equal(1);
    expect(valueOf(samples, 'unipool_grpc_calls_total', { protocol: 'grpc', service: 'demo.Echo', method: 'EchoStream', code: 'OK' }), 'registered methods start at 0').to.equal(0);
    expect(valueOf(samples, 'unipool_grpc_call_duration_seconds_count', echo)).to.equal(4);
    expect(valueOf(samples, 'unipool_grpc_call_duration_seconds_bucket', { ...echo, le: '+Inf' })).to.equal(4);
    expect(valueOf(samples, 'unipool_grpc_messages_total', { ...echo, direction: 'receive' })).to.equal(4);
    expect(valueOf(samples, 'unipool_grpc_messages_total', { ...echo, direction: 'transmit' })).to.equal(3);
    expect(valueOf(samples, 'unipool_grpc_calls_in_flight', echo)).to.equal(0);
    const grpcCalls = sum(samples, 'unipool_grpc_calls_total', { protocol: 'grpc' });
    expect(grpcCalls, 'per-method calls add up to the generic request count').to.equal(valueOf(samples, 'unipool_request_duration_seconds_count', { protocol: 'grpc' }));

    // WebSocket.
    const wsl = { protocol: 'ws' };
    expect(valueOf(samples, 'unipool_ws_messages_total', { ...wsl, direction: 'receive' })).to.equal(3);
    expect(valueOf(samples, 'unipool_ws_messages_total', { ...wsl, direction: 'transmit' })).to.equal(3);
    expect(valueOf(samples, 'unipool_ws_message_bytes_total', { ...wsl, direction: 'receive' })).to.equal(6);
    expect(valueOf(samples, 'unipool_ws_message_bytes_total', { ...wsl, direction: 'transmit' })).to.equal(6);
    // The code the server sent for the oversized message (`ws` never reads the client's answer).
    expect(valueOf(samples, 'unipool_ws_close_total', { ...wsl, code: '1009' })).to.equal(1);
    expect(valueOf(samples, 'unipool_ws_close_total', { ...wsl, code: '1006' })).to.equal(0);
    expect(valueOf(samples, 'unipool_ws_close_total', { ...wsl, code: '4xxx' }), 'application codes are folded into their range').to.equal(1);
    expect(valueOf(samples, 'unipool_ws_broadcasts_total', wsl)).to.equal(0);
    expect(valueOf(samples, 'unipool_ws_pings_total', wsl)).to.equal(0);
    // Oversized messages, slow consumers and pong timeouts live in the generic families only.
    expect(valueOf(samples, 'unipool_errors_total', { ...wsl, type: 'message_too_big' })).to.equal(1);
    for (const name of ['unipool_ws_oversized_messages_total', 'unipool_ws_slow_consumers_closed_total', 'unipool_ws_heartbeat_timeouts_total']) {
      expect(types.has(name), name).to.equal(false);
    }

    // Naming: every family unipool_*, counters and only counters end in _total; protocol families carry only their protocol.
    for (const [name, type] of types) {
      expect(name, name).to.match(/^unipool_[a-z0-9_]+$/);
      if (type === 'counter') expect(name, name).to.match(/_total$/);
      else expect(name, name).not.to.match(/_total$/);
    }
    const own = { tls: 'https', grpc: 'grpc', ws: 'ws' } as Record<string, string>;
    for (const s of samples) {
      const family = /^unipool_(tls|grpc|ws)_/.exec(s.name)?.[1];
      if (family) expect(s.labels.protocol, s.name).to.equal(own[family]);
    }
  });

  it('counts client certificate outcomes, refusals by reason and certificate reloads, and reports gRPC\'s certificate expiry', async () => {
    app = createTestApp({
      servers: [TestHttpsServer, GrpcEchoServer],
      config: {
        https: { tls: { cert: certs.cert, key: certs.key, ca: certs.clientCa, requestCert: true, rejectUnauthorized: true } },
        grpc: { tls: { cert: certs.soonCert, key: certs.soonKey } },
        admin: {},
      },
    });
    await app.start();
    const server = app.server(TestHttpsServer);
    const port = server.address()!.port;
    const ok = await httpsGet(port, '/', { ca: certs.certPem, cert: certs.clientCertPem, key: certs.clientKeyPem });
    expect(ok.status).to.equal(200);
    const refused = async (options: { cert?: string; key?: string }): Promise<void> => {
      const err = await httpsGet(port, '/', { ca: certs.certPem, ...options }).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err, 'an unverified client must not be served').to.be.instanceOf(Error);
    };
    await refused({});
    await refused({ cert: certs.strayClientCertPem, key: certs.strayClientKeyPem });
    expect(server.updateConfig({ tls: { cert: certs.cert2, key: certs.key2 } }).applied).to.include('tls');
    expect(() => server.updateConfig({ tls: { cert: certs.cert, key: certs.key2 } })).to.throw(ConfigValidationError);

    const { samples } = parseMetrics((await get(adminPort(app), '/metrics')).body);
    const tls = { protocol: 'https' };
    expect(valueOf(samples, 'unipool_tls_client_certificates_total', { ...tls, result: 'verified' })).to.equal(1);
    expect(valueOf(samples, 'unipool_tls_client_certificates_total', { ...tls, result: 'unverified' })).to.equal(2);
    expect(valueOf(samples, 'unipool_tls_client_certificate_failures_total', { ...tls, reason: 'no_certificate' })).to.equal(1);
    expect(sum(samples, 'unipool_tls_client_certificate_failures_total', tls)).to.equal(2);
    expect(valueOf(samples, 'unipool_tls_client_certificate_rejections_total', { ...tls, reason: 'no_certificate' })).to.equal(1);
    expect(sum(samples, 'unipool_tls_client_certificate_rejections_total', tls)).to.equal(2);
    expect(valueOf(samples, 'unipool_connections_rejected_total', { ...tls, reason: 'client_certificate' })).to.equal(2);
    expect(valueOf(samples, 'unipool_tls_certificate_reloads_total', { ...tls, result: 'success' })).to.equal(1);
    expect(valueOf(samples, 'unipool_tls_certificate_reloads_total', { ...tls, result: 'failure' })).to.equal(1);
    const expiry = (pem: string): number => (Date.parse(new X509Certificate(pem).validTo) - Date.now()) / 1000;
    expect(valueOf(samples, 'unipool_tls_certificate_expiry_seconds', tls), 'the reloaded certificate').to.be.closeTo(expiry(certs.cert2Pem), 60);
    expect(valueOf(samples, 'unipool_tls_certificate_expiry_seconds', { protocol: 'grpc' }), 'the 5-day gRPC certificate').to.be.within(4 * 86_400, 5 * 86_400 + 60);
  });
});
