import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Container } from 'inversify';
import { ShutdownConfig } from '../config/pool-config';
import { copyConfig, deepFreeze } from '../config/frozen-config';
import { ConfigLoader, envSectionPrefix, readConfigFile, type ConfigSource, type ValidatedConfig } from '../config/config-loader';
import { ClusterConfig } from '../cluster/cluster-config';
import { ClusterFrames } from '../cluster/cluster-frames';
import { ClusterMetrics } from '../cluster/cluster-metrics';
import { ClusterPrimary } from '../cluster/cluster-primary';
import { clusterRole, type ClusterRole } from '../cluster/cluster-role';
import { buildClusterStatus } from '../cluster/cluster-status';
import { ClusterWorker } from '../cluster/cluster-worker';
import type { ConfigClass } from '../config/validate-config';
import { ConnectionPoolManager } from '../core/connection-pool-manager';
import { createDefaultLogger, type Logger } from '../core/logger';
import { INJECTED_POOL, ManagedServer } from '../core/managed-server';
import { ConnectionPoolEvent } from '../core/pool-events';
import { TypedEmitter } from '../core/typed-emitter';
import { classConfigSection, poolConfigParameters, usedPool } from '../di/decorators';
import { LOGGER, configToken } from '../di/tokens';
import { ConfigLoadError, ConfigValidationError, DecoratorError, LifecycleStateError, UnipoolError, formatProblem, type ConfigProblem } from '../errors';
import { AdminConfig } from '../observability/admin-config';
import { AdminServer, type MetricsExposition } from '../observability/admin-server';
import { buildStatusReport, type StatusReport } from '../observability/status-report';
import type { WorkerFrame } from '../observability/dashboard/dashboard-frames';
import { MetricsConfig } from '../observability/otel/otlp-config';
import { knownHttpMethods, resolveOtlpSettings } from '../observability/otel/otlp-settings';
import { safeUrl } from '../observability/otel/otlp-url';
import type { OtelMeterProvider } from '../observability/otel/otel-meter-provider';
import { OtelTelemetry } from '../observability/otel/otel-telemetry';
import { PrometheusCollector, type ApplicationStats } from '../observability/prometheus-collector';
import { PROTOCOLS } from '../protocols';
import { runHook } from './hook-runner';
import { RejectionLog } from './rejection-log';
import { planReload, type ReloadResult, type ReloadStep, type SectionReloadPolicy } from './config-reload';
import { sharedPoolProblems, sharedPortProblems, type PoolGroup, type SectionReader } from './section-rules';
import { ShutdownOrchestrator, type PhaseResult, type ShutdownResult } from './shutdown-orchestrator';
import { scheduleExit } from './exit-after-shutdown';
import { SignalHandler } from './signal-handler';

/** A server class: a `ManagedServer` subclass decorated with `@UsePool` (and `@PoolConfig` on a constructor that wants its config). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ServerClass<S extends ManagedServer = ManagedServer> = new (...args: any[]) => S;
/** Any class the container can build. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ProviderClass = new (...args: any[]) => object;

/** Options of `createApp`. */
export interface AppOptions {
  /** Server classes to run, in startup order. */
  servers: readonly ServerClass[];
  /** A config object, or the path of a JSON config file. Absent: the file `UNIPOOL_CONFIG` names (in `env`), else every default. */
  config?: ConfigSource;
  /** Other injectables; their lifecycle hooks run before the servers' (onShutdown after). */
  providers?: readonly ProviderClass[];
  /** Extra config sections for your own `@PoolConfig` classes. */
  sections?: Readonly<Record<string, ConfigClass>>;
  /** Logger (pino or compatible); defaults to pino on stdout. */
  logger?: Logger;
  /** Environment for `UNIPOOL_<SECTION>_<KEY>` overrides; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Install SIGTERM/SIGINT (shutdown) and SIGHUP (reload) handlers on `start` (removed on stop). Default true. */
  handleSignals?: boolean;
  /**
   * An OpenTelemetry `MeterProvider` the app already has: unipool creates its instruments on it
   * (meter `unipool`) and leaves exporting and closing it to you; `metrics.otlp` and the `OTEL_*`
   * variables are then not used. Without it, unipool exports over OTLP when configured to.
   */
  meterProvider?: OtelMeterProvider;
}

/** Application states. */
export type AppState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';

/** Events of an application. */
export interface AppEventMap {
  started: { durationMs: number };
  readinessChanged: { ready: boolean };
  shutdownPhase: PhaseResult;
  stopped: ShutdownResult;
  /** A reload was valid and applied (once per reload, whatever the number of pools). */
  configReloaded: ReloadResult;
  /** A reload was rejected; the running config is unchanged. */
  configReloadFailed: ReloadResult;
}

const BUILTIN_SECTIONS: Readonly<Record<string, ConfigClass>> = { shutdown: ShutdownConfig, admin: AdminConfig, metrics: MetricsConfig, cluster: ClusterConfig };

/** Signal that starts a rolling restart of a cluster's workers. */
const ROLLING_RESTART_SIGNAL: NodeJS.Signals = 'SIGUSR2';

