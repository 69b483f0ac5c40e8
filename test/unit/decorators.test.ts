import 'reflect-metadata';
import { expect } from 'chai';
import { HealthThresholds, ServerPoolSettings, ShutdownConfig } from '../../src/config/pool-config';
import { ConnectionPoolManager } from '../../src/core/connection-pool-manager';
import type { PooledConnection } from '../../src/core/pooled-connection';
import { PoolConfig, UsePool, poolConfigParameters, usedPool } from '../../src/di/decorators';
import { USE_POOL_METADATA, configToken } from '../../src/di/tokens';
import { ConfigValidationError, DecoratorError, LifecycleStateError } from '../../src/errors';
import { ConnectionPoolEvent } from '../../src/core/pool-events';
import { createApp, type Application, type ServerClass } from '../../src/lifecycle/application';
import { CapturingLogger, createTestApp, overridePool } from '../../src/testing';
import { FakePool, type FakeConn } from '../helpers/fake-pool';
import { FakeServerBase } from '../helpers/fake-server';

class OtherPool extends ConnectionPoolManager<FakeConn, ServerPoolSettings> {
  readonly protocol = 'other';
  constructor() {
    super(ServerPoolSettings);
  }
  protected closeConnection(conn: PooledConnection<FakeConn>): void {
    this.remove(conn);
  }
  protected destroyConnection(conn: PooledConnection<FakeConn>): void {
    this.remove(conn);
  }
}

class SpecialPool extends FakePool {}

class FakeSettings extends ServerPoolSettings {}

@UsePool(FakePool)
class AlphaServer extends FakeServerBase {
  constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
    super(config);
  }
}

@UsePool(FakePool)
class BetaServer extends FakeServerBase {
  constructor(@PoolConfig(ServerPoolSettings, 'fake2') config: ServerPoolSettings) {
    super(config);
  }
}

const SECTIONS = { fake: ServerPoolSettings, fake2: ServerPoolSettings };

/** The decorators as a plain JS user calls them: no types stop a misuse there, so the runtime errors must. */
const UsePoolJs = UsePool as unknown as (poolClass: unknown, section?: unknown) => ClassDecorator;
const PoolConfigJs = PoolConfig as unknown as (configClass: unknown, section: unknown) => ParameterDecorator;

/** Runs `fn`, expecting a DecoratorError; returns its message. */
function decoratorError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(DecoratorError);
    expect((err as DecoratorError).code).to.equal('UNIPOOL_DECORATOR_INVALID');
    return (err as Error).message;
  }
  throw new Error('expected a DecoratorError');
}

function app(servers: readonly ServerClass[], extra: Record<string, unknown> = {}): Application {
  return createApp({ servers, sections: SECTIONS, logger: new CapturingLogger(), env: {}, handleSignals: false, ...extra });
}

