import 'reflect-metadata';
import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigLoader, readConfigFile, toEnvName } from '../../src/config/config-loader';
import { HealthThresholds, PoolSettings, ServerPoolSettings, ShutdownConfig } from '../../src/config/pool-config';
import { declaredKeys, isConfigClass, validateSection, withoutUndefined } from '../../src/config/validate-config';
import { ConfigLoadError, ConfigValidationError, formatProblem, type ConfigProblem } from '../../src/errors';
import { HttpPoolConfig } from '../../src/protocols/http/http-config';
import { HttpsPoolConfig } from '../../src/protocols/https/https-config';
import { GrpcPoolConfig } from '../../src/protocols/grpc/grpc-config';
import { jsonSyntaxError } from '../../src/config/json-syntax';
import { redactMessage } from '../../src/config/redact';

/** Runs `fn`, expecting it to throw `cls`; returns the error. */
function thrown<E extends Error>(cls: new (...args: never[]) => E, fn: () => unknown): E {
  try {
    fn();
  } catch (err) {
    expect(err).to.be.instanceOf(cls);
    return err as E;
  }
  throw new Error(`expected ${cls.name} to be thrown`);
}

const paths = (problems: readonly ConfigProblem[]): string[] => problems.map((p) => p.path);

describe('config validation (validateSection)', () => {
  it('applies every default to an absent or empty section', () => {
    for (const plain of [undefined, {}]) {
      const { value, problems } = validateSection(HttpPoolConfig, plain, 'http');
      expect(problems).to.deep.equal([]);
      expect(value).to.be.instanceOf(HttpPoolConfig);
      expect(value).to.deep.include({ host: '127.0.0.1', port: 3000, maxConnections: 1000, connectionTimeout: 10_000, idleTimeout: 0, keepAliveTimeout: 5000, headersTimeout: 60_000, requestTimeout: 300_000, retryAfter: 1 });
      expect(value!.health).to.be.instanceOf(HealthThresholds);
      expect(value!.health).to.deep.include({ degradedUtilization: 0.8, overloadedUtilization: 0.95, window: 60_000 });
    }
  });

  it('keeps given values and defaults the rest, nested ones too', () => {
    const { value } = validateSection(HttpPoolConfig, { maxConnections: 5, health: { minRequests: 3 } }, 'http');
    expect(value!.maxConnections).to.equal(5);
    expect(value!.port).to.equal(3000);
    expect(value!.health.minRequests).to.equal(3);
    expect(value!.health.degradedUtilization).to.equal(0.8);
  });

  it('does not let an explicit undefined erase a default, at any depth', () => {
    const { value, problems } = validateSection(HttpPoolConfig, { maxConnections: undefined, host: undefined, health: { degradedUtilization: undefined } }, 'http');
    expect(problems).to.deep.equal([]);
    expect(value!.maxConnections).to.equal(1000);
    expect(value!.host).to.equal('127.0.0.1');
    expect(value!.health.degradedUtilization).to.equal(0.8);
  });

  it('does not mutate the plain input', () => {
    const plain = { maxConnections: 5, idleTimeout: undefined, health: { minRequests: 2 } };
    validateSection(HttpPoolConfig, plain, 'http');
    expect(plain).to.deep.equal({ maxConnections: 5, idleTimeout: undefined, health: { minRequests: 2 } });
    expect('idleTimeout' in plain).to.equal(true);
  });

  it('reports unknown keys, top level and nested, as errors', () => {
    const { value, problems } = validateSection(HttpPoolConfig, { maxConections: 5, health: { bogus: 1 } }, 'http');
    expect(value).to.equal(undefined);
    expect(problems).to.deep.include({ path: 'http.maxConections', rule: 'whitelistValidation', message: 'is not a known key (did you mean `maxConnections`?)', value: 5 });
    expect(problems).to.deep.include({ path: 'http.health.bogus', rule: 'whitelistValidation', message: 'is not a known key', value: 1 });
  });

  it('issue 12 packaging: an unknown key one or two edits from a known key says "did you mean"', () => {
    const { problems } = validateSection(HttpPoolConfig, { maxConections: 5, idleTimout: 1, keepAliveTimeOutt: 1, bogus: 1, health: { windw: 1 } }, 'http');
    const messages = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(messages).to.deep.equal({
      'http.maxConections': 'is not a known key (did you mean `maxConnections`?)',
      'http.idleTimout': 'is not a known key (did you mean `idleTimeout`?)',
      'http.keepAliveTimeOutt': 'is not a known key (did you mean `keepAliveTimeout`?)',
      'http.bogus': 'is not a known key',
      'http.health.windw': 'is not a known key (did you mean `window`?)',
    });
  });

  it('lists every problem with its path, rule and the value received', () => {
    const { problems } = validateSection(HttpPoolConfig, { maxConnections: 0, host: '', idleTimeout: 1.5, health: { hysteresis: 2, window: 10 } }, 'http');
    expect(problems).to.deep.include({ path: 'http.maxConnections', rule: 'min', message: 'must not be less than 1', value: 0 });
    expect(problems).to.deep.include({ path: 'http.host', rule: 'minLength', message: 'must be longer than or equal to 1 characters', value: '' });
    expect(problems).to.deep.include({ path: 'http.idleTimeout', rule: 'isInt', message: 'must be an integer number', value: 1.5 });
    expect(problems).to.deep.include({ path: 'http.health.hysteresis', rule: 'max', message: 'must not be greater than 0.9', value: 2 });
    expect(problems).to.deep.include({ path: 'http.health.window', rule: 'min', message: 'must not be less than 1000', value: 10 });
    expect(formatProblem(problems.find((p) => p.path === 'http.maxConnections')!)).to.equal('http.maxConnections: must not be less than 1 (got 0)');
  });

  it('rejects a section that is not an object', () => {
    for (const bad of [null, 5, 'x', [1]]) {
      expect(validateSection(HttpPoolConfig, bad, 'http').problems).to.deep.equal([{ path: 'http', rule: 'isObject', message: 'must be an object', value: bad }]);
    }
  });

  it('rejects nested settings that are not an object (with a ConfigProblem, not a crash)', () => {
    for (const bad of [5, null, 'x', [], [{}]]) {
      const { value, problems } = validateSection(HttpPoolConfig, { health: bad }, 'http');
      expect(value, JSON.stringify(bad)).to.equal(undefined);
      expect(paths(problems), JSON.stringify(bad)).to.deep.equal(['http.health']);
      expect(problems[0].message).to.equal('must be an object');
    }
  });

  it('rejects null for a key instead of defaulting it', () => {
    const { problems } = validateSection(HttpPoolConfig, { maxConnections: null }, 'http');
    expect(paths(problems)).to.include('http.maxConnections');
  });

  describe('cross-field rules', () => {
    it('http: headersTimeout must not exceed requestTimeout', () => {
      const { problems } = validateSection(HttpPoolConfig, { headersTimeout: 2000, requestTimeout: 1000 }, 'http');
      expect(problems).to.deep.equal([{ path: 'http.headersTimeout', rule: 'crossField', message: 'must not be greater than requestTimeout (1000)', value: 2000 }]);
      expect(validateSection(HttpPoolConfig, { headersTimeout: 1000, requestTimeout: 1000 }, 'http').problems).to.deep.equal([]);
      // requestTimeout 0 turns the request timeout off, so no bound applies.
      expect(validateSection(HttpPoolConfig, { headersTimeout: 2000, requestTimeout: 0 }, 'http').problems).to.deep.equal([]);
    });

    it('health: each degraded threshold must not exceed its overloaded one', () => {
      const { problems } = validateSection(PoolSettings, { health: { degradedUtilization: 0.9, overloadedUtilization: 0.5, degradedErrorRate: 0.5, overloadedErrorRate: 0.1, degradedLatencyMs: 900, overloadedLatencyMs: 100 } }, 'ws');
      expect(paths(problems)).to.deep.equal(['ws.health.degradedUtilization', 'ws.health.degradedErrorRate', 'ws.health.degradedLatencyMs']);
      expect(problems[0]).to.deep.include({ rule: 'crossField', message: 'must not be greater than overloadedUtilization (0.5)', value: 0.9 });
      expect(validateSection(PoolSettings, { health: { degradedUtilization: 0.5, overloadedUtilization: 0.5 } }, 'ws').problems).to.deep.equal([]);
    });

    it('health cross-field problems are reported under the section of a subclass', () => {
      const { problems } = validateSection(HttpPoolConfig, { health: { degradedLatencyMs: 10, overloadedLatencyMs: 5 }, headersTimeout: 10, requestTimeout: 5 }, 'http');
      expect(paths(problems)).to.deep.equal(['http.health.degradedLatencyMs', 'http.headersTimeout']);
    });
  });

  it('withoutUndefined drops undefined keys deeply but keeps arrays, null and class instances', () => {
    const inst = new HealthThresholds();
    expect(withoutUndefined({ a: undefined, b: { c: undefined, d: 1 }, e: [{ f: undefined }], g: null, h: inst })).to.deep.equal({ b: { d: 1 }, e: [{}], g: null, h: inst });
    expect(withoutUndefined(5)).to.equal(5);
  });

  it('isConfigClass and declaredKeys read class-validator metadata', () => {
    expect(isConfigClass(HttpPoolConfig)).to.equal(true);
    expect(isConfigClass(class Plain {})).to.equal(false);
    expect(isConfigClass('http')).to.equal(false);
    expect(declaredKeys(ShutdownConfig)).to.have.members(['timeout', 'drainDelay', 'hookTimeout', 'exitDelay']);
    expect(declaredKeys(ServerPoolSettings)).to.include.members(['host', 'port', 'maxConnections', 'health']);
  });
});