/** How the built-in sections take a reload; a server's section goes to its server and pool, any other section needs a restart. */
const SECTION_RELOAD: Readonly<Record<string, SectionReloadPolicy>> = { shutdown: 'live', admin: new Set(['token']) };

function isSubclassOrSame(child: unknown, parent: unknown): boolean {
  return typeof child === 'function' && typeof parent === 'function' && (child === parent || child.prototype instanceof parent);
}

/**
 * Boots servers and their pools from validated config, runs lifecycle hooks, and shuts
 * everything down in phases. Create it with `createApp`.
 */
export class Application {
  /** The Inversify container: rebind a pool class here before `start()` to swap it in tests. */
  readonly container = new Container();
  readonly events = new TypedEmitter<AppEventMap>();
  readonly logger: Logger;

  private appState: AppState = 'created';
  private readonly sections = new Map<string, ConfigClass>();
  private readonly requiredSections = new Set<string>(['shutdown']);
  private readonly serverSections = new Map<ServerClass, string>();
  private validated: ValidatedConfig | undefined;
  private serverInstances: ManagedServer[] = [];
  private poolInstances: ConnectionPoolManager<unknown>[] = [];
  private hookTargets: object[] = [];
  private ready = false;
  private stopping: Promise<ShutdownResult> | undefined;
  private orchestrator: ShutdownOrchestrator | undefined;
  private readonly signals: SignalHandler;
  /** A SIGTERM/SIGINT that came while booting: the app stops once it is running. */
  private signalDuringBoot: NodeJS.Signals | undefined;
  private readonly rejectLog: RejectionLog;
  /** Each pool with the servers sharing it (the first one's section configures it). */
  private poolGroups: PoolGroup[] = [];
  private admin: AdminServer | undefined;
  private telemetry: OtelTelemetry | undefined;
  private bootStartedAt = Date.now();
  /** Alone, cluster primary (a supervisor: no servers, the admin endpoint) or cluster worker (the servers, no admin endpoint). */
  private role: ClusterRole = 'single';
  private primary: ClusterPrimary | undefined;
  /** Cluster primary: what its dashboard shows of the workers. */
  private clusterFrames: ClusterFrames | undefined;
  private clusterWorker: ClusterWorker | undefined;
  private readonly onRollingRestartSignal = (signal: NodeJS.Signals): void => {
    this.logger.info({ signal }, 'signal received: rolling restart of the workers');
    this.restartWorkers().catch((err: unknown) => this.logger.error({ err }, 'rolling restart failed'));
  };
  /** Application-level figures (reloads, shutdown phases) that `/metrics` reports. */
  readonly stats: ApplicationStats = { reloads: { success: 0, failure: 0 }, lastReloadSuccessAt: 0, shutdownPhases: new Map() };
  /** Prometheus collector over this application's pools; one registry per application. */
  readonly metrics: PrometheusCollector;

  constructor(private readonly options: AppOptions) {
    this.logger = options.logger ?? createDefaultLogger();
    this.events.onListenerError = (event, err) => this.logger.error({ err, event }, 'application event listener failed');
    this.rejectLog = new RejectionLog(this.logger);
    for (const p of PROTOCOLS) this.sections.set(p.section, p.configClass);
    for (const [name, cls] of Object.entries({ ...BUILTIN_SECTIONS, ...options.sections })) this.sections.set(name, cls);
    this.checkServers();
    this.container.bind(LOGGER).toConstantValue(this.logger);
    for (const provider of options.providers ?? []) this.container.bind(provider).toSelf().inSingletonScope();
    for (const server of options.servers) {
      this.container.bind(server).toSelf().inSingletonScope();
      const pool = usedPool(server);
      if (pool && !this.container.isBound(pool)) this.container.bind(pool as ProviderClass).toSelf().inSingletonScope();
    }
    this.metrics = new PrometheusCollector(this, this.logger);
    this.signals = new SignalHandler(
      (signal) => {
        if (this.appState === 'starting') {
          // Installed from the first line of start(): a signal during boot is not lost, nor kills the process.
          this.logger.info({ signal }, 'signal received during boot: shutting down gracefully once started (send it again to exit at once)');
          this.signalDuringBoot = signal;
          return;
        }
        this.shutdownOnSignal(signal);
      },
      (signal) => {
        if (this.appState === 'starting') {
          this.logger.warn({ signal }, 'signal received again during boot: exiting at once');
          process.exit(1);
        }
        this.logger.warn({ signal }, 'signal received again: forcing shutdown');
        this.stop({ force: true }).catch(() => undefined); // the first signal's handler reports the outcome
      },
      undefined,
      (signal) => {
        if (this.appState !== 'running') {
          this.logger.warn({ signal, state: this.appState }, 'signal received: reload ignored (not running)');
          return;
        }
        this.logger.info({ signal }, 'signal received: reloading config');
        this.reload().catch((err: unknown) => this.logger.error({ err }, 'reload failed'));
      },
    );
  }

