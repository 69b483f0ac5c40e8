import 'reflect-metadata';

export * from './errors';

export { HealthThresholds, PoolSettings, ServerPoolSettings, ShutdownConfig, type CrossFieldRules } from './config/pool-config';
export { ConfigLoader, ENV_PREFIX, toEnvName, readConfigFile, type ConfigSource, type ValidatedConfig } from './config/config-loader';
export { validateSection, type ConfigClass } from './config/validate-config';

export { ConnectionPoolManager, CONNECTION_DURATION_BUCKETS_MS } from './core/connection-pool-manager';
export { PooledConnection } from './core/pooled-connection';
export { ConnectionPoolEvent, PoolEventEmitter, type PoolEventMap } from './core/pool-events';
export { PoolHealth, PoolHealthStatus, HEALTH_STATUSES, type HealthReport } from './core/pool-health';
export { LatencyHistogram, LATENCY_BUCKETS_MS } from './core/latency-histogram';
export { ManagedServer, LIFECYCLE_HOOKS, type LifecycleHooks, type LifecycleHookName } from './core/managed-server';
export type { Logger } from './core/logger';
export type { ConnectionInfo, ConnectionState, CloseReason, RejectReason, DrainResult, ConfigUpdateResult, PoolMetricsSnapshot } from './core/pool-types';
export { TypedEmitter } from './core/typed-emitter';

export { UsePool, PoolConfig } from './di/decorators';
export { configToken, LOGGER } from './di/tokens';

export { Application, createApp, type AppOptions, type AppState, type AppEventMap, type ServerClass, type ProviderClass } from './lifecycle/application';
export { SHUTDOWN_PHASES, type ShutdownPhase, type ShutdownResult, type PhaseResult } from './lifecycle/shutdown-orchestrator';

export { HttpPoolConfig } from './protocols/http/http-config';
export { HttpConnectionPool } from './protocols/http/http-connection-pool';
export { HttpServer } from './protocols/http/http-server';

export { HttpsPoolConfig, HttpsTlsSettings, TLS_MIN_VERSIONS, type TlsMinVersion } from './protocols/https/https-config';
export { HttpsConnectionPool, type HttpsPoolMetricsSnapshot, type TlsMetricsSnapshot, type TlsConnectionInfo } from './protocols/https/https-connection-pool';
export { HttpsServer, DEFAULT_HANDSHAKE_TIMEOUT_MS } from './protocols/https/https-server';
export type { CertificateInfo } from './protocols/https/tls-material';