describe('ConfigLoader', () => {
  const sections = new Map<string, new () => object>([
    ['http', HttpPoolConfig],
    ['admin', ServerPoolSettings],
    ['shutdown', ShutdownConfig],
  ]);
  let loader: ConfigLoader;
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'unipool-config-'));
  });

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    loader = new ConfigLoader(sections);
  });

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  it('loads a plain object, validating every section with defaults', () => {
    const config = loader.load({ http: { maxConnections: 7 } }, {});
    expect([...config.keys()]).to.deep.equal(['http', 'admin', 'shutdown']);
    expect(config.get('http')).to.be.instanceOf(HttpPoolConfig);
    expect((config.get('http') as HttpPoolConfig).maxConnections).to.equal(7);
    expect(config.get('shutdown')).to.deep.include({ timeout: 30_000, drainDelay: 0, hookTimeout: 10_000 });
  });

  it('loads every default from no source at all', () => {
    const config = loader.load(undefined, {});
    expect((config.get('http') as HttpPoolConfig).port).to.equal(3000);
  });

  it('validates only required sections when they are absent', () => {
    const partial = new ConfigLoader(sections, new Set(['shutdown']));
    const config = partial.load({ http: {} }, {});
    expect([...config.keys()]).to.deep.equal(['http', 'shutdown']);
  });

  it('does not let an explicit undefined erase a default and does not mutate the source', () => {
    const source = { http: { maxConnections: undefined, port: 8080 } };
    const config = loader.load(source, { UNIPOOL_HTTP_IDLE_TIMEOUT: '5' });
    expect(config.get('http')).to.deep.include({ maxConnections: 1000, port: 8080, idleTimeout: 5 });
    expect(source).to.deep.equal({ http: { maxConnections: undefined, port: 8080 } });
  });

  it('treats null in an object source like null in a JSON file: an error, not a default', () => {
    const fromObject = thrown(ConfigValidationError, () => loader.load({ http: { maxConnections: null } }, {}));
    const fromFile = thrown(ConfigValidationError, () => loader.load(file('null.json', '{"http":{"maxConnections":null}}'), {}));
    expect(paths(fromObject.problems)).to.deep.equal(paths(fromFile.problems));
    expect(paths(fromObject.problems)).to.include('http.maxConnections');
  });

  it('reports unknown sections and every problem of every section in ONE error', () => {
    const error = thrown(ConfigValidationError, () =>
      loader.load({ http: { maxConnections: 0, bogus: true }, admin: { port: 70_000 }, shutdown: { timeout: -1 }, htps: {} }, {}),
    );
    expect(error.code).to.equal('UNIPOOL_CONFIG_INVALID');
    expect(paths(error.problems)).to.have.members(['htps', 'http.maxConnections', 'http.bogus', 'admin.port', 'shutdown.timeout']);
    expect(error.problems.find((p) => p.path === 'htps')).to.deep.equal({ path: 'htps', rule: 'unknownSection', message: 'is not a known section (did you mean `http`?) (known: http, admin, shutdown)' });
    expect(error.message).to.match(/^invalid configuration: 5 problems\n/);
    expect(error.message).to.contain('http.maxConnections: must not be less than 1 (got 0)');
    expect(error.message).to.contain('http.bogus: is not a known key (got true)');
    expect(error.message).to.contain('admin.port: must not be greater than 65535 (got 70000)');
    expect(error.message).to.contain('htps: is not a known section');
  });

  it('reports the same non-zero port in two sections', () => {
    const error = thrown(ConfigValidationError, () => loader.load({ http: { port: 8080 }, admin: { port: 8080 } }, {}));
    expect(error.problems).to.deep.equal([{ path: 'admin.port', rule: 'distinctPorts', message: 'is already used by http.port', value: 8080 }]);
    expect(() => loader.load({ http: { port: 0 }, admin: { port: 0 } }, {})).to.not.throw();
    expect(() => loader.load({ http: { port: 8080 }, admin: { port: 8081 } }, {})).to.not.throw();
  });

  describe('JSON file source', () => {
    it('loads a JSON file', () => {
      const path = file('ok.json', JSON.stringify({ http: { maxConnections: 9 }, shutdown: { timeout: 1000 } }));
      const config = loader.load(path, {});
      expect((config.get('http') as HttpPoolConfig).maxConnections).to.equal(9);
      expect((config.get('shutdown') as ShutdownConfig).timeout).to.equal(1000);
    });

    it('names the file in a validation error', () => {
      const path = file('invalid.json', JSON.stringify({ http: { maxConnections: 0 } }));
      const error = thrown(ConfigValidationError, () => loader.load(path, {}));
      expect(error.message).to.contain(`invalid configuration (${path}): 1 problem\n`);
    });

    it('fails with ConfigLoadError for a missing file', () => {
      const error = thrown(ConfigLoadError, () => loader.load(join(dir, 'missing.json'), {}));
      expect(error.code).to.equal('UNIPOOL_CONFIG_LOAD');
      expect(error.message).to.contain('cannot read config file');
      expect(error.message).to.contain('missing.json');
      expect((error as Error & { cause?: { code?: string } }).cause?.code).to.equal('ENOENT');
    });

    it('fails with ConfigLoadError for bad JSON', () => {
      const error = thrown(ConfigLoadError, () => loader.load(file('bad.json', '{ "http": { maxConnections: 5 } '), {}));
      expect(error.code).to.equal('UNIPOOL_CONFIG_LOAD');
      expect(error.message).to.contain('is not valid JSON');
    });

    it('fails with ConfigLoadError for JSON that is not an object', () => {
      for (const text of ['[]', '5', 'null']) {
        const error = thrown(ConfigLoadError, () => readConfigFile(file('notobject.json', text)));
        expect(error.message).to.contain('must hold one JSON object');
      }
    });
  });

  describe('environment overrides', () => {
    it('names keys UNIPOOL_<SECTION>_<KEY> in upper snake case', () => {
      expect(toEnvName('maxConnections')).to.equal('MAX_CONNECTIONS');
      expect(toEnvName('degradedLatencyMs')).to.equal('DEGRADED_LATENCY_MS');
      expect(toEnvName('http')).to.equal('HTTP');
      expect(toEnvName('myApi2Key')).to.equal('MY_API2_KEY');
    });

    it('overrides a key, parsing numbers', () => {
      const config = loader.load({ http: { maxConnections: 10 } }, { UNIPOOL_HTTP_MAX_CONNECTIONS: '50' });
      expect((config.get('http') as HttpPoolConfig).maxConnections).to.equal(50);
    });

    it('overrides nested keys and creates absent sections', () => {
      const config = loader.load(undefined, { UNIPOOL_HTTP_HEALTH_DEGRADED_UTILIZATION: '0.5', UNIPOOL_ADMIN_HOST: '0.0.0.0', UNIPOOL_SHUTDOWN_DRAIN_DELAY: '250' });
      const http = config.get('http') as HttpPoolConfig;
      expect(http.health.degradedUtilization).to.equal(0.5);
      expect(http.health.overloadedUtilization).to.equal(0.95);
      expect((config.get('admin') as ServerPoolSettings).host).to.equal('0.0.0.0');
      expect((config.get('shutdown') as ShutdownConfig).drainDelay).to.equal(250);
    });

    it('overrides a key of a JSON file', () => {
      const path = file('env.json', JSON.stringify({ http: { maxConnections: 10, health: { minRequests: 4 } } }));
      const config = loader.load(path, { UNIPOOL_HTTP_MAX_CONNECTIONS: '50', UNIPOOL_HTTP_HEALTH_HYSTERESIS: '0.2' });
      const http = config.get('http') as HttpPoolConfig;
      expect(http.maxConnections).to.equal(50);
      expect(http.health).to.deep.include({ minRequests: 4, hysteresis: 0.2 });
    });

    it('validates overridden values like any other', () => {
      const error = thrown(ConfigValidationError, () => loader.load(undefined, { UNIPOOL_HTTP_MAX_CONNECTIONS: 'lots', UNIPOOL_HTTP_PORT: '-1' }));
      expect(error.message).to.contain('http.maxConnections: must be an integer number (got "lots")');
      expect(error.message).to.contain('http.port: must not be less than 0 (got -1)');
    });

    it('reports an unknown override as a problem, alongside the others', () => {
      const error = thrown(ConfigValidationError, () => loader.load({ http: { maxConnections: 0 } }, { UNIPOOL_HTTP_MAX_CONECTIONS: '50', UNIPOOL_FTP_PORT: '21' }));
      expect(paths(error.problems)).to.have.members(['env.UNIPOOL_HTTP_MAX_CONECTIONS', 'env.UNIPOOL_FTP_PORT', 'http.maxConnections']);
      expect(error.problems.find((p) => p.path === 'env.UNIPOOL_HTTP_MAX_CONECTIONS')).to.deep.include({ rule: 'unknownEnv', value: '50' });
      expect(error.message).to.contain('env.UNIPOOL_HTTP_MAX_CONECTIONS: does not name a config key');
    });

    it('issue 12 packaging: skips (and reports) variables of the sections it is told to ignore, validating nothing for them', () => {
      const ignoring = new ConfigLoader(new Map([...sections, ['https', HttpsPoolConfig]]), new Set(['http', 'shutdown']), new Set(['https']));
      const ignored: string[] = [];
      const config = ignoring.load(undefined, { UNIPOOL_HTTPS_PORT: '3443', UNIPOOL_HTTPS_TLS_CERT: 'x.pem', UNIPOOL_HTTPS_PROT: '1', UNIPOOL_HTTP_PORT: '3001' }, ignored);
      expect(config.has('https')).to.equal(false);
      expect((config.get('http') as HttpPoolConfig).port).to.equal(3001);
      expect(ignored).to.have.members(['UNIPOOL_HTTPS_PORT', 'UNIPOOL_HTTPS_TLS_CERT', 'UNIPOOL_HTTPS_PROT']);
    });

    it('issue 12 packaging: an unknown section one or two edits from a known one says "did you mean"', () => {
      const error = thrown(ConfigValidationError, () => loader.load({ shutdwn: {} }, {}));
      expect(error.problems[0].message).to.equal('is not a known section (did you mean `shutdown`?) (known: http, admin, shutdown)');
    });

    it('ignores other variables, reserved names and undefined values', () => {
      const config = loader.load(undefined, { PATH: '/bin', UNIPOOL_CONFIG: 'x.json', UNIPOOL_LOG_LEVEL: 'debug', UNIPOOL_HTTP_PORT: undefined });
      expect((config.get('http') as HttpPoolConfig).port).to.equal(3000);
    });

    it('parses booleans, JSON objects and keeps other text as strings', () => {
      const problems: ConfigProblem[] = [];
      const raw = loader.raw(undefined, { UNIPOOL_HTTP_HOST: 'localhost', UNIPOOL_HTTP_PORT: ' 81 ', UNIPOOL_HTTP_MAX_CONNECTIONS: 'true', UNIPOOL_HTTP_IDLE_TIMEOUT: '{"a":[1]}', UNIPOOL_ADMIN_HOST: '{broken', UNIPOOL_ADMIN_PORT: '-2.5' }, problems);
      expect(problems).to.deep.equal([]);
      expect(raw.http).to.deep.equal({ host: 'localhost', port: 81, maxConnections: true, idleTimeout: { a: [1] } });
      expect(raw.admin).to.deep.equal({ host: '{broken', port: -2.5 });
    });

    it('leaves a section that is not an object to be reported invalid', () => {
      const error = thrown(ConfigValidationError, () => loader.load({ http: 5 }, { UNIPOOL_HTTP_PORT: '1' }));
      expect(error.problems).to.deep.equal([{ path: 'http', rule: 'isObject', message: 'must be an object', value: 5 }]);
    });

    it('does not put a nested override on the wrong level when the parent is not an object', () => {
      for (const health of [5, null, 'x']) {
        const error = thrown(ConfigValidationError, () => loader.load({ http: { health } }, { UNIPOOL_HTTP_HEALTH_MIN_REQUESTS: '3' }));
        expect(paths(error.problems), JSON.stringify(health)).to.deep.equal(['http.health']);
      }
      const nullSection = thrown(ConfigValidationError, () => loader.load({ http: null }, { UNIPOOL_HTTP_PORT: '1' }));
      expect(paths(nullSection.problems)).to.deep.equal(['http']);
    });
  });
});