  /** The first SIGTERM/SIGINT: a graceful stop, then the process exits with its outcome. */
  private shutdownOnSignal(signal: NodeJS.Signals): void {
    if (this.stopping) {
      // A shutdown started from code owns the process's fate: it never calls process.exit.
      this.logger.info({ signal }, 'signal received: shutdown already under way (started from code; send it again to force)');
      return;
    }
    this.logger.info({ signal }, 'signal received: shutting down gracefully (send it again to force)');
    this.stop().then(
      (result) => {
        // Forced by a second signal or app.stop({ force: true }): exit 1 even when nothing was left to force.
        const code = result.ok && !result.forcedByUser ? 0 : 1;
        process.exitCode = code;
        scheduleExit(this.shutdownConfig.exitDelay, code, this.logger);
      },
      (err: unknown) => {
        this.logger.error({ err }, 'shutdown failed');
        process.exitCode = 1;
        scheduleExit(this.shutdownConfig.exitDelay, 1, this.logger);
      },
    );
  }

  /** Once running: the shutdown a signal asked for during boot. */
  private honourSignalDuringBoot(): void {
    const signal = this.signalDuringBoot;
    if (signal === undefined) return;
    this.signalDuringBoot = undefined;
    this.shutdownOnSignal(signal);
  }

  /** Decorator misuse is a programming error: report all of it at once, before anything runs. */
  private checkServers(): void {
    const problems: string[] = [];
    if (!this.options.servers?.length) problems.push('createApp needs at least one server class in `servers`');
    const sectionOwner = new Map<string, ConfigClass>();
    for (const server of this.options.servers ?? []) {
      const name = typeof server === 'function' ? server.name : String(server);
      if (!isSubclassOrSame(server, ManagedServer)) {
        problems.push(`${name} is not a server class (extend HttpServer or another protocol server)`);
        continue;
      }
      const pool = usedPool(server);
      const poolType = (server as unknown as typeof ManagedServer).poolType;
      if (!pool) problems.push(`${name} is not decorated with @UsePool(PoolClass)`);
      else if (poolType && !isSubclassOrSame(pool, poolType)) problems.push(`${name} uses @UsePool(${pool.name}), but its server type needs ${poolType.name} or a subclass of it`);
      const params = poolConfigParameters(server);
      if (params.length > 1) {
        problems.push(`${name} has ${params.length} constructor parameters decorated with @PoolConfig; a server reads one section`);
        continue;
      }
      // A @PoolConfig parameter names the section and class; else @UsePool bound the section
      // (named, or the protocol's) to the first constructor argument, read as the section's class.
      const section = params[0]?.section ?? classConfigSection(server);
      const decorator = params.length ? '@PoolConfig' : '@UsePool';
      if (section === undefined) {
        if (pool) problems.push(`${name} names no config section: use @UsePool(${pool.name}, 'section') or a constructor parameter decorated with @PoolConfig(ConfigClass, 'section')`);
        continue;
      }
      const known = this.sections.get(section);
      if (!known) {
        problems.push(`${name}: ${decorator} section '${section}' is not a known section (known: ${[...this.sections.keys()].join(', ')}; add your own with the \`sections\` option)`);
        continue;
      }
      const configClass = params[0]?.configClass ?? known;
      if (!isSubclassOrSame(configClass, known)) {
        problems.push(`${name}: @PoolConfig(${configClass.name}, '${section}') must use ${known.name} or a subclass of it for section '${section}'`);
        continue;
      }
      const owner = sectionOwner.get(section);
      if (owner && owner !== configClass) problems.push(`${name}: section '${section}' is already read as ${owner.name} by another server`);
      sectionOwner.set(section, configClass);
      this.sections.set(section, configClass);
      this.requiredSections.add(section);
      this.serverSections.set(server, section);
    }
    if (problems.length) throw new DecoratorError(problems.length === 1 ? problems[0] : `invalid server classes:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }

  /** Current state. */
  get state(): AppState {
    return this.appState;
  }

  /** True between the end of boot and the first phase of shutdown. */
  get isReady(): boolean {
    return this.ready;
  }

  /**
   * The validated configuration (after `start`): every section deep-frozen; a reload swaps in new
   * ones, and a server's section is the one in effect (after `server.updateConfig()` or
   * `pool.updateConfig()` too).
   */
  get config(): ValidatedConfig | undefined {
    return this.liveConfig();
  }

  /** `validated`, with each server's section swapped for the server's own snapshot if that changed since. */
  private liveConfig(): ValidatedConfig | undefined {
    const validated = this.validated;
    if (!validated) return undefined;
    let live: Map<string, object> | undefined;
    for (const server of this.serverInstances) {
      const section = this.sectionOf(server);
      if (validated.get(section) === server.config) continue;
      live ??= new Map(validated);
      live.set(section, server.config);
    }
    if (live) this.validated = live;
    return this.validated;
  }

  /** The running servers, in startup order. */
  get servers(): readonly ManagedServer[] {
    return this.serverInstances;
  }

  /** The distinct pools the servers use. */
  get pools(): readonly ConnectionPoolManager<unknown>[] {
    return this.poolInstances;
  }

  /** When `start()` was called (ms since epoch). */
  get startedAt(): number {
    return this.bootStartedAt;
  }

  /** The admin endpoint's address, when it runs (config section `admin`). */
  adminAddress(): AddressInfo | undefined {
    return this.admin?.address();
  }

  /** The instance of one server class (after `start`). */
  server<S extends ManagedServer>(cls: ServerClass<S>): S {
    const found = this.serverInstances.find((s) => s instanceof cls);
    if (!found) throw new LifecycleStateError(`${cls.name} is not running in this application (state: ${this.appState})`);
    return found as S;
  }

  private setReady(ready: boolean): void {
    if (this.ready === ready) return;
    this.ready = ready;
    for (const server of this.serverInstances) server.onReadinessChange(ready);
    this.logger.info({ ready }, 'readiness changed');
    this.events.emit('readinessChanged', { ready });
  }

  /**
   * Boots: load and validate every config section (one error listing every problem, before any
   * port opens), resolve pools and servers, `onInit`, listen, `onReady`, readiness true.
   * A failed boot closes whatever it opened and rethrows.
   */
  async start(): Promise<void> {
    if (this.appState !== 'created') throw new LifecycleStateError(`start() needs a new application (state: ${this.appState})`);
    this.appState = 'starting';
    if (this.options.handleSignals !== false) this.signals.install();
    this.bootStartedAt = Date.now();
    const started = performance.now();
    let initialized = false;
    try {
      const config = this.loadConfig(this.configSource);
      for (const value of config.values()) deepFreeze(value);
      const ports = sharedPortProblems(this.sectionReaders(), config);
      if (ports.length) throw new ConfigValidationError(ports, this.configLabel);
      this.validated = config;
      this.role = clusterRole(config.get('cluster') as ClusterConfig | undefined);
      if (this.role === 'primary') return await this.startPrimary(config, started);
      for (const [section, value] of config) this.container.bind(configToken(section)).toConstantValue(value);

      const providers = (this.options.providers ?? []).map((p) => this.container.get<object>(p));
      this.serverInstances = this.options.servers.map((cls) => this.container.get<ManagedServer>(cls));
      for (const server of this.serverInstances) server.assignSection(this.sectionOf(server));
      this.configurePools(config);
      this.attachServers();
      this.startTelemetry(config);
      this.hookTargets = [...providers, ...this.poolInstances, ...this.serverInstances];
      for (const server of this.serverInstances) server.attachLogger(this.logger.child({ server: server.name, protocol: server.pool.protocol }));
      this.stats.lastReloadSuccessAt = Date.now();
      if (this.role === 'worker') {
        // The primary serves the admin endpoint for every worker; each pool admits its share.
        this.clusterWorker = new ClusterWorker(this, this.logger);
        this.clusterWorker.applyBudget();
      } else {
        await this.startAdmin(config);
      }

      await runHook(this.hookTargets, 'onInit', { timeoutMs: this.shutdownConfig.hookTimeout, logger: this.logger, collect: false });
      initialized = true;
      for (const server of this.listenOrder()) {
        await server.listen();
        const addr = server.address();
        this.logger.info({ server: server.name, protocol: server.pool.protocol, host: addr?.address, port: addr?.port }, 'listening');
      }
      await runHook(this.hookTargets, 'onReady', { timeoutMs: this.shutdownConfig.hookTimeout, logger: this.logger, collect: false });
      this.appState = 'running';
      this.setReady(true);
      if (this.options.handleSignals !== false) this.signals.install();
      this.clusterWorker?.attach();
      const durationMs = performance.now() - started;
      this.logger.info({ durationMs: Math.round(durationMs), servers: this.serverInstances.length }, 'started');
      this.events.emit('started', { durationMs });
      this.honourSignalDuringBoot();
    } catch (err) {
      this.appState = 'failed';
      this.logBootFailure(err);
      await this.cleanupFailedBoot(initialized);
      if (this.role === 'worker') ClusterWorker.leaveAfterFailedBoot();
      throw err;
    }
  }

  /**
   * A cluster primary runs no server: it serves the admin endpoint for the whole app, forks the
   * workers (the same app file) and is running once every worker is ready.
   */
  private async startPrimary(config: ValidatedConfig, started: number): Promise<void> {
    const shutdown = (): ShutdownConfig => this.shutdownConfig;
    const primary = new ClusterPrimary({
      logger: this.logger.child({ component: 'cluster' }),
      clusterConfig: config.get('cluster') as ClusterConfig,
      get shutdownConfig() {
        return shutdown(); // live: a reload may change it
      },
      onReadiness: (ready) => this.setReady(ready),
    });
    this.primary = primary;
    this.clusterFrames = new ClusterFrames(primary);
    this.stats.lastReloadSuccessAt = Date.now();
    await this.startAdmin(config, new ClusterMetrics(primary, () => this.metrics.metricsJSON()));
    await primary.start();
    this.appState = 'running';
    this.setReady(primary.isReady);
    if (this.options.handleSignals !== false) {
      this.signals.install();
      process.on(ROLLING_RESTART_SIGNAL, this.onRollingRestartSignal);
    }
    const durationMs = performance.now() - started;
    this.logger.info({ durationMs: Math.round(durationMs), workers: primary.workers().length, pid: process.pid }, 'started');
    this.events.emit('started', { durationMs });
    this.honourSignalDuringBoot();
  }

  /** Cluster primary: every worker with its pools, for the dashboard's frames (undefined in a single process and in a worker). */
  workerFrames(): WorkerFrame[] | undefined {
    return this.clusterFrames?.workerFrames();
  }

  /** What `/status` serves: every pool of this process, or on a cluster primary every worker with its pools. */
  statusReport(): Promise<StatusReport> {
    return this.primary ? buildClusterStatus(this.primary, this) : Promise.resolve(buildStatusReport(this));
  }

  /** How this process runs the app: `single`, cluster `primary` or cluster `worker` (known after `start` has read the config). */
  get clusterRole(): ClusterRole {
    return this.role;
  }

  /**
   * Cluster primary only: replaces the workers one at a time (fork a new one, wait until it is
   * ready, drain the old one). SIGUSR2 calls it. Rejects if a new worker does not start (the old
   * one keeps serving) or if this process is not a running cluster primary.
   */
  restartWorkers(): Promise<{ replaced: number }> {
    if (!this.primary || this.appState !== 'running') {
      return Promise.reject(new LifecycleStateError(`restartWorkers() needs a running cluster primary (role: ${this.role}, state: ${this.appState})`));
    }
    return this.primary.restartWorkers();
  }

  /**
   * The admin server opens before onInit and the servers, so probes get answers (`/readyz` 503
   * "starting") during a slow boot and a taken admin port fails the boot before traffic flows.
   */
  private async startAdmin(config: ValidatedConfig, metrics: MetricsExposition = this.metrics): Promise<void> {
    const adminConfig = config.get('admin') as AdminConfig | undefined;
    if (!adminConfig?.enabled) return;
    const admin = new AdminServer(adminConfig, this, metrics, this.logger.child({ component: 'admin' }));
    this.admin = admin;
    await admin.listen();
    const addr = admin.address();
    this.logger.info({ server: 'AdminServer', host: addr?.address, port: addr?.port, auth: adminConfig.token ? 'bearer' : 'none' }, 'admin listening');
  }

  /**
   * OpenTelemetry instruments over the pools, when the app passed a `meterProvider` or OTLP export
   * is configured (`metrics.otlp`, `OTEL_*`); otherwise nothing of OpenTelemetry is loaded and the
   * pools' observer hook stays unset. Invalid `OTEL_*` values fail the boot like config problems.
   */
  private startTelemetry(config: ValidatedConfig): void {
    const section = config.get('metrics') as MetricsConfig | undefined;
    const provider = this.options.meterProvider;
    const { settings, problems, warnings } = resolveOtlpSettings(section?.otlp, this.env);
    for (const warning of warnings) this.logger.warn({}, warning);
    if (provider === undefined && problems.length) throw new ConfigValidationError(problems, this.configLabel);
    if (provider !== undefined && settings !== undefined) this.logger.info({}, 'OpenTelemetry: metrics go to the meterProvider passed to createApp; OTLP settings not used');
    const options = { shutdownTimeoutMs: this.shutdownConfig.hookTimeout, knownMethods: knownHttpMethods(this.env) };
    this.telemetry = OtelTelemetry.start(this, provider, provider === undefined ? settings : undefined, this.logger, options);
    if (this.telemetry?.exports && settings) {
      this.logger.info({ endpoint: safeUrl(settings.endpoint), protocol: settings.protocol, intervalMs: settings.exportIntervalMs, serviceName: settings.resource['service.name'] }, 'OpenTelemetry: exporting metrics over OTLP');
    }
  }

  /** Exports the last metrics (a provider unipool created) within `shutdown.hookTimeout`. */
  private async stopTelemetry(): Promise<void> {
    const telemetry = this.telemetry;
    this.telemetry = undefined;
    await telemetry?.shutdown(this.shutdownConfig.hookTimeout, this.logger);
  }

  private async closeAdmin(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.close();
  }

  private get shutdownConfig(): ShutdownConfig {
    return (this.validated?.get('shutdown') as ShutdownConfig | undefined) ?? new ShutdownConfig();
  }

  /** The config file's path, for errors (nothing for a config object). */
  private get configLabel(): string | undefined {
    const source = this.configSource;
    return typeof source === 'string' ? source : undefined;
  }

  private get env(): NodeJS.ProcessEnv {
    return this.options.env ?? process.env;
  }

  /** `config` as given, else the file `UNIPOOL_CONFIG` names, else nothing (every default). */
  private get configSource(): ConfigSource | undefined {
    return this.options.config ?? (this.env.UNIPOOL_CONFIG || undefined);
  }

  /**
   * Loads and validates the config. Overrides of a protocol's section that no server reads
   * (`UNIPOOL_HTTPS_PORT` in an app without an HTTPS server) are skipped with a warning: the
   * environment is shared, and a section nothing reads must not fail the boot.
   */
  private loadConfig(source: ConfigSource | undefined): ValidatedConfig {
    const unread = new Set(PROTOCOLS.map((p) => p.section).filter((section) => !this.requiredSections.has(section)));
    const ignored: string[] = [];
    const config = new ConfigLoader(this.sections, this.requiredSections, unread).load(source, this.env, ignored);
    if (ignored.length) {
      const sections = [...new Set(ignored.map((name) => [...unread].find((section) => name.startsWith(envSectionPrefix(section)))))];
      this.logger.warn({ variables: ignored, sections }, 'environment overrides ignored: no server in this application reads their section');
    }
    return config;
  }

  /**
   * One error line per failed boot. A config error says everything in its problems (a stack
   * would only bury them); any other error is logged with its stack.
   */
  private logBootFailure(err: unknown): void {
    if (err instanceof ConfigValidationError) {
      this.logger.error({ code: err.code, problems: err.problems.map(formatProblem) }, `boot failed: ${err.message.split('\n', 1)[0]}`);
    } else if (err instanceof ConfigLoadError) {
      this.logger.error({ code: err.code }, `boot failed: ${err.message}`);
    } else {
      this.logger.error({ err, code: (err as { code?: string }).code }, 'boot failed');
    }
  }

  /** Server classes with the section each reads, in startup order. */
  private sectionReaders(): SectionReader[] {
    return this.options.servers.map((cls) => ({ section: this.serverSections.get(cls) as string, server: cls.name }));
  }

  private sectionOf(server: ManagedServer): string {
    return this.serverSections.get(server.constructor as ServerClass) as string;
  }

  /**
   * Each distinct pool is configured from the section of the first server using it; the other
   * servers sharing it must agree on the pool's keys (their own keys stay theirs).
   */
  private configurePools(config: ValidatedConfig): void {
    const groups = new Map<ConnectionPoolManager<unknown>, SectionReader[]>();
    const problems: string[] = [];
    for (const server of this.serverInstances) {
      const cls = server.constructor as ServerClass;
      const section = this.sectionOf(server);
      const pool = server[INJECTED_POOL] as ConnectionPoolManager<unknown> | undefined;
      const poolType = (cls as unknown as typeof ManagedServer).poolType;
      if (!(pool instanceof ConnectionPoolManager) || (poolType && !(pool instanceof poolType))) {
        problems.push(`${server.name} received ${(pool as object | undefined)?.constructor?.name ?? 'no pool'} from the container, which is not a ${poolType?.name ?? 'pool'}`);
        continue;
      }
      const readers = groups.get(pool);
      if (readers) readers.push({ section, server: server.name });
      else groups.set(pool, [{ section, server: server.name }]);
    }
    if (problems.length) throw new DecoratorError(problems.join('\n'));
    this.poolGroups = [...groups].map(([pool, readers]) => ({ pool, readers }));
    const disagreements = this.poolGroups.flatMap((group) => sharedPoolProblems(group, config));
    if (disagreements.length) throw new ConfigValidationError(disagreements, this.configLabel);
    for (const [i, { pool, readers }] of this.poolGroups.entries()) {
      pool.assignName(readers[0].section, this.poolGroups.slice(0, i).map((g) => g.pool));
      pool.configure(config.get(readers[0].section) as ManagedServer['config']);
      this.watchPool(pool);
    }
    this.poolInstances = [...groups.keys()];
  }

  /**
   * Servers that share another server's listener (`attachTo`) are handed that server now, before
   * any port opens; every section that names no server able to host it is listed at once.
   */
  private attachServers(): void {
    const problems: ConfigProblem[] = [];
    for (const server of this.serverInstances) {
      const target = server.attachedTo();
      if (target === undefined) continue;
      const section = this.sectionOf(server);
      const host = this.serverInstances.find((s) => this.sectionOf(s) === target);
      let problem: ConfigProblem | undefined;
      if (host === undefined) problem = { path: 'attachTo', rule: 'attachTo', message: `names section '${target}', which no server of this app reads (servers read: ${this.serverInstances.map((s) => this.sectionOf(s)).join(', ')})`, value: target };
      else if (host === server) problem = { path: 'attachTo', rule: 'attachTo', message: `names this server's own section: name the section of the server whose port it shares`, value: target };
      else problem = server.attachHost(host, target);
      if (problem) problems.push({ ...problem, path: `${section}.${problem.path}` });
    }
    if (problems.length) throw new ConfigValidationError(problems, this.configLabel);
  }

