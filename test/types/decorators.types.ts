/**
 * Type tests (issue 12, "types that guide"): compiled by `tsc` in `npm test`, never run. Each
 * `@ts-expect-error` marks a misuse that must stay a compile error (tsc fails if the error
 * disappears); everything else must compile as written.
 */
import 'reflect-metadata';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type * as grpc from '@grpc/grpc-js';
import {
  GrpcConnectionPool,
  GrpcPoolConfig,
  GrpcServer,
  HttpConnectionPool,
  HttpPoolConfig,
  HttpServer,
  HttpsConnectionPool,
  HttpsPoolConfig,
  HttpsServer,
  PoolConfig,
  UsePool,
  WebSocketConnectionPool,
  WebSocketPoolConfig,
  WebSocketServer,
  type Application,
} from '../../src';

// A user section, declared once for the whole program: `@PoolConfig(..., 'internal')` compiles.
declare module '../../src' {
  interface UnipoolSections {
    internal: HttpPoolConfig;
    audit: AuditConfig;
  }
}

/** `true` only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
/** `exactly<X>()(value, true)` compiles only when `value` is of type X exactly. */
function exactly<Expected>(): <Actual>(value: Actual, proof: Equal<Actual, Expected>) => void {
  return () => undefined;
}

class RecordingPool extends HttpConnectionPool {
  readonly added: string[] = [];
}

class InternalConfig extends HttpPoolConfig {}

/** A config class with a key of its own (validation decorators do not matter to the types). */
class AuditConfig extends HttpPoolConfig {
  auditTag = 'audit';
}

// ---- positive cases: these must compile ----

// issue 12 types: a server that only forwards its config needs no constructor (section `http` by default).
@UsePool(HttpConnectionPool)
export class PlainApi extends HttpServer {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('ok');
  }
}

// issue 12 types: @PoolConfig stays for constructors that want the config.
@UsePool(HttpConnectionPool)
export class ConstructedApi extends HttpServer {
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('ok');
  }
}

// issue 12 types: class-level binding to a user section.
@UsePool(HttpConnectionPool, 'internal')
export class InternalApi extends HttpServer {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('internal');
  }
}

// issue 12 types: a user section with @PoolConfig and a config subclass.
@UsePool(HttpConnectionPool)
export class InternalConstructed extends HttpServer {
  constructor(@PoolConfig(InternalConfig, 'internal') config: InternalConfig) {
    super(config);
  }
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('internal');
  }
}

// issue 12 types: a subclass pool with one generic argument.
@UsePool(RecordingPool)
export class RecordedApi extends HttpServer<RecordingPool> {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('recorded');
  }
}

// issue 12 types: a config subclass through the pool's config type and a section declared with it.
@UsePool(HttpConnectionPool, 'audit')
export class AuditApi extends HttpServer<HttpConnectionPool<AuditConfig>> {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end(this.config.auditTag);
  }
}

@UsePool(HttpConnectionPool)
export class AuditConstructed extends HttpServer<HttpConnectionPool<AuditConfig>> {
  constructor(@PoolConfig(AuditConfig, 'audit') config: AuditConfig) {
    super(config);
  }
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end(this.config.auditTag);
  }
}

@UsePool(HttpsConnectionPool)
export class SecureApi extends HttpsServer {
  handle(_req: IncomingMessage, res: ServerResponse): void {
    res.end('tls');
  }
}

@UsePool(GrpcConnectionPool)
export class Echo extends GrpcServer {
  protected registerServices(_server: grpc.Server): void {}
}

@UsePool(WebSocketConnectionPool)
export class Chat extends WebSocketServer {
  onMessage(): void {}
}

@UsePool(WebSocketConnectionPool)
export class ChatConstructed extends WebSocketServer {
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: WebSocketPoolConfig) {
    super(config);
  }
  onMessage(): void {}
}

// issue 12 types: app.server(X).pool is X's pool class, with no cast.
export function poolTypes(app: Application): void {
  exactly<HttpConnectionPool>()(app.server(PlainApi).pool, true);
  exactly<RecordingPool>()(app.server(RecordedApi).pool, true);
  exactly<HttpsConnectionPool>()(app.server(SecureApi).pool, true);
  exactly<HttpsPoolConfig>()(app.server(SecureApi).config, true);
  exactly<GrpcConnectionPool>()(app.server(Echo).pool, true);
  exactly<WebSocketConnectionPool>()(app.server(Chat).pool, true);
  // @ts-expect-error the check itself: a subclass pool is not its base, exactly
  exactly<HttpConnectionPool>()(app.server(RecordedApi).pool, true);
  const added: readonly string[] = app.server(RecordedApi).pool.added;
  void added;
}