describe('validateSection: one pass lists everything', () => {
  it('reports a wrongly typed value once, by its type rule, not with misleading range rules', () => {
    const { problems } = validateSection(HttpPoolConfig, { port: '80' }, 'http');
    expect(problems).to.deep.equal([{ path: 'http.port', rule: 'isInt', message: 'must be an integer number', value: '80' }]);
  });

  it('runs cross-field rules alongside field errors, leaving out rules on keys that already failed', () => {
    const { problems } = validateSection(HttpPoolConfig, { maxConnections: 0, headersTimeout: 5000, requestTimeout: 1000 }, 'http');
    expect(problems.map((p) => p.path)).to.deep.equal(['http.maxConnections', 'http.headersTimeout']);
    const again = validateSection(HttpPoolConfig, { headersTimeout: 'x', requestTimeout: 1000 }, 'http');
    expect(again.problems.map((p) => `${p.path}:${p.rule}`)).to.deep.equal(['http.headersTimeout:isInt']);
  });
});

describe('ConfigLoader: env overrides reach optional nested blocks', () => {
  it('maps UNIPOOL_GRPC_TLS_CERT into grpc.tls.cert although tls has no default block', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { GrpcPoolConfig } = require('../../src/protocols/grpc/grpc-config') as typeof import('../../src/protocols/grpc/grpc-config');
    const loader = new ConfigLoader(new Map([['grpc', GrpcPoolConfig]]));
    const err = (() => {
      try {
        loader.load({}, { UNIPOOL_GRPC_TLS_CERT: '/nonexistent/cert.pem', UNIPOOL_GRPC_TLS_KEY: '/nonexistent/key.pem' });
      } catch (e) {
        return e as ConfigValidationError;
      }
      throw new Error('expected a validation error');
    })();
    expect(err.problems.map((p) => p.path)).to.deep.equal(['grpc.tls.cert', 'grpc.tls.key']);
    expect(err.message).to.not.contain('UNIPOOL_GRPC_TLS_CERT');
  });
});