  /** Startup order, except that a server sharing another's listener listens after the others: its host is then listening. */
  private listenOrder(): ManagedServer[] {
    const own = this.serverInstances.filter((s) => s.attachedTo() === undefined);
    return [...own, ...this.serverInstances.filter((s) => s.attachedTo() !== undefined)];
  }

  /** Logs what an operator needs from a pool's events; refusals at most once per second per reason. */
  private watchPool(pool: ConnectionPoolManager<unknown>): void {
    const log = this.logger.child({ protocol: pool.protocol, pool: pool.name });
    pool.attachLogger(log);
    pool.events.on(ConnectionPoolEvent.HealthChanged, ({ previous, current }) => {
      log[current.status === 'HEALTHY' ? 'info' : 'warn']({ from: previous.status, to: current.status, reason: current.reason }, 'pool health changed');
    });
    pool.events.on(ConnectionPoolEvent.ConnectionRejected, ({ reason, active }) => this.rejectLog.record(pool.protocol, reason, active));
    pool.events.on(ConnectionPoolEvent.DrainFinished, (result) => {
      log.info({ graceful: result.graceful, forced: result.forced, durationMs: Math.round(result.durationMs) }, 'pool drained');
    });
  }

  private async cleanupFailedBoot(initialized: boolean): Promise<void> {
    this.setReady(false);
    for (const pool of this.poolInstances) pool.forceAll();
    await Promise.all(this.serverInstances.map((s) => s.close().catch(() => undefined)));
    if (initialized) {
      await runHook([...this.hookTargets].reverse(), 'onShutdown', { timeoutMs: this.shutdownConfig.hookTimeout, logger: this.logger, collect: true });
    }
    for (const pool of this.poolInstances) pool.destroy();
    await this.stopTelemetry();
    await this.closeAdmin();
    this.signals.uninstall();
    process.off(ROLLING_RESTART_SIGNAL, this.onRollingRestartSignal);
    this.rejectLog.flush();
  }

