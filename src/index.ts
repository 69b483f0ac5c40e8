import 'reflect-metadata';

export * from './errors';

export { HealthThresholds, PoolSettings, ServerPoolSettings, ShutdownConfig, type CrossFieldRules } from './config/pool-config';
export { ConfigLoader, ENV_PREFIX, toEnvName, readConfigFile, type ConfigSource, type ValidatedConfig } from './config/config-loader';
export { validateSection, type ConfigClass } from './config/validate-config';
export { redactSecrets, isSecretKey, REDACTED } from './config/redact';

export { ConnectionPoolManager, CONNECTION_DURATION_BUCKETS_MS } from './core/connection-pool-manager';
export { PooledConnection } from './core/pooled-connection';
export { ConnectionPoolEvent, PoolEventEmitter, type PoolEventMap } from './core/pool-events';
export { PoolHealth, PoolHealthStatus, HEALTH_STATUSES, SHEDDING_REASON_PREFIX, type HealthReport } from './core/pool-health';
export { LatencyHistogram, LATENCY_BUCKETS_MS } from './core/latency-histogram';
export { ManagedServer, LIFECYCLE_HOOKS, type LifecycleHooks, type LifecycleHookName } from './core/managed-server';
export type { Logger } from './core/logger';
export type { ConnectionInfo, ConnectionState, CloseReason, RejectReason, DrainResult, ConfigUpdateResult, PreparedConfigUpdate, PoolMetricsSnapshot, KnownLabelValues } from './core/pool-types';
export { certificateExpiryFamily, countSamples, histogramSampleSeconds, msBoundsToSeconds, type ProtocolMetricFamily, type ProtocolMetricSample, type ProtocolHistogramSample, type MetricLabels } from './core/protocol-metrics';
export { TypedEmitter } from './core/typed-emitter';

export { UsePool, PoolConfig, type PoolClass, type ServerDecorator, type ConfigParameterDecorator } from './di/decorators';
export type { UnipoolSections, SectionName } from './di/sections';
export { configToken, LOGGER } from './di/tokens';

export { Application, createApp, type AppOptions, type AppState, type AppEventMap, type ServerClass, type ProviderClass } from './lifecycle/application';
export type { ReloadResult } from './lifecycle/config-reload';
export { SHUTDOWN_PHASES, type ShutdownPhase, type ShutdownResult, type PhaseResult } from './lifecycle/shutdown-orchestrator';

export { AdminConfig } from './observability/admin-config';
export { AdminServer } from './observability/admin-server';
export { PrometheusCollector, METRIC_PREFIX, type ApplicationStats, type MetricsSource } from './observability/prometheus-collector';
export type { StatusReport, PoolStatus } from './observability/status-report';
export type { DashboardFrame, PoolFrame, PoolRates, ShutdownFrame, WorkerFrame } from './observability/dashboard/dashboard-frames';
export { MetricsConfig, OtlpMetricsConfig, OTLP_PROTOCOLS, type OtlpProtocol } from './observability/otel/otlp-config';
export { resolveOtlpSettings, type OtlpSettings, type OtlpResolution } from './observability/otel/otlp-settings';
export type { OtelMeterProvider } from './observability/otel/otel-meter-provider';
export type { MetricsExposition, AdminTarget } from './observability/admin-server';

export { OverloadConfig, Gradient2Settings, VegasSettings, AimdSettings, AdmissionQueueSettings, PressureSettings, HysteresisSettings, OverloadActions, ShedSettings, LIMITER_KINDS, QUEUE_ORDERS, SHED_HTTP_STATUSES, SHED_GRPC_STATUSES, type LimiterKind, type QueueOrder, type ShedGrpcStatus } from './overload/overload-config';
export { PressureLevel, PRESSURE_LEVEL_NAMES } from './overload/pressure-level';
export { SHED_REASONS, type ShedReason } from './overload/shed-reason';
export { criticalPathMatcher, type WorkPriority } from './overload/work-priority';
export type { Waiter } from './overload/admission-queue';
export type { AdmissionOutcome } from './overload/admission-controller';
export type { OverloadSnapshot, OverloadState } from './overload/overload-state';

export { ClusterConfig } from './cluster/cluster-config';
export type { ClusterRole } from './cluster/cluster-role';
export type { WorkerInfo, WorkerState } from './cluster/cluster-primary';
export type { ClusterStatusReport, WorkerStatus } from './cluster/cluster-status';

export { HttpPoolConfig, HttpHealthThresholds } from './protocols/http/http-config';
export { HttpConnectionPool } from './protocols/http/http-connection-pool';
export { DRAIN_KEEP_ALIVE_GRACE_MS } from './protocols/http/http-connection-pool';
export { HttpServer, type UpgradeListener } from './protocols/http/http-server';

export { GrpcPoolConfig, GrpcTlsConfig } from './protocols/grpc/grpc-config';
export { GrpcConnectionPool, type GrpcPoolMetricsSnapshot } from './protocols/grpc/grpc-connection-pool';
export { GrpcServer } from './protocols/grpc/grpc-server';
export type { GrpcCallHead } from './protocols/grpc/grpc-call-priority';
export { GrpcHealthReporter, HEALTH_SERVICE_NAME } from './protocols/grpc/grpc-health-reporter';
export { SERVER_FAULT_CODES, type GrpcMethodStatsSnapshot, type GrpcMethodInfo, type GrpcMethodType, type GrpcServiceInfo } from './protocols/grpc/grpc-method-stats';
export { WebSocketPoolConfig } from './protocols/ws/ws-config';
export { WebSocketConnectionPool, type WebSocketData, type BroadcastFilter, type BroadcastResult, type WebSocketPoolMetrics } from './protocols/ws/ws-connection-pool';
export { WebSocketServer, type UpgradeRefusal, type UpgradeVerdict } from './protocols/ws/ws-server';
export { WS_CLOSE } from './protocols/ws/ws-constants';
export { HttpsPoolConfig, HttpsTlsSettings } from './protocols/https/https-config';
export { DEFAULT_TLS_CIPHERS, TLS_MIN_VERSIONS, TlsSettings, type TlsMinVersion } from './config/tls-settings';
export { HttpsConnectionPool, type HttpsPoolMetricsSnapshot, type TlsMetricsSnapshot, type TlsConnectionInfo } from './protocols/https/https-connection-pool';
export { HttpsServer, DEFAULT_HANDSHAKE_TIMEOUT_MS } from './protocols/https/https-server';
export type { CertificateInfo } from './config/tls-material';
export { Http2PoolConfig } from './protocols/http2/http2-config';
export { Http2ConnectionPool, STREAMS_PER_SESSION_BUCKETS, type Http2PoolMetricsSnapshot, type Http2MetricsSnapshot } from './protocols/http2/http2-connection-pool';
export { Http2Server } from './protocols/http2/http2-server';
export { MAX_STREAM_ID, H2_ERROR_NAMES } from './protocols/http2/http2-constants';
