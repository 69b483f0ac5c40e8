import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { ConnectionPoolEvent, GrpcConnectionPool, GrpcPoolConfig, GrpcServer, PoolConfig, PoolHealthStatus, UsePool, type Application } from '../../src';
import { PressureLevel } from '../../src/overload/pressure-level';
import type { WorkPriority } from '../../src/overload/work-priority';
import type { GrpcCallHead } from '../../src/protocols/grpc/grpc-call-priority';
import { createTestApp } from '../../src/testing';
import { closeGate, passGate } from '../helpers/gate';
import { portOf, until } from '../helpers/grpc';
import { encodeMessage, killPythonClients, pythonCalls, servingStatus, type PythonCall, type PythonOutcome } from '../helpers/grpc-python';

const WORK = '/test.Load/Work';
const VITAL = '/test.Load/Vital';
const FEED = '/test.Load/Feed';
const HEALTH_CHECK = '/grpc.health.v1.Health/Check';

const ident = (b: Buffer): Buffer => b;
function methodDef(path: string, responseStream = false): grpc.MethodDefinition<Buffer, Buffer> {
  return { path, requestStream: false, responseStream, requestSerialize: ident, requestDeserialize: ident, responseSerialize: ident, responseDeserialize: ident };
}

/** A service without a .proto: bytes in, bytes out (the Python client uses identity serializers too). */
const LOAD_SERVICE: grpc.ServiceDefinition = { Work: methodDef(WORK), Vital: methodDef(VITAL), Feed: methodDef(FEED, true) };

/** How often each handler ran. */
const runs = { Work: 0, Vital: 0, Feed: 0 };

/** Unary handler: `hold` waits for the gate (a call kept in flight as long as the test needs), anything else is echoed. */
function unaryHandler(name: 'Work' | 'Vital'): grpc.handleUnaryCall<Buffer, Buffer> {
  return (call, callback) => {
    runs[name]++;
    if (call.request.toString() !== 'hold') {
      callback(null, call.request);
      return;
    }
    let cancelled = false;
    call.once('cancelled', () => (cancelled = true));
    void passGate().then(() => {
      if (!cancelled) callback(null, Buffer.from('held'));
    });
  };
}

/** `test.Load`: Work and Vital (unary), Feed (server stream of two replies). */
@UsePool(GrpcConnectionPool)
class LoadServer extends GrpcServer {
  constructor(@PoolConfig(GrpcPoolConfig, 'grpc') config: GrpcPoolConfig) {
    super(config);
  }

  protected registerServices(server: grpc.Server): void {
    server.addService(LOAD_SERVICE, {
      Work: unaryHandler('Work'),
      Vital: unaryHandler('Vital'),
      Feed: (call: grpc.ServerWritableStream<Buffer, Buffer>) => {
        runs.Feed++;
        call.write(Buffer.from('a'));
        call.write(Buffer.from('b'));
        call.end();
      },
    });
  }
}

/** Calls carrying `x-priority: critical` are critical, whatever their path. */
@UsePool(GrpcConnectionPool)
class MetadataPriorityServer extends LoadServer {
  constructor(@PoolConfig(GrpcPoolConfig, 'grpc') config: GrpcPoolConfig) {
    super(config);
  }

  protected override priority(call: GrpcCallHead): WorkPriority {
    const wanted = call.metadata.get('x-priority')[0];
    if (wanted === 'boom') throw new Error('a bug in priority()');
    return wanted === 'critical' ? 'critical' : super.priority(call);
  }
}

const bytes = (s: string): Buffer => Buffer.from(s);
const call = (path: string, body: string, extra: Partial<PythonCall> = {}): PythonCall => ({ path, request: bytes(body), timeout: 20, ...extra });