  /**
   * Re-reads the config (the file or object given to `createApp`, or `source`) with the
   * environment overrides, validates all of it, and applies it to the live pools without
   * dropping connections. Invalid: every problem is logged, the running config stays, and the
   * result says `ok: false` (it does not throw). Valid: one `configReloaded` event; keys that
   * need a restart keep their old values and are listed. SIGHUP calls this.
   */
  async reload(source?: ConfigSource): Promise<ReloadResult> {
    const current = this.appState === 'running' ? this.liveConfig() : undefined;
    if (!current) throw new LifecycleStateError(`reload() needs a running application (state: ${this.appState})`);
    const started = performance.now();
    const from = source ?? this.configSource;
    const label = typeof from === 'string' ? from : 'object';
    if (this.primary) return this.reloadWorkers(this.primary, from, label, started);
    let plan: ReturnType<typeof planReload>;
    let next: ValidatedConfig;
    try {
      next = this.loadConfig(from);
      const servers = this.serverInstances.map((server) => ({ server, section: this.sectionOf(server) }));
      plan = planReload(current, next, { servers, pools: this.poolGroups }, (section) => SECTION_RELOAD[section] ?? 'restart');
    } catch (err) {
      return this.reloadFailed(err, label, started);
    }
    // Everything is validated; now apply. A server or pool may still refuse (a certificate that
    // does not load, say): then what already changed is put back.
    const committed: ReloadStep[] = [];
    for (const step of plan.steps) {
      try {
        step.update.commit();
        committed.push(step);
      } catch (err) {
        for (const done of committed.reverse()) {
          try {
            done.rollback();
          } catch (rollbackErr) {
            this.logger.error({ err: rollbackErr, section: done.section }, 'config rollback failed');
          }
        }
        return this.reloadFailed(err, label, started, step.section);
      }
    }
    // Swap in frozen snapshots: servers hold their own (restart-only keys kept); other sections
    // take their live keys. What was handed out before stays as it was.
    const validated = new Map(current);
    for (const server of this.serverInstances) validated.set(this.sectionOf(server), server.config);
    for (const [section, keys] of plan.live) {
      const copy = copyConfig(current.get(section) as object) as Record<string, unknown>;
      const fresh = next.get(section) as Record<string, unknown>;
      for (const key of keys) copy[key] = fresh[key];
      validated.set(section, deepFreeze(copy));
    }
    this.validated = validated;
    if (plan.live.get('admin')?.includes('token')) this.admin?.setToken((validated.get('admin') as AdminConfig).token);
    return this.reloaded({ ok: true, applied: plan.applied, restartRequired: plan.restartRequired, problems: [], durationMs: performance.now() - started }, label);
  }