describe('Secrets in problem messages and JSON errors', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQDP/1BsWYlaNIPe\n-----END PRIVATE KEY-----\n';

  it('item 11: redactMessage takes PEM blocks and a secret value (whole or in pieces) out of a message, and keeps the rest', () => {
    expect(redactMessage(`cannot read ${pem} here`)).to.equal('cannot read [redacted]\n here');
    expect(redactMessage('cannot read file /srv/app/MIIEvQIBADANBgkqhkiG9w0BAQEFAASC (ENOENT)', 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC', 'key')).to.equal('cannot read file /srv/app/[redacted] (ENOENT)');
    // path.resolve collapses "//" inside the value: its pieces are still taken out.
    expect(redactMessage('file /srv/abcdefgh12/ijklmnop34 missing', 'abcdefgh12//ijklmnop34', 'privateKey')).to.equal('file /srv/[redacted]/[redacted] missing');
    // Not a secret key and not PEM: unchanged (paths of certificates stay readable).
    expect(redactMessage('cannot read file /etc/tls/cert.pem', '/etc/tls/cert.pem', 'cert')).to.equal('cannot read file /etc/tls/cert.pem');
  });

  it('item 11: ConfigValidationError and formatProblem never print PEM text from a message', () => {
    const problem: ConfigProblem = { path: 'grpc.tls.key', rule: 'x', message: `is broken: ${pem}` };
    const err = new ConfigValidationError([problem]);
    expect(err.message).to.not.contain('MIIEvQ');
    expect(err.message).to.contain('[PEM text redacted]');
    expect(err.problems[0].message).to.not.contain('MIIEvQ');
    expect(formatProblem(problem)).to.not.contain('MIIEvQ');
  });

  it('item 11: a key setting given contents instead of a path is refused without echoing them', () => {
    const body = 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQDP';
    const { problems } = validateSection(HttpsPoolConfig, { tls: { cert: '/nonexistent/cert.pem', key: body } }, 'https');
    const key = problems.find((p) => p.path === 'https.tls.key');
    expect(key?.message).to.equal('must be the path of the private key file (one line, at most 1024 characters), not its contents');
    expect(JSON.stringify(problems)).to.not.contain('MIIEvQ');
  });

  it('review: a missing tls.key file is named by its path in the error, while PEM text and secrets stay out', () => {
    for (const [cls, section] of [[GrpcPoolConfig, 'grpc'], [HttpsPoolConfig, 'https']] as Array<[new () => object, string]>) {
      const keyPath = `/nonexistent/unipool-review/${section}-server.key`;
      const { problems } = validateSection(cls, { port: 0, tls: { cert: '/nonexistent/unipool-review/cert.pem', key: keyPath } }, section);
      const key = problems.find((p) => p.path === `${section}.tls.key`)!;
      expect(key, JSON.stringify(problems)).to.not.equal(undefined);
      expect(key.message).to.contain(keyPath);
      expect(key.value).to.equal(keyPath);
      expect(new ConfigValidationError(problems).message).to.contain(`${section}.tls.key: cannot read private key file ${keyPath}`);
    }
    // Relative paths with an extension are shown too; values shaped like secrets are not.
    expect(redactMessage('cannot read private key file tls/server.pem', 'tls/server.pem', 'key')).to.equal('cannot read private key file tls/server.pem');
    expect(redactMessage('file /srv/abcdefgh12/ijklmnop34 missing', 'abcdefgh12//ijklmnop34', 'privateKey')).to.equal('file /srv/[redacted]/[redacted] missing');
    expect(redactMessage('bad token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl', 'token')).to.not.contain('eyJhbGci');
  });

  it('item 11: jsonSyntaxError gives line and column of the first error, and agrees with JSON.parse', () => {
    expect(jsonSyntaxError('{\n  "admin": {\n    "token": s3cr3t\n  }\n}')).to.deep.equal({ offset: 28, line: 3, column: 14 });
    const texts = ['{}', '{"a":[1,2.5e-3,-0,true,false,null,"x\\u00e9\\n"]}', '{"a": 1,}', '[1,]', '{"a" 1}', '', '01', '"\t"', '{"a":1} x', '"\\x"', '[', '{"a":"b"', '1.', '-', '"\\u12g4"', ' tru '];
    for (const text of texts) {
      let valid = true;
      try {
        JSON.parse(text);
      } catch {
        valid = false;
      }
      expect(jsonSyntaxError(text) === undefined, text).to.equal(valid);
    }
  });

  it('item 11: readConfigFile reports a JSON syntax error by position, without the text near it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'unipool-json-'));
    try {
      const file = join(dir, 'c.json');
      writeFileSync(file, '{ "admin": { "token": hunter2hunter2hunter2 } }');
      const err = thrown(ConfigLoadError, () => readConfigFile(file));
      expect(err.message).to.equal(`config file ${file} is not valid JSON (line 1, column 23)`);
      expect(err.cause).to.equal(undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('shutdown.exitDelay', () => {
  it('item 15: defaults to 1000 ms and takes a non-negative integer or false, from a file or the environment', () => {
    expect(new ShutdownConfig().exitDelay).to.equal(1000);
    for (const exitDelay of [0, 250, 3_600_000, false]) {
      const { value, problems } = validateSection(ShutdownConfig, { exitDelay }, 'shutdown');
      expect(problems, String(exitDelay)).to.deep.equal([]);
      expect(value?.exitDelay).to.equal(exitDelay);
    }
    const loader = new ConfigLoader(new Map([['shutdown', ShutdownConfig]]));
    expect((loader.load({}, { UNIPOOL_SHUTDOWN_EXIT_DELAY: 'false' }).get('shutdown') as ShutdownConfig).exitDelay).to.equal(false);
    expect((loader.load({}, { UNIPOOL_SHUTDOWN_EXIT_DELAY: '200' }).get('shutdown') as ShutdownConfig).exitDelay).to.equal(200);
  });

  it('item 15: refuses true, negative, fractional and text values with one message', () => {
    for (const exitDelay of [true, -1, 1.5, 'soon']) {
      const { problems } = validateSection(ShutdownConfig, { exitDelay }, 'shutdown');
      expect(problems.map((p) => `${p.path}: ${p.message}`), String(exitDelay)).to.deep.equal(['shutdown.exitDelay: must be a non-negative integer (ms) or false']);
    }
  });
});
