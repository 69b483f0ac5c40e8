import 'reflect-metadata';
import { expect } from 'chai';
import { ConfigLoader, ConfigValidationError, WebSocketConnectionPool, WebSocketPoolConfig, validateSection } from '../../src';
import { PROTOCOLS } from '../../src/protocols';

function problems(plain: Record<string, unknown>): string[] {
  return validateSection(WebSocketPoolConfig, plain, 'ws').problems.map((p) => `${p.path}: ${p.message}`);
}

describe('WebSocketPoolConfig (section ws)', () => {
  it('has working defaults: port 3001, path /ws, heartbeat 30 s / 10 s, first-message timeout off', () => {
    const { value, problems: found } = validateSection(WebSocketPoolConfig, {}, 'ws');
    expect(found).to.deep.equal([]);
    expect(value).to.include({ port: 3001, host: '127.0.0.1', path: '/ws', pingInterval: 30_000, pongTimeout: 10_000, connectionTimeout: 0, maxConnections: 10_000 });
    expect(value!.maxBufferedAmount).to.be.at.least(value!.maxPayload);
  });

  it('is a known section of the application', () => {
    expect(PROTOCOLS.find((p) => p.section === 'ws')?.configClass).to.equal(WebSocketPoolConfig);
  });

  it('lists every bad key at once, each with its path', () => {
    const found = problems({ port: 70_000, path: 'ws', pingInterval: 0, maxPayload: 0, handshakeTimeout: -1, bogus: 1 });
    expect(found).to.include('ws.port: must not be greater than 65535');
    expect(found.some((p) => p.startsWith('ws.path: must start with /'))).to.equal(true);
    expect(found).to.include('ws.pingInterval: must not be less than 10');
    expect(found).to.include('ws.maxPayload: must not be less than 1');
    expect(found).to.include('ws.handshakeTimeout: must not be less than 1');
    expect(found).to.include('ws.bogus: is not a known key');
  });

  it('refuses a path with a query or spaces', () => {
    expect(problems({ path: '/ws?x=1' })).to.have.length(1);
    expect(problems({ path: '/w s' })).to.have.length(1);
    expect(problems({ path: '/live/feed' })).to.deep.equal([]);
  });

  it('refuses pongTimeout over pingInterval (a dead peer would outlive two pings)', () => {
    expect(problems({ pingInterval: 1000, pongTimeout: 2000 })).to.deep.equal(['ws.pongTimeout: must not be greater than pingInterval (1000)']);
    expect(problems({ pingInterval: 1000, pongTimeout: 1000 })).to.deep.equal([]);
  });

  it('refuses maxBufferedAmount under maxPayload', () => {
    const found = problems({ maxPayload: 2_000_000, maxBufferedAmount: 1_000_000 });
    expect(found).to.have.length(1);
    expect(found[0]).to.match(/^ws\.maxBufferedAmount: must not be less than maxPayload \(2000000\)/);
  });

  it('takes environment overrides UNIPOOL_WS_<KEY>', () => {
    const loader = new ConfigLoader(new Map([['ws', WebSocketPoolConfig]]));
    const config = loader.load({ ws: { port: 0 } }, { UNIPOOL_WS_PING_INTERVAL: '5000', UNIPOOL_WS_PONG_TIMEOUT: '2000', UNIPOOL_WS_PATH: '/feed' });
    expect(config.get('ws')).to.include({ pingInterval: 5000, pongTimeout: 2000, path: '/feed', port: 0 });
  });

  it('reports env overrides that break a cross-field rule like any other problem', () => {
    const loader = new ConfigLoader(new Map([['ws', WebSocketPoolConfig]]));
    expect(() => loader.load({}, { UNIPOOL_WS_PONG_TIMEOUT: '60000' })).to.throw(ConfigValidationError, 'ws.pongTimeout: must not be greater than pingInterval (30000)');
  });
});