  /**
   * A cluster primary validates the config once, here; an invalid one goes nowhere. A valid one
   * is handed, as read, to every worker, which applies it as a single process would (with the
   * same environment overrides).
   */
  private async reloadWorkers(primary: ClusterPrimary, from: ConfigSource | undefined, label: string, started: number): Promise<ReloadResult> {
    let raw: Record<string, unknown>;
    let next: ValidatedConfig;
    try {
      raw = from === undefined ? {} : typeof from === 'string' ? readConfigFile(from) : from;
      try {
        next = this.loadConfig(raw);
      } catch (err) {
        throw err instanceof ConfigValidationError ? new ConfigValidationError([...err.problems], typeof from === 'string' ? from : undefined) : err;
      }
    } catch (err) {
      return this.reloadFailed(err, label, started);
    }
    const replies = await primary.reload(raw);
    const applied = new Set<string>();
    const restartRequired = new Set<string>();
    const problems: ConfigProblem[] = [];
    for (const reply of replies) {
      const path = `worker ${reply.info.id}`;
      if (reply.error !== undefined) problems.push({ path, rule: 'apply', message: reply.error });
      else {
        for (const key of reply.value.applied) applied.add(key);
        for (const key of reply.value.restartRequired) restartRequired.add(key);
        for (const problem of reply.value.problems) problems.push({ path, rule: 'apply', message: problem });
      }
    }
    if (problems.length) return this.reloadFailed(new ConfigValidationError(problems, label), label, started);
    this.adoptOnPrimary(next);
    return this.reloaded({ ok: true, applied: [...applied], restartRequired: [...restartRequired], problems: [], durationMs: performance.now() - started }, label);
  }