describe('gRPC server: overload protection (issue 14)', function () {
  // Several grpcio client processes per test, on a machine that may be loaded: generous bounds.
  this.timeout(90_000);
  let app: Application | undefined;
  let release: (() => void) | undefined;
  const jsClients: grpc.Client[] = [];

  beforeEach(() => {
    runs.Work = runs.Vital = runs.Feed = 0;
  });

  afterEach(async () => {
    release?.();
    release = undefined;
    killPythonClients();
    for (const c of jsClients.splice(0)) c.close();
    if (app?.state === 'running') await app.stop({ force: true });
    app = undefined;
  });

  async function start(overload: Record<string, unknown>, servers: Parameters<typeof createTestApp>[0]['servers'] = [LoadServer]): Promise<{ pool: GrpcConnectionPool; port: number }> {
    app = createTestApp({ servers, config: { grpc: { overload }, shutdown: { timeout: 2000 } } });
    await app.start();
    return { pool: app.servers[0].pool as GrpcConnectionPool, port: portOf(app) };
  }

  /**
   * Holds one `Work` call in flight (the gate is closed until `release()`); resolves once its
   * handler runs, with the call's outcome to come (wrapped: a promise cannot resolve to a promise).
   */
  async function holdOne(port: number, path = WORK): Promise<{ held: Promise<PythonOutcome[]> }> {
    release = closeGate();
    const before = runs.Work + runs.Vital;
    const held = pythonCalls(port, [call(path, 'hold')]);
    held.catch(() => undefined); // a test that fails before awaiting it leaves no unhandled rejection
    await until(() => runs.Work + runs.Vital === before + 1, 30_000, 'the held call runs');
    return { held };
  }

  async function healthCheck(port: number): Promise<string> {
    const [outcome] = await pythonCalls(port, [{ path: HEALTH_CHECK, request: encodeMessage({}), timeout: 10 }]);
    expect(outcome.code, outcome.details).to.equal(grpc.status.OK);
    return servingStatus(outcome.replies[0]);
  }

  /** A grpc-js call of `path` that the test can cancel. */
  function jsCall(port: number, path: string, body: string, metadata = new grpc.Metadata()): { call: grpc.ClientUnaryCall; done: Promise<grpc.status> } {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    jsClients.push(client);
    let call!: grpc.ClientUnaryCall;
    const done = new Promise<grpc.status>((resolve) => {
      call = client.makeUnaryRequest(path, ident, ident, bytes(body), metadata, { deadline: Date.now() + 20_000 }, (err) => resolve(err ? err.code : grpc.status.OK));
    });
    return { call, done };
  }

  /**
   * A grpc-js channel, connected before it returns: at level ShedWork (which includes refusing
   * connections) only connections opened before can carry calls.
   */
  async function connectedChannel(port: number): Promise<{ unary(path: string, body: Buffer | string): Promise<{ code: grpc.status; details: string; reply?: Buffer }>; stream(path: string, body: string): Promise<{ code: grpc.status; details: string; replies: number }> }> {
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    jsClients.push(client);
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 20_000, (err) => (err ? reject(err) : resolve())));
    const options = (): grpc.CallOptions => ({ deadline: Date.now() + 20_000 });
    return {
      unary: (path, body) =>
        new Promise((resolve) =>
          client.makeUnaryRequest(path, ident, ident, typeof body === 'string' ? bytes(body) : body, new grpc.Metadata(), options(), (err, reply) =>
            resolve(err ? { code: err.code, details: err.details } : { code: grpc.status.OK, details: '', reply }),
          ),
        ),
      stream: (path, body) =>
        new Promise((resolve) => {
          let replies = 0;
          const call = client.makeServerStreamRequest(path, ident, ident, bytes(body), new grpc.Metadata(), options());
          call.on('data', () => replies++);
          call.on('error', (err: grpc.ServiceError) => resolve({ code: err.code, details: err.details, replies }));
          call.on('status', (st: grpc.StatusObject) => {
            if (st.code === grpc.status.OK) resolve({ code: st.code, details: st.details, replies });
          });
        }),
    };
  }

  it('issue 14: a unary call over a static limit of 1 gets RESOURCE_EXHAUSTED naming the reason before its handler runs; it is no request, no error, and Health/Check stays SERVING', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1 });
    const { held } = await holdOne(port);
    const [shed] = await pythonCalls(port, [call(WORK, 'over')]);
    expect(shed.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(shed.details).to.match(/overloaded/).and.to.match(/\blimit\b/);
    expect(runs.Work, 'the shed call never reached its handler').to.equal(1);
    // The core reports the pool OVERLOADED while it sheds...
    expect(pool.getHealth().status).to.equal(PoolHealthStatus.Overloaded);
    // ...but the standard health service (critical by default, so it passes the busy limit) stays
    // SERVING: shedding protects the replica, it is not a fault to take it out of rotation for.
    expect(await healthCheck(port)).to.equal('SERVING');
    release!();
    const [ok] = await held;
    expect(ok.code).to.equal(grpc.status.OK);

    await until(() => pool.getMethod(WORK)?.calls === 2, 5000, 'both Work calls recorded');
    const work = pool.getMethod(WORK)!;
    // The client saw RESOURCE_EXHAUSTED: the per-code counter says so; it is never a server fault.
    expect(work.codes).to.deep.equal({ OK: 1, RESOURCE_EXHAUSTED: 1 });
    expect(work).to.include({ errors: 0, inFlight: 0 });
    // Requests of the pool: the held call and the health check; the shed call is the controller's.
    expect(pool.getMetrics().requests).to.include({ total: 2, failed: 0, inFlight: 0 });
    expect(pool.getMetrics().overload).to.deep.include({ inFlight: 0, queued: 0 });
    expect(pool.getMetrics().overload!.shed).to.include({ limit: 1 });
  });

  it('issue 14: a shed call carries grpc-retry-pushback-ms (overload.shed.retryAfter x 1000): grpcio with a retry policy of 20 s backoff retries about 1 s later, and the retry is served', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1, shed: { retryAfter: 1 } });
    const { held } = await holdOne(port);
    const retryPolicy = { maxAttempts: 2, initialBackoff: '20s', maxBackoff: '20s', backoffMultiplier: 1, retryableStatusCodes: ['RESOURCE_EXHAUSTED'] };
    const serviceConfig = { methodConfig: [{ name: [{ service: 'test.Load', method: 'Work' }], retryPolicy }] };
    const retried = pythonCalls(port, [call(WORK, 'again')], { serviceConfig });
    await until(() => pool.getMetrics().overload!.shed.limit === 1, 30_000, 'the first attempt is shed');
    const shedAt = performance.now();
    release!();
    expect((await held)[0].code).to.equal(grpc.status.OK);
    const [outcome] = await retried;
    const waited = performance.now() - shedAt;
    expect(outcome.code, outcome.details).to.equal(grpc.status.OK);
    expect(runs.Work, 'the held call and the retry').to.equal(2);
    expect(waited, 'the client waited for the pushback').to.be.at.least(800);
    expect(waited, 'and not for its own 0-20 s backoff').to.be.below(2500);
  });

  it('issue 14: the pushback is in the shed call\'s trailers as grpc-js reads them; retryAfter 0 sends none', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1, shed: { retryAfter: 3 } });
    await holdOne(port);
    const trailers = async (): Promise<grpc.StatusObject> => {
      const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1, 'grpc.enable_retries': 0 });
      jsClients.push(client);
      return new Promise((resolve) => {
        const c = client.makeUnaryRequest(WORK, ident, ident, bytes('over'), new grpc.Metadata(), { deadline: Date.now() + 20_000 }, () => undefined);
        c.on('status', resolve);
      });
    };
    const first = await trailers();
    expect(first.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(first.metadata.get('grpc-retry-pushback-ms')).to.deep.equal(['3000']);
    pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1, shed: { retryAfter: 0 } } });
    const second = await trailers();
    expect(second.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(second.metadata.get('grpc-retry-pushback-ms')).to.deep.equal([]);
  });

  it('issue 14: overload.shed.grpcStatus UNAVAILABLE answers shed calls with UNAVAILABLE, still not a server fault', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1, shed: { grpcStatus: 'UNAVAILABLE' } });
    const { held } = await holdOne(port);
    const shed = await pythonCalls(port, [call(WORK, 'a'), call(WORK, 'b')]);
    expect(shed.map((o) => o.code)).to.deep.equal([grpc.status.UNAVAILABLE, grpc.status.UNAVAILABLE]);
    expect(shed[0].details).to.match(/overloaded/);
    release!();
    await held;
    await until(() => pool.getMethod(WORK)?.calls === 3, 5000, 'calls recorded');
    expect(pool.getMethod(WORK)).to.deep.include({ errors: 0, codes: { OK: 1, UNAVAILABLE: 2 } });
    expect(pool.getMetrics().requests).to.include({ total: 1, failed: 0 });
    expect(runs.Work).to.equal(1);
  });

  it('issue 14: a queued call waits for the slot, then runs; one that waits past queue.timeout gets the shed status (queue_timeout) and its handler never runs', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 60_000 } });
    let { held } = await holdOne(port);
    const waiting = pythonCalls(port, [call(WORK, 'queued')]);
    await until(() => pool.getMetrics().overload!.queued === 1, 10_000, 'the call is queued');
    expect(runs.Work).to.equal(1);
    release!();
    const [[first], [second]] = await Promise.all([held, waiting]);
    expect(first.code).to.equal(grpc.status.OK);
    expect(second).to.deep.include({ code: grpc.status.OK, replies: [bytes('queued').toString('hex')] });
    expect(runs.Work).to.equal(2);
    expect(pool.getMetrics().overload!.queueWait.count).to.equal(1);

    // A short queue timeout: the next queued call is shed once it expires.
    pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 300 } } });
    ({ held } = await holdOne(port));
    const [late] = await pythonCalls(port, [call(WORK, 'too late')]);
    expect(late.code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    expect(late.details).to.match(/queue_timeout/);
    expect(runs.Work).to.equal(3);
    release!();
    await held;
    await until(() => pool.getMethod(WORK)?.calls === 4, 5000, 'calls recorded');
    expect(pool.getMethod(WORK)).to.deep.include({ errors: 0, inFlight: 0, codes: { OK: 3, RESOURCE_EXHAUSTED: 1 } });
    expect(pool.getMetrics().requests).to.include({ total: 3, failed: 0, inFlight: 0 });
    expect(pool.getMetrics().overload!.shed).to.include({ queue_timeout: 1 });
  });

  it('issue 14: a client deadline or cancel while queued takes the call out of the queue: no handler, no request, nothing left behind', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1, queue: { size: 4, timeout: 60_000 } });
    const { held } = await holdOne(port);
    // grpcio with a 1 s deadline: the call waits in the queue until the deadline passes.
    const [expired] = await pythonCalls(port, [call(WORK, 'deadline', { timeout: 1 })]);
    expect(expired.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    await until(() => pool.getMetrics().overload!.queued === 0, 5000, 'the expired call left the queue');
    // grpc-js, cancelled by its client while queued.
    const cancelled = jsCall(port, WORK, 'cancel me');
    await until(() => pool.getMetrics().overload!.queued === 1, 10_000, 'the call is queued');
    cancelled.call.cancel();
    expect(await cancelled.done).to.equal(grpc.status.CANCELLED);
    await until(() => pool.getMetrics().overload!.queued === 0, 5000, 'the cancelled call left the queue');
    release!();
    await held;
    // The slot is free again: nothing queued took it.
    const [after] = await pythonCalls(port, [call(WORK, 'after')]);
    expect(after.code).to.equal(grpc.status.OK);
    expect(runs.Work, 'neither queued call ran').to.equal(2);

    await until(() => pool.getMethod(WORK)?.calls === 4, 5000, 'calls recorded');
    expect(pool.getMethod(WORK)).to.deep.include({ errors: 0, inFlight: 0, codes: { OK: 2, CANCELLED: 1, DEADLINE_EXCEEDED: 1 } });
    const metrics = pool.getMetrics();
    expect(metrics.requests).to.include({ total: 2, failed: 0, inFlight: 0 });
    expect(metrics.overload).to.deep.include({ inFlight: 0, queued: 0 });
    expect(metrics.overload!.shed).to.deep.equal({ limit: 0, queue_full: 0, queue_timeout: 0, pressure: 0 });
  });

  it('issue 14: streaming calls are never held by the concurrency limit; at pressure level ShedWork they get the shed status before their handler', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1 });
    const { held } = await holdOne(port);
    // The limit is busy, yet a stream runs.
    const [running] = await pythonCalls(port, [call(FEED, 'go', { stream: true })]);
    expect(running.code).to.equal(grpc.status.OK);
    expect(running.replies).to.have.length(2);
    expect(runs.Feed).to.equal(1);

    // ShedWork refuses new connections too: the next calls ride a connection opened before.
    const channel = await connectedChannel(port);
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);
    const shed = await channel.stream(FEED, 'no');
    expect(shed).to.include({ code: grpc.status.RESOURCE_EXHAUSTED, replies: 0 });
    expect(shed.details).to.match(/pressure/);
    expect(runs.Feed, 'the shed stream never reached its handler').to.equal(1);
    // Health/Check is critical: answered, and SERVING although the pool is OVERLOADED.
    expect(pool.getHealth().status).to.equal(PoolHealthStatus.Overloaded);
    const health = await channel.unary(HEALTH_CHECK, encodeMessage({}));
    expect(health.code).to.equal(grpc.status.OK);
    expect(servingStatus(health.reply!.toString('hex'))).to.equal('SERVING');
    release!();
    await held;
    await until(() => pool.getMethod(FEED)?.calls === 2, 5000, 'streams recorded');
    expect(pool.getMethod(FEED)).to.deep.include({ errors: 0, inFlight: 0, codes: { OK: 1, RESOURCE_EXHAUSTED: 1 } });
    expect(pool.getMetrics().streams).to.include({ total: 1, failed: 0, inFlight: 0 });
    expect(pool.getMetrics().overload!.shed).to.include({ pressure: 1 });
  });

  it('issue 14: under a busy static limit of 1, a method in overload.criticalPaths and grpc.health.v1 Health/Check get through while another method gets RESOURCE_EXHAUSTED', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1, criticalPaths: [VITAL] });
    const { held } = await holdOne(port);
    const outcomes = await pythonCalls(port, [call(WORK, 'normal'), call(VITAL, 'critical'), { path: HEALTH_CHECK, request: encodeMessage({}), timeout: 10 }]);
    expect(outcomes.map((o) => o.code)).to.deep.equal([grpc.status.RESOURCE_EXHAUSTED, grpc.status.OK, grpc.status.OK]);
    expect(servingStatus(outcomes[2].replies[0])).to.equal('SERVING');
    expect(runs).to.include({ Work: 1, Vital: 1 });
    // The same under pressure (on a connection opened before: ShedWork refuses new ones): critical
    // work is never shed for it.
    const channel = await connectedChannel(port);
    pool.workAdmission!.setPressureLevel(PressureLevel.ShedWork);
    const underPressure = await Promise.all([channel.unary(WORK, 'normal'), channel.unary(VITAL, 'critical')]);
    expect(underPressure.map((o) => o.code)).to.deep.equal([grpc.status.RESOURCE_EXHAUSTED, grpc.status.OK]);
    release!();
    await held;
    expect(pool.getMetrics().overload!.shed).to.include({ limit: 1, pressure: 1 });
  });

  it('issue 14: a subclass override of priority(call) reads the method path and metadata: a call marked critical gets through a busy limit; one whose priority() throws ranks normal', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1 }, [MetadataPriorityServer]);
    const { held } = await holdOne(port);
    const outcomes = await pythonCalls(port, [call(WORK, 'plain'), call(WORK, 'marked', { metadata: [['x-priority', 'critical']] }), call(WORK, 'bug', { metadata: [['x-priority', 'boom']] })]);
    expect(outcomes.map((o) => o.code)).to.deep.equal([grpc.status.RESOURCE_EXHAUSTED, grpc.status.OK, grpc.status.RESOURCE_EXHAUSTED]);
    expect(runs.Work).to.equal(2);
    expect(pool.getMetrics().errors.byType).to.deep.include({ priority: 1 });
    release!();
    await held;
  });

  it('issue 14: at level CloseKeepAlive a connection gets GOAWAY once its call ends; the client reconnects for the next call', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 10 });
    const removed: string[] = [];
    pool.events.on(ConnectionPoolEvent.ConnectionRemoved, ({ reason }) => removed.push(reason));
    const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
    jsClients.push(client);
    const unaryCall = (body: string): Promise<grpc.status> =>
      new Promise((resolve) => client.makeUnaryRequest(WORK, ident, ident, bytes(body), new grpc.Metadata(), { deadline: Date.now() + 20_000 }, (err) => resolve(err ? err.code : grpc.status.OK)));
    expect(await unaryCall('one')).to.equal(grpc.status.OK);
    expect(await unaryCall('two')).to.equal(grpc.status.OK);
    expect(pool.getMetrics().totalConnections).to.equal(1);

    pool.workAdmission!.setPressureLevel(PressureLevel.CloseKeepAlive);
    expect(await unaryCall('three')).to.equal(grpc.status.OK);
    await until(() => removed.length === 1, 5000, 'the connection closed after its call');
    expect(removed).to.deep.equal(['overloaded']);
    expect(await unaryCall('four')).to.equal(grpc.status.OK);
    expect(pool.getMetrics().totalConnections).to.equal(2);
    expect(runs.Work).to.equal(4);
    // Python: a call at this level is answered in full, then its connection goes.
    const [py] = await pythonCalls(port, [call(WORK, 'five')]);
    expect(py.code).to.equal(grpc.status.OK);
    await until(() => removed.length === 3, 5000, 'both connections closed');
  });

  it('issue 14: at level RefuseConnections a new connection is refused as overloaded (grpcio sees UNAVAILABLE); connections already open keep working', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 10 });
    const rejected: string[] = [];
    pool.events.on(ConnectionPoolEvent.ConnectionRejected, ({ reason }) => rejected.push(reason));
    const open = jsCall(port, WORK, 'before');
    expect(await open.done).to.equal(grpc.status.OK);

    pool.workAdmission!.setPressureLevel(PressureLevel.RefuseConnections);
    const [refused] = await pythonCalls(port, [call(WORK, 'new connection', { timeout: 10 })], { connectFirst: false });
    expect(refused.code, refused.details).to.equal(grpc.status.UNAVAILABLE);
    expect(rejected.length).to.be.at.least(1);
    expect(new Set(rejected)).to.deep.equal(new Set(['overloaded']));
    expect(pool.getMetrics().rejected.byReason.overloaded).to.equal(rejected.length);
    expect(runs.Work).to.equal(1);

    pool.workAdmission!.setPressureLevel(PressureLevel.None);
    const [later] = await pythonCalls(port, [call(WORK, 'later')]);
    expect(later.code).to.equal(grpc.status.OK);
  });

  it('issue 14: a live update of the overload block (pool.updateConfig) takes effect on the next call', async () => {
    const { pool, port } = await start({ limiter: 'static', maxConcurrency: 1 });
    const { held } = await holdOne(port);
    expect((await pythonCalls(port, [call(WORK, 'a')]))[0].code).to.equal(grpc.status.RESOURCE_EXHAUSTED);
    pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1, shed: { grpcStatus: 'UNAVAILABLE' } } });
    expect((await pythonCalls(port, [call(WORK, 'b')]))[0].code).to.equal(grpc.status.UNAVAILABLE);
    pool.updateConfig({ overload: { limiter: 'static', maxConcurrency: 1, criticalPaths: [WORK] } });
    expect((await pythonCalls(port, [call(WORK, 'c')]))[0].code).to.equal(grpc.status.OK);
    pool.updateConfig({ overload: { limiter: 'none' } });
    expect((await pythonCalls(port, [call(WORK, 'd')]))[0].code).to.equal(grpc.status.OK);
    expect(pool.admitsWork).to.equal(false);
    release!();
    await held;
    expect(runs.Work).to.equal(3);
  });
});