// ---- misuse: each line below must stay a compile error ----

// issue 12 types: @UsePool with a pool that does not fit the server's protocol.
// @ts-expect-error GrpcConnectionPool is not the pool of an HttpServer
@UsePool(GrpcConnectionPool)
export class GrpcPoolOnHttp extends HttpServer {
  handle(): void {}
}

// @ts-expect-error WebSocketConnectionPool is not the pool of a GrpcServer
@UsePool(WebSocketConnectionPool)
export class WsPoolOnGrpc extends GrpcServer {
  protected registerServices(): void {}
}

// issue 12 types: a server declared with a subclass pool must be given that pool, not its base.
// @ts-expect-error HttpConnectionPool lacks what RecordingPool adds
@UsePool(HttpConnectionPool)
export class BasePoolForRecording extends HttpServer<RecordingPool> {
  handle(): void {}
}

// issue 12 types: a subclass pool on a server that does not declare it: `pool` would be typed as the base.
// @ts-expect-error declare the server as HttpServer<RecordingPool>
@UsePool(RecordingPool)
export class UndeclaredSubclassPool extends HttpServer {
  handle(): void {}
}

// @ts-expect-error a config class is not a pool class
@UsePool(HttpPoolConfig)
export class ConfigAsPool extends HttpServer {
  handle(): void {}
}

// issue 12 types: @PoolConfig with a config class that does not fit the pool.
@UsePool(HttpConnectionPool)
export class WsConfigOnHttp extends HttpServer {
  // @ts-expect-error WebSocketPoolConfig is not an HttpServer's config
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: HttpPoolConfig) {
    super(config);
  }
  handle(): void {}
}

@UsePool(GrpcConnectionPool)
export class HttpConfigOnGrpc extends GrpcServer {
  // @ts-expect-error HttpPoolConfig is not a GrpcServer's config
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: GrpcPoolConfig) {
    super(config);
  }
  protected registerServices(): void {}
}

// issue 12 types: a config class that does not fit the section it names.
@UsePool(HttpConnectionPool)
export class WrongClassForSection extends HttpServer {
  // @ts-expect-error section 'http' is an HttpPoolConfig, not a WebSocketPoolConfig
  constructor(@PoolConfig(WebSocketPoolConfig, 'http') config: HttpPoolConfig) {
    super(config);
  }
  handle(): void {}
}

// issue 12 types: a section name that is not a string literal of a known section.
@UsePool(HttpConnectionPool)
export class UnknownSection extends HttpServer {
  // @ts-expect-error 'nosuch' is not declared in UnipoolSections
  constructor(@PoolConfig(HttpPoolConfig, 'nosuch') config: HttpPoolConfig) {
    super(config);
  }
  handle(): void {}
}

const someSection: string = 'http';
@UsePool(HttpConnectionPool)
export class NonLiteralSection extends HttpServer {
  // @ts-expect-error a plain string is not a known section
  constructor(@PoolConfig(HttpPoolConfig, someSection) config: HttpPoolConfig) {
    super(config);
  }
  handle(): void {}
}

// @ts-expect-error class-level section: 'nosuch' is not declared
@UsePool(HttpConnectionPool, 'nosuch')
export class UnknownClassSection extends HttpServer {
  handle(): void {}
}

// @ts-expect-error class-level section: section 'http' lacks the auditTag this server's config has
@UsePool(HttpConnectionPool, 'http')
export class HttpSectionOnAuditServer extends HttpServer<HttpConnectionPool<AuditConfig>> {
  handle(): void {}
}

@UsePool(HttpConnectionPool)
export class HttpConfigOnAuditServer extends HttpServer<HttpConnectionPool<AuditConfig>> {
  // @ts-expect-error @PoolConfig: HttpPoolConfig lacks the auditTag this server's config has
  constructor(@PoolConfig(HttpPoolConfig, 'http') config: AuditConfig) {
    super(config);
  }
  handle(): void {}
}

// @ts-expect-error class-level section: section 'ws' is not an HttpServer's config
@UsePool(HttpConnectionPool, 'ws')
export class WsSectionOnHttp extends HttpServer {
  handle(): void {}
}

export class NotAServer {
  // @ts-expect-error @PoolConfig goes on a constructor parameter, not a method's
  method(@PoolConfig(HttpPoolConfig, 'http') _config: HttpPoolConfig): void {}
}

// issue 12 types: the config type of a server declared with a pool is the pool's config class.
export function configTypes(app: Application): void {
  exactly<HttpPoolConfig>()(app.server(PlainApi).config, true);
  exactly<WebSocketPoolConfig>()(app.server(Chat).config, true);
  exactly<GrpcPoolConfig>()(app.server(Echo).config, true);
}