describe('decorators', () => {
  describe('@UsePool', () => {
    it('records the pool class and injects it as `pool`', () => {
      expect(usedPool(AlphaServer)).to.equal(FakePool);
      expect(usedPool(class Undecorated {})).to.equal(undefined);
    });

    it('rejects anything that is not a pool class, at decoration time', () => {
      expect(decoratorError(() => UsePoolJs(class NotAPool {}))).to.equal('@UsePool expects a pool class (a subclass of ConnectionPoolManager), got class NotAPool');
      expect(decoratorError(() => UsePoolJs(undefined))).to.contain('got undefined undefined');
      expect(decoratorError(() => UsePoolJs(null))).to.contain('got null');
      expect(decoratorError(() => UsePoolJs({}))).to.contain('got an object');
      expect(decoratorError(() => UsePoolJs('FakePool'))).to.contain('got string FakePool');
      expect(decoratorError(() => UsePoolJs(ServerPoolSettings))).to.contain('class ServerPoolSettings');
    });

    it('fails while the decorated class is being defined', () => {
      decoratorError(() => {
        @UsePoolJs(class NotAPool {})
        class Server extends FakeServerBase {}
        return Server;
      });
    });
  });

  describe('@PoolConfig', () => {
    it('records the section and config class of the constructor parameter', () => {
      expect(poolConfigParameters(AlphaServer)).to.deep.equal([{ index: 0, section: 'fake', configClass: ServerPoolSettings }]);
      expect(poolConfigParameters(class Undecorated {})).to.deep.equal([]);
    });

    it('rejects a class that is not a config class', () => {
      expect(decoratorError(() => PoolConfigJs(class NotConfig {}, 'http'))).to.equal('@PoolConfig expects a config class with class-validator decorators, got class NotConfig');
      expect(decoratorError(() => PoolConfigJs(undefined, 'http'))).to.contain('got undefined');
      expect(decoratorError(() => PoolConfigJs({ maxConnections: 1 }, 'http'))).to.contain('got an object');
    });

    it('rejects a bad section name', () => {
      for (const bad of ['', 'HTTP', '1http', 'my-section', 'a.b', ' http']) {
        expect(decoratorError(() => PoolConfigJs(ServerPoolSettings, bad)), bad).to.contain("expects a section name such as 'http'");
      }
      expect(decoratorError(() => PoolConfigJs(ServerPoolSettings, 5 as unknown as string))).to.contain('got number 5');
      expect(() => PoolConfigJs(ServerPoolSettings, 'myApi2')).to.not.throw();
    });

    it('goes on a constructor parameter only', () => {
      const message = decoratorError(() => {
        class Server {
          method(@PoolConfigJs(ServerPoolSettings, 'fake') _config: ServerPoolSettings): void {}
        }
        return Server;
      });
      expect(message).to.contain('goes on a constructor parameter, not on method method');
    });
  });
});

