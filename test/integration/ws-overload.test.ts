import 'reflect-metadata';
import { expect } from 'chai';
import type * as http from 'node:http';
import WebSocket, { type RawData } from 'ws';
import { ConnectionPoolEvent, PoolConfig, UsePool, WebSocketConnectionPool, WebSocketPoolConfig, WebSocketServer, type Application } from '../../src';
import { PressureLevel, type WorkPriority } from '../../src/overload';
import { createTestApp } from '../../src/testing';
import { closeGate, passGate } from '../helpers/gate';
import { waitFor } from '../helpers/http-fixtures';
import { nextPoolEvent } from '../helpers/pool-events';
import { scriptedPythonWsClient, stopPythonClients } from '../helpers/ws-python';
import { closeClients, connect } from './ws-support';

/**
 * Messages starting with `hold` wait for the gate (an asynchronous handler held in flight),
 * `throw` make the (synchronous) handler throw, anything else is echoed synchronously. A message
 * starting with `!` is critical (the `priority` override); upgrades with `?critical` are too.
 * `bad priority` and upgrades with `?throw` make the priority overrides throw.
 */
@UsePool(WebSocketConnectionPool)
class OverloadWsServer extends WebSocketServer {
  /** Every message whose handler ran, in order. */
  readonly handled: string[] = [];

  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: WebSocketPoolConfig) {
    super(config);
  }

  onMessage(socket: WebSocket, data: RawData): void | Promise<void> {
    const text = data.toString();
    this.handled.push(text);
    if (text.startsWith('hold')) return passGate().then(() => void this.send(socket, `done ${text}`));
    if (text.startsWith('throw')) throw new Error('handler failed on purpose');
    this.send(socket, `echo ${text}`);
  }

  override priority(socket: WebSocket, data: RawData, isBinary: boolean): WorkPriority {
    if (data.toString() === 'bad priority') throw new Error('priority failed on purpose');
    return !isBinary && (data as Buffer)[0] === 0x21 /* ! */ ? 'critical' : super.priority(socket, data, isBinary);
  }

  override upgradePriority(req: http.IncomingMessage): WorkPriority {
    if (req.url?.endsWith('?throw')) throw new Error('upgradePriority failed on purpose');
    return req.url?.endsWith('?critical') ? 'critical' : super.upgradePriority(req);
  }
}

/** The first text message `ws` receives. */
function nextText(ws: WebSocket): Promise<string> {
  return new Promise((resolve) => ws.once('message', (data: RawData) => resolve(data.toString())));
}

/** The status, Retry-After and body of a refused upgrade, as the `ws` client sees them. */
function refusal(url: string): Promise<{ status: number; retryAfter: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => {
      ws.terminate();
      reject(new Error('the upgrade was admitted'));
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode as number, retryAfter: res.headers['retry-after'] as string | undefined, body }));
    });
    ws.once('error', reject);
  });
}