describe('WebSocketConnectionPool live config (no sockets)', () => {
  it('applies heartbeat and limit changes live; the pool owns the heartbeat keys, not the server ones (port, path, maxPayload)', () => {
    const pool = new WebSocketConnectionPool();
    pool.configure(validateSection(WebSocketPoolConfig, { port: 0 }, 'ws').value!);
    const result = pool.updateConfig({ pingInterval: 2000, pongTimeout: 500, maxBufferedAmount: 8_388_608, closeTimeout: 100 });
    expect(result.applied.sort()).to.deep.equal(['closeTimeout', 'maxBufferedAmount', 'pingInterval', 'pongTimeout']);
    expect(pool.config).to.include({ pingInterval: 2000, pongTimeout: 500, maxBufferedAmount: 8_388_608, port: 0 });
    expect(() => pool.updateConfig({ port: 4000, path: '/x', maxPayload: 10 })).to.throw(ConfigValidationError, /ws\.port: is a setting of each server[\s\S]*ws\.path[\s\S]*ws\.maxPayload/);
    pool.destroy();
  });

  it('rejects an update that breaks a cross-field rule and keeps the old config', () => {
    const pool = new WebSocketConnectionPool();
    expect(() => pool.updateConfig({ pongTimeout: 60_000 })).to.throw(ConfigValidationError, 'ws.pongTimeout');
    expect(pool.config.pongTimeout).to.equal(10_000);
    pool.destroy();
  });

  it('reports zeroed WebSocket metrics before any traffic', () => {
    const pool = new WebSocketConnectionPool();
    const m = pool.getMetrics();
    expect(m.protocol).to.equal('ws');
    expect(m.websocket).to.deep.equal({
      messagesIn: 0,
      messagesOut: 0,
      payloadBytesIn: 0,
      payloadBytesOut: 0,
      broadcasts: 0,
      broadcastSkipped: 0,
      pingsSent: 0,
      pongTimeouts: 0,
      slowConsumersClosed: 0,
      oversizedMessages: 0,
      messagesShed: 0,
      closeCodes: {},
    });
    pool.destroy();
  });
});

describe('WebSocketPoolConfig.attachTo (issue 12)', () => {
  const loader = () => new ConfigLoader(new Map(PROTOCOLS.map((p) => [p.section, p.configClass])), new Set());

  it('issue 12 attachTo: REST and /ws on one port is no longer refused as "ws.port: is already used by http.port"', () => {
    const config = loader().load({ http: { port: 3001 }, ws: { attachTo: 'http' } }, {});
    expect((config.get('ws') as WebSocketPoolConfig).attachTo).to.equal('http');
    // Two listeners on one port are still refused.
    expect(() => loader().load({ http: { port: 3000 }, ws: { port: 3000 } }, {})).to.throw(ConfigValidationError, 'ws.port: is already used by http.port');
  });

  it('issue 12 attachTo: takes a section name (also from UNIPOOL_WS_ATTACH_TO); absent, the server listens on its own', () => {
    expect(validateSection(WebSocketPoolConfig, {}, 'ws').value!.attachTo).to.equal(undefined);
    expect(problems({ attachTo: 'http' })).to.deep.equal([]);
    expect(problems({ attachTo: 'public-api_2' })).to.deep.equal([]);
    expect(problems({ attachTo: '' })).to.have.length(1);
    expect(problems({ attachTo: 'http.port' })).to.have.length(1);
    expect(problems({ attachTo: 3000 })).to.deep.equal(['ws.attachTo: must be a string']);
    const fromEnv = loader().load({ http: {} }, { UNIPOOL_WS_ATTACH_TO: 'http' });
    expect((fromEnv.get('ws') as WebSocketPoolConfig).attachTo).to.equal('http');
  });

  it('issue 12 attachTo: host and port must be left out of an attached section', () => {
    expect(problems({ attachTo: 'http', port: 3000 })).to.deep.equal(["ws.port: must be left out when attachTo is set: upgrades arrive on the listener of section 'http'"]);
    expect(problems({ attachTo: 'http', host: '0.0.0.0' })).to.deep.equal(["ws.host: must be left out when attachTo is set: upgrades arrive on the listener of section 'http'"]);
  });
});