describe('Application decorator checks (createApp)', () => {
  it('accepts well-decorated servers', () => {
    expect(() => app([AlphaServer, BetaServer])).to.not.throw();
  });

  it('rejects a server without @UsePool', () => {
    class NoPool extends FakeServerBase {
      constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
        super(config);
      }
    }
    expect(decoratorError(() => app([NoPool]))).to.equal('NoPool is not decorated with @UsePool(PoolClass)');
  });

  it('rejects a pool that is not a pool class even when the decorator was bypassed', () => {
    class Sneaky extends FakeServerBase {
      constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
        super(config);
      }
    }
    Reflect.defineMetadata(USE_POOL_METADATA, class NotAPool {}, Sneaky);
    expect(decoratorError(() => app([Sneaky]))).to.equal('Sneaky uses @UsePool(NotAPool), but its server type needs FakePool or a subclass of it');
  });

  it('rejects a pool whose type does not match the server', () => {
    @UsePoolJs(OtherPool)
    class Mismatch extends FakeServerBase {
      constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
        super(config);
      }
    }
    expect(decoratorError(() => app([Mismatch]))).to.contain('Mismatch uses @UsePool(OtherPool), but its server type needs FakePool or a subclass of it');
  });

  it('accepts a subclass of the pool type', () => {
    @UsePool(SpecialPool)
    class Special extends FakeServerBase {
      constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
        super(config);
      }
    }
    expect(() => app([Special])).to.not.throw();
  });

  it('rejects an unknown section and names the known ones', () => {
    @UsePool(FakePool)
    class Unknown extends FakeServerBase {
      constructor(@PoolConfigJs(ServerPoolSettings, 'nosuch') config: ServerPoolSettings) {
        super(config);
      }
    }
    const message = decoratorError(() => app([Unknown]));
    expect(message).to.match(/Unknown: @PoolConfig section 'nosuch' is not a known section \(known: http, [a-z0-9, ]*shutdown, [a-z0-9, ]*fake, fake2;/);
  });

  it('rejects a config class that does not fit the section', () => {
    @UsePool(FakePool)
    class WrongClass extends FakeServerBase {
      constructor(@PoolConfigJs(ShutdownConfig, 'fake') config: ServerPoolSettings) {
        super(config);
      }
    }
    expect(decoratorError(() => app([WrongClass]))).to.equal("WrongClass: @PoolConfig(ShutdownConfig, 'fake') must use ServerPoolSettings or a subclass of it for section 'fake'");
  });

  it('issue 12 types: a server with no @PoolConfig parameter and no section to default to is told how to name one', () => {
    @UsePool(FakePool)
    class NoConfig extends FakeServerBase {}
    expect(decoratorError(() => app([NoConfig]))).to.equal(
      "NoConfig names no config section: use @UsePool(FakePool, 'section') or a constructor parameter decorated with @PoolConfig(ConfigClass, 'section')",
    );
  });

  it('issue 12 types: two @PoolConfig parameters are refused (a server reads one section)', () => {
    @UsePool(FakePool)
    class TwoConfigs extends FakeServerBase {
      constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings, @PoolConfig(ServerPoolSettings, 'fake2') _other: ServerPoolSettings) {
        super(config);
      }
    }
    expect(decoratorError(() => app([TwoConfigs]))).to.equal('TwoConfigs has 2 constructor parameters decorated with @PoolConfig; a server reads one section');
  });

  it('issue 12 types: a class-level section that is not known is refused at createApp (a JS user has no types)', () => {
    @UsePoolJs(FakePool, 'nosuch')
    class Unknown extends FakeServerBase {}
    expect(decoratorError(() => app([Unknown as unknown as ServerClass]))).to.match(/^Unknown: @UsePool section 'nosuch' is not a known section \(known: http, /);
  });

  it('issue 12 types: @UsePool and @PoolConfig naming different sections fail at decoration', () => {
    const message = decoratorError(() => {
      @UsePool(FakePool, 'fake2')
      class Split extends FakeServerBase {
        constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
          super(config);
        }
      }
      return Split;
    });
    expect(message).to.equal("Split: @UsePool(FakePool, 'fake2') and @PoolConfig(ServerPoolSettings, 'fake') name different sections");
  });

  it('issue 12 types: a JS user passing a bad section to @UsePool gets the runtime error', () => {
    expect(decoratorError(() => UsePoolJs(FakePool, 'my-section'))).to.equal("@UsePool(FakePool, ...) expects a section name such as 'http', got string my-section");
    expect(decoratorError(() => UsePoolJs(FakePool, 7))).to.contain('got number 7');
  });

  it('rejects two servers reading one section as different classes', () => {
    @UsePool(FakePool)
    class Narrow extends FakeServerBase {
      constructor(@PoolConfig(FakeSettings, 'fake') config: ServerPoolSettings) {
        super(config);
      }
    }
    expect(decoratorError(() => app([AlphaServer, Narrow]))).to.contain("Narrow: section 'fake' is already read as ServerPoolSettings by another server");
  });

  it('rejects a class that is not a server, and an empty server list', () => {
    expect(decoratorError(() => app([HealthThresholds as unknown as ServerClass]))).to.contain('HealthThresholds is not a server class');
    expect(decoratorError(() => app([]))).to.contain('createApp needs at least one server class');
  });

  it('lists every misuse in one error', () => {
    class NoPool extends FakeServerBase {
      constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
        super(config);
      }
    }
    @UsePoolJs(OtherPool)
    class Mismatch extends FakeServerBase {
      constructor(@PoolConfigJs(ServerPoolSettings, 'nosuch') config: ServerPoolSettings) {
        super(config);
      }
    }
    const message = decoratorError(() => app([NoPool, Mismatch]));
    expect(message).to.match(/^invalid server classes:\n/);
    expect(message).to.contain('  - NoPool is not decorated with @UsePool');
    expect(message).to.contain('  - Mismatch uses @UsePool(OtherPool)');
    expect(message).to.contain("  - Mismatch: @PoolConfig section 'nosuch'");
  });
});