describe('WebSocket overload protection (integration, issue 14)', () => {
  let app: Application | undefined;
  let release: (() => void) | undefined;
  const clients: WebSocket[] = [];

  afterEach(async () => {
    release?.();
    release = undefined;
    await stopPythonClients();
    await closeClients(clients.splice(0));
    if (app && app.state === 'running') await app.stop();
    app = undefined;
  });

  async function start(ws: Record<string, unknown>) {
    app = createTestApp({ servers: [OverloadWsServer], config: { ws, shutdown: { timeout: 10_000 } } });
    await app.start();
    const server = app.server(OverloadWsServer);
    const url = `ws://127.0.0.1:${server.address()?.port as number}/ws`;
    return { server, pool: server.pool, url };
  }

  /** Opens a `ws` client whose `hold` message occupies one unit of work until `release`. */
  async function holdOne(server: OverloadWsServer, url: string, name = 'hold 1'): Promise<WebSocket> {
    release ??= closeGate();
    const holder = await connect(url);
    clients.push(holder);
    holder.send(name);
    await waitFor(() => server.handled.includes(name), 10_000, `handler of ${name} running`);
    return holder;
  }

  it('issue 14: at the limit (static 1, an async handler held open) a message on another connection is skipped and counted as shed; that connection stays open and is served once there is room', async () => {
    const { server, pool, url } = await start({ overload: { limiter: 'static', maxConcurrency: 1 } });
    const holder = await holdOne(server, url);
    const py = scriptedPythonWsClient(url);
    await py.line(/^open$/);
    const shed = nextPoolEvent(pool, ConnectionPoolEvent.WorkShed);
    py.command('send m1');
    expect(await shed).to.deep.equal({ reason: 'limit', priority: 'normal' });
    expect(server.handled).to.deep.equal(['hold 1']);
    expect(pool.getMetrics().overload).to.deep.include({ inFlight: 1 });
    expect(pool.getMetrics().overload!.shed.limit).to.equal(1);
    expect(pool.getMetrics().websocket.messagesShed).to.equal(1);
    expect(pool.size).to.equal(2);

    const done = nextText(holder);
    release!();
    expect(await done).to.equal('done hold 1');
    await waitFor(() => pool.getMetrics().overload!.inFlight === 0, 10_000, 'the held unit released');
    py.command('send m2');
    py.command('recv');
    expect(await py.line(/^(recv|close) /)).to.equal('recv echo m2');
    expect(server.handled).to.deep.equal(['hold 1', 'm2']);
    expect(pool.getMetrics().overload!.shed.limit).to.equal(1);
    expect(pool.getMetrics().overload!.inFlight).to.equal(0);
  });

  it('issue 14: with overload.closeOnShed a shed message closes its connection with 1013 (Try Again Later) and a reason naming the cause, seen by the Python client', async () => {
    const { server, pool, url } = await start({ overload: { limiter: 'static', maxConcurrency: 1, closeOnShed: true } });
    await holdOne(server, url);
    const py = scriptedPythonWsClient(url);
    await py.line(/^open$/);
    py.command('send m1');
    py.command('recv');
    const line = await py.line(/^(recv|close) /);
    expect(line).to.match(/^close 1013 server overloaded: message shed \(limit\)$/);
    expect(server.handled).to.deep.equal(['hold 1']);
    await waitFor(() => pool.size === 1, 10_000, 'the shed connection removed');
    const metrics = pool.getMetrics();
    expect(metrics.overload!.shed.limit).to.equal(1);
    expect(metrics.websocket.closeCodes['1013']).to.equal(1);
  });

  it('issue 14: at pressure level RefuseConnections a new upgrade gets 503 + Retry-After (overload.shed.retryAfter) naming overload, before the handshake; open connections are still served', async () => {
    const { server, pool, url } = await start({ retryAfter: 9, overload: { limiter: 'static', maxConcurrency: 100, shed: { retryAfter: 4 } } });
    const open = await connect(url);
    clients.push(open);
    pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);

    const py = scriptedPythonWsClient(url);
    expect(await py.line(/^(status|open)/)).to.equal('status 503 4');
    const seen = await refusal(url);
    expect(seen).to.deep.equal({ status: 503, retryAfter: '4', body: 'server is overloaded: refusing new connections (overloaded)\n' });
    expect(pool.size).to.equal(1);
    expect(pool.getMetrics().rejected.byReason.overloaded).to.equal(2);
    expect(pool.knownLabelValues().rejectReasons).to.include('overloaded');

    const echo = nextText(open);
    open.send('still served');
    expect(await echo).to.equal('echo still served');
    expect(server.handled).to.deep.equal(['still served']);

    pool.workAdmission!.setPressureLevel(PressureLevel.None);
    const again = scriptedPythonWsClient(url);
    await again.line(/^open$/);
  });

  it('issue 14: at pressure level ShedWork new upgrades get 503 and normal messages are shed; a critical upgrade (upgradePriority) is admitted and critical messages (priority) are handled', async () => {
    const { server, pool, url } = await start({ overload: { limiter: 'static', maxConcurrency: 100, shed: { retryAfter: 0 } } });
    const open = await connect(url);
    clients.push(open);
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);

    const py = scriptedPythonWsClient(url);
    expect(await py.line(/^(status|open)/)).to.equal('status 503 -');
    expect(await refusal(url)).to.deep.equal({ status: 503, retryAfter: undefined, body: 'server is overloaded: refusing new connections (overloaded)\n' });

    const critical = scriptedPythonWsClient(`${url}?critical`);
    await critical.line(/^open$/);
    critical.command('send !ping');
    critical.command('recv');
    expect(await critical.line(/^(recv|close) /)).to.equal('recv echo !ping');

    const shed = nextPoolEvent(pool, ConnectionPoolEvent.WorkShed);
    open.send('normal');
    expect(await shed).to.deep.equal({ reason: 'pressure', priority: 'normal' });
    expect(server.handled).to.deep.equal(['!ping']);
    expect(pool.getMetrics().overload!.shed.pressure).to.equal(1);
    expect(pool.getMetrics().rejected.byReason.overloaded).to.equal(2);
    expect(open.readyState).to.equal(WebSocket.OPEN);
  });

  it('issue 14: the upgrade path in overload.criticalPaths makes upgrades and messages critical by default', async () => {
    const { server, pool, url } = await start({ overload: { limiter: 'static', maxConcurrency: 100, criticalPaths: ['/ws'] } });
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);
    const py = scriptedPythonWsClient(url);
    await py.line(/^open$/);
    py.command('send m');
    py.command('recv');
    expect(await py.line(/^(recv|close) /)).to.equal('recv echo m');
    expect(server.handled).to.deep.equal(['m']);
    expect(pool.getMetrics().overload!.shed.pressure).to.equal(0);
  });

  it('issue 14: a priority() or upgradePriority() that throws counts a handler error and ranks the work normal', async () => {
    const { server, pool, url } = await start({ overload: { limiter: 'static', maxConcurrency: 100 } });
    const client = await connect(url);
    clients.push(client);
    const echo = nextText(client);
    client.send('bad priority');
    expect(await echo).to.equal('echo bad priority');
    expect(pool.getMetrics().errors.byType.handler).to.equal(1);

    pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
    const py = scriptedPythonWsClient(`${url}?throw`);
    expect(await py.line(/^(status|open)/)).to.equal('status 503 1');
    expect(pool.getMetrics().errors.byType.handler).to.equal(2);
    expect(server.handled).to.deep.equal(['bad priority']);
  });

  it('issue 14: a live update of the overload block takes effect: limiter on, closeOnShed on, limiter off', async () => {
    const { server, pool, url } = await start({});
    expect(pool.admitsWork).to.equal(false);
    expect(pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1 } }).applied).to.deep.equal(['overload']);
    await holdOne(server, url);

    const py = scriptedPythonWsClient(url);
    await py.line(/^open$/);
    const shed = nextPoolEvent(pool, ConnectionPoolEvent.WorkShed);
    py.command('send skipped');
    await shed;
    expect(server.handled).to.deep.equal(['hold 1']);

    pool.updateConfig({ overload: { closeOnShed: true } });
    py.command('send closes');
    py.command('recv');
    expect(await py.line(/^(recv|close) /)).to.match(/^close 1013 /);

    pool.updateConfig({ overload: { limiter: 'none' } });
    expect(pool.admitsWork).to.equal(false);
    const other = await connect(url);
    clients.push(other);
    const echo = nextText(other);
    other.send('served');
    expect(await echo).to.equal('echo served');
    expect(server.handled).to.deep.equal(['hold 1', 'served']);
    // The pool's own figure spans the three overload blocks.
    expect(pool.getMetrics().websocket.messagesShed).to.equal(2);
  });

  it('issue 14: synchronous handlers (recordSyncWork) take and release their slot: a stream of them never exceeds a limit of 1, a throwing one releases too, and at the limit one is shed unrun', async () => {
    const { server, pool, url } = await start({ overload: { limiter: 'static', maxConcurrency: 1 } });
    const client = await connect(url);
    clients.push(client);
    const replies: string[] = [];
    client.on('message', (data: RawData) => replies.push(data.toString()));
    // The first message of a connection takes recordSyncWork's full path (beginWork + endWork), the
    // rest its short one. One at a time: messages read in one event-loop turn share its slots (a
    // synchronous handler's queue is the rest of the turn), so a burst would be shed past the first.
    for (let i = 0; i < 50; i++) {
      client.send(i === 25 ? 'throw 25' : `s${i}`);
      await waitFor(() => server.handled.length === i + 1, 10_000, `message ${i} handled`);
    }
    await waitFor(() => replies.length === 49, 10_000, '49 echoes');
    expect(server.handled).to.have.length(50);
    let metrics = pool.getMetrics();
    expect(metrics.overload).to.deep.include({ inFlight: 0 });
    expect(metrics.overload!.shed).to.deep.equal({ limit: 0, queue_full: 0, queue_timeout: 0, pressure: 0 });
    expect(metrics.errors.byType.handler).to.equal(1);

    await holdOne(server, url);
    const shed = nextPoolEvent(pool, ConnectionPoolEvent.WorkShed);
    client.send('sync at the limit');
    await shed;
    expect(server.handled).to.not.include('sync at the limit');
    release!();
    await waitFor(() => pool.getMetrics().overload!.inFlight === 0, 10_000, 'the held unit released');
    const echo = nextText(client);
    client.send('after');
    expect(await echo).to.equal('echo after');
    metrics = pool.getMetrics();
    expect(metrics.overload!.inFlight).to.equal(0);
    expect(metrics.overload!.shed.limit).to.equal(1);
  });
});