  /**
   * What a reload changes in the primary itself: the sections the workers applied (for `/status`),
   * `shutdown` (live) and the admin token (live); the rest of `admin` and `cluster` need a restart.
   */
  private adoptOnPrimary(next: ValidatedConfig): void {
    const current = this.validated as ValidatedConfig;
    const validated = new Map(next);
    for (const section of ['admin', 'cluster']) {
      const old = current.get(section);
      if (old) validated.set(section, old);
      else validated.delete(section);
    }
    const oldAdmin = current.get('admin') as AdminConfig | undefined;
    const newAdmin = next.get('admin') as AdminConfig | undefined;
    if (oldAdmin && newAdmin && oldAdmin.token !== newAdmin.token) {
      const admin = copyConfig(oldAdmin) as AdminConfig;
      admin.token = newAdmin.token;
      validated.set('admin', deepFreeze(admin));
      this.admin?.setToken(newAdmin.token);
    }
    this.validated = validated;
  }

  private reloaded(result: ReloadResult, label: string): ReloadResult {
    const { applied, restartRequired } = result;
    this.stats.reloads.success++;
    this.stats.lastReload = { ok: true, at: Date.now() };
    this.stats.lastReloadSuccessAt = Date.now();
    const level = restartRequired.length ? 'warn' : 'info';
    this.logger[level]({ source: label, applied, restartRequired, durationMs: Math.round(result.durationMs * 10) / 10 }, 'config reloaded');
    this.events.emit('configReloaded', result);
    return result;
  }