describe('Application container', () => {
  let running: Application | undefined;

  afterEach(async () => {
    if (running?.state === 'running') await running.stop();
    running = undefined;
  });

  it('binds pools as singletons: two servers naming one pool class share one instance (resolved without start)', () => {
    const a = app([AlphaServer, BetaServer]);
    a.container.bind(configToken('fake')).toConstantValue(new ServerPoolSettings());
    a.container.bind(configToken('fake2')).toConstantValue(new ServerPoolSettings());
    const alpha = a.container.get(AlphaServer);
    const beta = a.container.get(BetaServer);
    expect(alpha.pool).to.be.instanceOf(FakePool);
    expect(beta.pool).to.equal(alpha.pool);
    expect(a.container.get(FakePool)).to.equal(alpha.pool);
    expect(a.container.get(AlphaServer)).to.equal(alpha);
    expect(alpha.config).to.be.instanceOf(ServerPoolSettings);
  });

  it('starts two servers on one pool, configures it once from validated config, and stops cleanly', async () => {
    running = createTestApp({ servers: [AlphaServer, BetaServer], sections: SECTIONS, config: { fake: { maxConnections: 7 }, fake2: { maxConnections: 7 } } });
    await running.start();
    const alpha = running.server(AlphaServer);
    const beta = running.server(BetaServer);
    expect(beta.pool).to.equal(alpha.pool);
    expect(running.pools).to.deep.equal([alpha.pool]);
    expect(alpha.pool.config.maxConnections).to.equal(7);
    expect(alpha.config.maxConnections).to.equal(7);
    expect(alpha.pool.getHealth().status).to.equal('HEALTHY');
    const result = await running.stop();
    expect(result).to.deep.include({ ok: true, graceful: 0, forced: 0 });
  });

  it('drains a server through its pool', async () => {
    running = createTestApp({ servers: [AlphaServer], sections: SECTIONS });
    await running.start();
    const server = running.server(AlphaServer);
    const pool = server.pool;
    pool.add({ name: 'idle', closed: false, destroyed: false });
    expect(await server.drain(1000)).to.deep.include({ graceful: 1, forced: 0 });
    expect(pool.isDraining).to.equal(true);
  });

  it('refuses to share one pool between sections whose pool settings differ', async () => {
    running = createTestApp({ servers: [AlphaServer, BetaServer], sections: SECTIONS, config: { fake: { maxConnections: 7 }, fake2: { maxConnections: 8 } } });
    let error: unknown;
    await running.start().catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(ConfigValidationError);
    expect((error as ConfigValidationError).problems).to.deep.equal([
      {
        path: 'fake2.maxConnections',
        rule: 'sharedPool',
        message: 'fake.maxConnections (7) differs from fake2.maxConnections (8): servers AlphaServer and BetaServer share FakePool, whose settings (maxConnections, connectionTimeout, idleTimeout, health, overload) must be the same in both sections',
      },
    ]);
    expect(running.state).to.equal('failed');
  });

  it('lets a test rebind the pool class to a replacement class or instance before start', async () => {
    class RecordingPool extends FakePool {}
    running = createTestApp({ servers: [AlphaServer, BetaServer], sections: SECTIONS, pools: [[FakePool, RecordingPool]] });
    await running.start();
    expect(running.server(AlphaServer).pool).to.be.instanceOf(RecordingPool);
    expect(running.server(BetaServer).pool).to.equal(running.server(AlphaServer).pool);
    await running.stop();

    const instance = new FakePool();
    running = createTestApp({ servers: [AlphaServer], sections: SECTIONS });
    overridePool(running, FakePool, instance);
    await running.start();
    expect(running.server(AlphaServer).pool).to.equal(instance);
  });

  it('refuses a replacement that is not the pool type the server needs', async () => {
    running = createTestApp({ servers: [AlphaServer], sections: SECTIONS, pools: [[FakePool, OtherPool]] });
    let error: unknown;
    await running.start().catch((err: unknown) => (error = err));
    expect(error).to.be.instanceOf(DecoratorError);
    expect((error as Error).message).to.equal('AlphaServer received OtherPool from the container, which is not a FakePool');
  });
});

describe('Server pool and config: honest types, frozen copies', () => {
  let running: Application | undefined;

  afterEach(async () => {
    if (running?.state === 'running') await running.stop();
    running = undefined;
  });

  it('item 21: reading this.pool in a server constructor throws a coded LifecycleStateError; from onInit it is the pool', async () => {
    let seen: unknown;
    @UsePool(FakePool)
    class EagerServer extends FakeServerBase {
      poolInInit: unknown;
      constructor(@PoolConfig(ServerPoolSettings, 'fake') config: ServerPoolSettings) {
        super(config);
        try {
          seen = this.pool;
        } catch (err) {
          seen = err;
        }
      }
      onInit(): void {
        this.poolInInit = this.pool;
      }
    }
    running = createTestApp({ servers: [EagerServer], sections: SECTIONS });
    await running.start();
    expect(seen).to.be.instanceOf(LifecycleStateError);
    expect((seen as LifecycleStateError).code).to.equal('UNIPOOL_LIFECYCLE_STATE');
    expect((seen as Error).message).to.equal('EagerServer: this.pool is injected after the constructor; use it from onInit or later');
    const server = running.server(EagerServer);
    expect(server.poolInInit).to.be.instanceOf(FakePool);
    expect(server.poolInInit).to.equal(server.pool);
  });

  it('item 22: pool.config, server.config and app.config sections are deep-frozen copies; changes go through updateConfig', async () => {
    running = createTestApp({ servers: [AlphaServer], sections: SECTIONS, config: { fake: { maxConnections: 7 } } });
    await running.start();
    const server = running.server(AlphaServer);
    const pool = server.pool;
    for (const config of [pool.config, server.config, running.config?.get('fake')]) {
      expect(Object.isFrozen(config)).to.equal(true);
      expect(Object.isFrozen((config as ServerPoolSettings).health)).to.equal(true);
    }
    expect(() => {
      (pool.config as { maxConnections: number }).maxConnections = 0;
    }).to.throw(TypeError);
    expect(() => {
      (server.config.health as { minRequests: number }).minRequests = 0;
    }).to.throw(TypeError);
    expect(pool.config.maxConnections).to.equal(7);
    expect(pool.admissionRefusal()).to.equal(undefined);

    const before = pool.config;
    const events: unknown[] = [];
    pool.events.on(ConnectionPoolEvent.ConfigUpdated, (e) => events.push(e));
    expect(pool.updateConfig({ maxConnections: 3 }).applied).to.deep.equal(['maxConnections']);
    expect(events).to.have.length(1);
    expect(before.maxConnections, 'a copy handed out earlier does not change under its holder').to.equal(7);
    expect(pool.config.maxConnections).to.equal(3);
    expect(Object.isFrozen(pool.config)).to.equal(true);
  });

  it('item 22: a reload swaps frozen snapshots instead of writing into the boot instances', async () => {
    running = createTestApp({ servers: [AlphaServer], sections: SECTIONS, config: { fake: { maxConnections: 7 }, shutdown: { drainDelay: 0 } } });
    await running.start();
    const server = running.server(AlphaServer);
    const bootSection = server.config;
    const bootShutdown = running.config?.get('shutdown');
    const result = await running.reload({ fake: { maxConnections: 9 }, shutdown: { drainDelay: 5 } });
    expect(result.ok, JSON.stringify(result.problems)).to.equal(true);
    expect(result.applied).to.have.members(['fake.maxConnections', 'shutdown.drainDelay']);
    expect(bootSection.maxConnections).to.equal(7);
    expect((bootShutdown as ShutdownConfig).drainDelay).to.equal(0);
    expect(server.config.maxConnections).to.equal(9);
    expect(server.pool.config.maxConnections).to.equal(9);
    expect((running.config?.get('fake') as ServerPoolSettings).maxConnections).to.equal(9);
    expect((running.config?.get('shutdown') as ShutdownConfig).drainDelay).to.equal(5);
    for (const config of [server.config, server.pool.config, running.config?.get('fake'), running.config?.get('shutdown')]) expect(Object.isFrozen(config)).to.equal(true);
  });
});