  private reloadFailed(err: unknown, source: string, started: number, section?: string): ReloadResult {
    const problems: ConfigProblem[] =
      err instanceof ConfigValidationError
        ? [...err.problems]
        : [{ path: section ?? source, rule: err instanceof ConfigLoadError ? 'load' : 'apply', message: err instanceof Error ? err.message : String(err) }];
    const error = err instanceof UnipoolError ? err : new ConfigValidationError(problems, source);
    const result: ReloadResult = { ok: false, applied: [], restartRequired: [], problems, error, durationMs: performance.now() - started };
    this.stats.reloads.failure++;
    this.stats.lastReload = { ok: false, at: Date.now() };
    this.logger.error({ source, code: error.code, problems: problems.map(formatProblem) }, 'config reload rejected: running config unchanged');
    this.events.emit('configReloadFailed', result);
    return result;
  }

  /**
   * Shuts down in phases (readiness off, stop accepting, drain, force at `shutdown.timeout`,
   * onShutdown hooks). Calling it again returns the same promise; `{ force: true }` cuts the
   * drain short, even on a shutdown already under way.
   */
  stop(options: { force?: boolean } = {}): Promise<ShutdownResult> {
    if (this.stopping) {
      if (options.force) {
        this.orchestrator?.force();
        void this.primary?.stop({ force: true });
      }
      return this.stopping;
    }
    if (this.appState !== 'running') {
      return Promise.reject(new LifecycleStateError(`stop() needs a running application (state: ${this.appState})`));
    }
    this.appState = 'stopping';
    this.logger.info({ timeoutMs: this.shutdownConfig.timeout, drainDelayMs: this.shutdownConfig.drainDelay, workers: this.primary?.workers().length }, 'shutdown started');
    this.stopping = (this.primary ? this.primary.stop(options) : this.runShutdown(options)).then(async (result) => {
      // The admin server closes last, so /readyz says 503 and /metrics answers throughout the drain.
      await this.closeAdmin();
      this.appState = 'stopped';
      this.signals.uninstall();
      process.off(ROLLING_RESTART_SIGNAL, this.onRollingRestartSignal);
      this.rejectLog.flush();
      const summary = { ok: result.ok, graceful: result.graceful, forced: result.forced, errors: result.errors.map((e) => e.message), durationMs: Math.round(result.durationMs) };
      if (result.ok) this.logger.info(summary, 'stopped');
      else this.logger.warn(summary, 'stopped with forced connections or failed hooks');
      this.events.emit('stopped', result);
      return result;
    });
    return this.stopping;
  }

  /** The five phases over this process's servers and pools. */
  private runShutdown(options: { force?: boolean }): Promise<ShutdownResult> {
    const orchestrator = new ShutdownOrchestrator(this.shutdownConfig, this.logger);
    this.orchestrator = orchestrator;
    if (options.force) orchestrator.force();
    return orchestrator
      .run({
        servers: this.serverInstances,
        pools: this.poolInstances,
        hookTargets: this.hookTargets,
        setReady: (ready) => this.setReady(ready),
        flushTelemetry: () => this.stopTelemetry(),
        onPhase: (phase) => {
          this.stats.shutdownPhases.set(phase.phase, phase.durationMs);
          this.events.emit('shutdownPhase', phase);
        },
      });
  }
}

/** Creates an application; see `Application`. Decorator misuse throws here, before anything runs. */
export function createApp(options: AppOptions): Application {
  return new Application(options);
}
